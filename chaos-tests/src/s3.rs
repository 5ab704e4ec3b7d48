//! A real S3-compatible server for the tests: moto's server (PyPI `moto[server]`, installed by
//! `.ci/run`) started on 127.0.0.1 at a free port, with helpers to make buckets, upload a
//! SEP-54 store and download an archive.
//!
//! When `moto_server` is not installed the S3 tests fail under CI (`CI` set) and are skipped,
//! saying so, elsewhere (a user's clone without Python).

use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use futures::TryStreamExt;
use object_store::aws::AmazonS3Builder;
use object_store::path::Path as ObjectPath;
use object_store::{ObjectStore, ObjectStoreExt};

/// Credentials moto accepts (any); set for the child processes and the helpers here.
pub const ACCESS_KEY: &str = "testing";
pub const SECRET_KEY: &str = "testing";
pub const REGION: &str = "us-east-1";

/// A running moto server; stopped on drop.
pub struct MotoServer {
    child: Child,
    pub endpoint: String,
    pub port: u16,
}

impl MotoServer {
    /// Starts `moto_server` on a free loopback port and waits until it answers. `Ok(None)`
    /// when it is not installed and `CI` is unset (the caller skips its test).
    pub fn start(test: &str) -> Result<Option<Self>> {
        let installed =
            Command::new("moto_server").arg("--help").stdout(Stdio::null()).stderr(Stdio::null()).status();
        if installed.is_err() {
            if std::env::var_os("CI").is_some() {
                bail!("moto_server is not installed (pip install 'moto[server]'); .ci/run installs it");
            }
            eprintln!("{test}: skipped (moto_server is not installed: pip install 'moto[server]')");
            return Ok(None);
        }
        let port = TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
        let child = Command::new("moto_server")
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .context("start moto_server")?;
        let server = MotoServer { child, endpoint: format!("http://127.0.0.1:{port}"), port };
        let deadline = Instant::now() + Duration::from_secs(30);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            if Instant::now() > deadline {
                bail!("moto_server did not listen on {port} within 30 s");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Ok(Some(server))
    }

    /// Creates `bucket` (S3 CreateBucket; moto takes it unsigned).
    pub fn create_bucket(&self, bucket: &str) -> Result<()> {
        let runtime = runtime()?;
        let url = format!("{}/{bucket}", self.endpoint);
        runtime.block_on(async {
            let response = reqwest::Client::builder().no_proxy().build()?.put(&url).send().await?;
            if !response.status().is_success() {
                bail!("create bucket {bucket}: {}", response.status());
            }
            Ok(())
        })
    }

    /// The environment a ledgerflow process needs to reach this server at `endpoint` (the
    /// server's own, or a fault proxy's in front of it).
    pub fn env(endpoint: &str) -> Vec<(String, String)> {
        [
            ("AWS_ENDPOINT", endpoint),
            ("AWS_ALLOW_HTTP", "true"),
            ("AWS_REGION", REGION),
            ("AWS_ACCESS_KEY_ID", ACCESS_KEY),
            ("AWS_SECRET_ACCESS_KEY", SECRET_KEY),
            ("AWS_EC2_METADATA_DISABLED", "true"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
    }

    /// A client of `bucket` on this server (direct, no faults).
    pub fn store(&self, bucket: &str) -> Result<Arc<dyn ObjectStore>> {
        let store = AmazonS3Builder::new()
            .with_endpoint(&self.endpoint)
            .with_allow_http(true)
            .with_region(REGION)
            .with_bucket_name(bucket)
            .with_access_key_id(ACCESS_KEY)
            .with_secret_access_key(SECRET_KEY)
            .build()?;
        Ok(Arc::new(store))
    }

    /// Uploads every file below `dir` (a SEP-54 store, `.config.json` included) to
    /// `bucket/prefix/`, keeping relative paths; returns how many files.
    pub fn upload_dir(&self, bucket: &str, prefix: &str, dir: &Path) -> Result<usize> {
        let store = self.store(bucket)?;
        let files = files_below(dir)?;
        runtime()?.block_on(async {
            for (relative, path) in &files {
                let bytes = std::fs::read(path).with_context(|| format!("read {}", path.display()))?;
                store.put(&ObjectPath::from(format!("{prefix}/{relative}")), bytes.into()).await?;
            }
            Ok::<_, anyhow::Error>(())
        })?;
        Ok(files.len())
    }

    /// Downloads every object under `bucket/prefix/` into `dir` (the same relative paths), so a
    /// local reader (DuckDB, the archive summary) sees the bucket's tree.
    pub fn download_dir(&self, bucket: &str, prefix: &str, dir: &Path) -> Result<usize> {
        let store = self.store(bucket)?;
        runtime()?.block_on(async {
            let prefix_path = ObjectPath::from(prefix);
            let objects: Vec<_> = store.list(Some(&prefix_path)).try_collect().await?;
            for meta in &objects {
                let relative = meta.location.as_ref().strip_prefix(prefix).unwrap_or(meta.location.as_ref());
                let target = dir.join(relative.trim_start_matches('/'));
                if let Some(parent) = target.parent() {
                    std::fs::create_dir_all(parent)?;
                }
                let bytes = store.get(&meta.location).await?.bytes().await?;
                std::fs::write(&target, &bytes)?;
            }
            Ok(objects.len())
        })
    }

    /// Keys under `bucket/prefix/`, relative to it, sorted.
    pub fn keys(&self, bucket: &str, prefix: &str) -> Result<Vec<String>> {
        let store = self.store(bucket)?;
        runtime()?.block_on(async {
            let objects: Vec<_> = store.list(Some(&ObjectPath::from(prefix))).try_collect().await?;
            let mut keys: Vec<String> = objects
                .iter()
                .map(|m| {
                    m.location
                        .as_ref()
                        .strip_prefix(prefix)
                        .unwrap_or(m.location.as_ref())
                        .trim_start_matches('/')
                        .to_owned()
                })
                .collect();
            keys.sort();
            Ok(keys)
        })
    }
}

impl Drop for MotoServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn runtime() -> Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_current_thread().enable_all().build()?)
}

/// Every file below `dir` as (`/`-separated relative path, full path), sorted.
pub fn files_below(dir: &Path) -> Result<Vec<(String, std::path::PathBuf)>> {
    let mut out = Vec::new();
    let mut pending = vec![dir.to_owned()];
    while let Some(current) = pending.pop() {
        for entry in std::fs::read_dir(&current).with_context(|| format!("read {}", current.display()))? {
            let path = entry?.path();
            if path.is_dir() {
                pending.push(path);
            } else {
                let relative = path.strip_prefix(dir)?.to_string_lossy().replace('\\', "/");
                out.push((relative, path));
            }
        }
    }
    out.sort();
    Ok(out)
}
