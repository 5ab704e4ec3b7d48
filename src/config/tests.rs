use std::collections::BTreeSet;
use std::path::Path;

use figment::providers::{Format, Serialized, Toml};
use figment::value::Value;

use super::providers::PlainKeys;
use super::*;
use crate::archive::Compression;
use crate::resilience::RetryPolicy;

/// `config/ledgerflow.toml`, the annotated file shipped with ledgerflow.
fn shipped_file() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("config/ledgerflow.toml")
}

/// What [`Config::figment`] builds, with TOML text instead of a file.
fn layers(toml: &str, env: &[(&str, &str)]) -> Figment {
    Figment::from(PlainKeys(Serialized::defaults(Config::default())))
        .merge(PlainKeys(Toml::string(toml)))
        .merge(EnvOverrides::from_vars(env.iter().copied()))
}

fn load(toml: &str, env: &[(&str, &str)]) -> Result<Config, ConfigError> {
    Config::from_figment(&layers(toml, env))
}

/// Every dotted key with a value in `value` (tables are walked, not listed).
fn leaf_keys(value: &Value, prefix: &str, keys: &mut BTreeSet<String>) {
    match value {
        Value::Dict(_, dict) => {
            for (key, inner) in dict {
                let path = if prefix.is_empty() { key.clone() } else { format!("{prefix}.{key}") };
                leaf_keys(inner, &path, keys);
            }
        }
        _ => {
            keys.insert(prefix.to_owned());
        }
    }
}

fn keys_of(figment: Figment) -> BTreeSet<String> {
    let mut keys = BTreeSet::new();
    leaf_keys(&figment.extract::<Value>().unwrap(), "", &mut keys);
    keys
}

/// The shipped file with its commented-out `# key = value` lines made live.
fn shipped_file_uncommented() -> String {
    std::fs::read_to_string(shipped_file())
        .unwrap()
        .lines()
        .map(|line| match line.strip_prefix("# ") {
            Some(rest)
                if rest.split_once(" = ").is_some_and(|(key, _)| {
                    !key.is_empty() && key.bytes().all(|b| b.is_ascii_lowercase() || b == b'_')
                }) =>
            {
                rest
            }
            _ => line,
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn shipped_file_parses_to_the_defaults() {
    // The file alone, without the defaults layer underneath: every key it sets must equal the
    // built-in default, and every key without a default-free value must be in it.
    let file_only = Figment::from(PlainKeys(Toml::file_exact(shipped_file())));
    let config: Config = file_only.extract_lossy().unwrap();
    assert_eq!(config, Config::default());

    let loaded =
        Config::from_figment(&Config::figment(Some(&shipped_file()), EnvOverrides::default()).unwrap());
    assert_eq!(loaded.unwrap(), Config::default());
    Config::default().validate().unwrap();
}

#[test]
fn shipped_file_lists_every_key() {
    let default_keys = keys_of(Figment::from(Serialized::defaults(Config::default())));
    let file_keys = keys_of(Figment::from(Toml::file_exact(shipped_file())));
    assert_eq!(file_keys, default_keys, "keys set in config/ledgerflow.toml vs keys with a default");

    // Keys without a default are shown commented out; made live, they are exactly the optional
    // keys, and their example values load and validate.
    let uncommented = shipped_file_uncommented();
    let all_keys = keys_of(Figment::from(Toml::string(&uncommented)));
    let optional: Vec<String> = all_keys.difference(&default_keys).cloned().collect();
    let mut expected = vec![
        "archive.storage_options.aws_region".to_owned(),
        "archive.url".to_owned(),
        "source.rpc_url".to_owned(),
        "source.storage_options.aws_region".to_owned(),
        "source.storage_options.aws_skip_signature".to_owned(),
        "source.url".to_owned(),
        "checkpoint.path".to_owned(),
        "resilience.analytics.retry.max_elapsed_time_ms".to_owned(),
        "resilience.archive.retry.max_elapsed_time_ms".to_owned(),
        "resilience.convert.retry.max_elapsed_time_ms".to_owned(),
        "resilience.source.retry.max_elapsed_time_ms".to_owned(),
        "source.network".to_owned(),
        "source.path".to_owned(),
        "stream.from".to_owned(),
        "stream.to".to_owned(),
        "service.http_addr".to_owned(),
        "telemetry.otlp_endpoint".to_owned(),
    ];
    expected.sort();
    assert_eq!(optional, expected);
    let config = load(&uncommented, &[]).unwrap();
    assert_eq!(config.stream.to, Some(1_009_999));
    assert_eq!(config.checkpoint_path(), Config::default().checkpoint_path(), "the example is the default");
}

#[test]
fn a_missing_section_or_key_takes_its_default() {
    assert_eq!(load("", &[]).unwrap(), Config::default());
    let config = load("[archive]\ncompression = \"snappy\"\n", &[]).unwrap();
    assert_eq!(config.archive.compression, Compression::Snappy);
    assert_eq!(
        config.archive.root,
        Path::new(Config::DEFAULT_ARCHIVE_ROOT),
        "not ArchiveConfig's own default"
    );
}

#[test]
fn environment_beats_file_beats_defaults() {
    let file =
        "[pipeline]\nbatch_ledgers = 32\nmax_in_flight_batches = 4\n[archive]\nroot = \"/from-file\"\n";
    let config = load(
        file,
        &[
            ("LEDGERFLOW_PIPELINE__BATCH_LEDGERS", "128"),
            ("LEDGERFLOW_ARCHIVE__ROOT", "/data"),
            ("LEDGERFLOW_STREAM__FOLLOW", "true"),
            ("LEDGERFLOW_RESILIENCE__ARCHIVE__RETRY__MULTIPLIER", "1.5"),
            ("LEDGERFLOW_RESILIENCE__ARCHIVE__RETRY__MAX_ELAPSED_TIME_MS", "60000"),
        ],
    )
    .unwrap();
    assert_eq!(config.pipeline.batch_ledgers, 128, "environment over file");
    assert_eq!(config.pipeline.max_in_flight_batches, 4, "file over defaults");
    assert_eq!(config.archive.root, Path::new("/data"));
    assert!(config.stream.follow);
    assert_eq!(config.resilience.archive.retry.multiplier, 1.5);
    assert_eq!(config.resilience.archive.retry.max_elapsed_time_ms, Some(60_000));
    assert_eq!(config.resilience.source.retry, RetryPolicy::default(), "other supervisors untouched");
    assert_eq!(config.checkpoint_path(), Path::new("/data/_checkpoint"));
}

#[test]
fn environment_values_keep_their_string_type_and_other_variables_are_ignored() {
    let config = load(
        "",
        &[
            ("LEDGERFLOW_STREAM__ID", "2024"),
            ("LEDGERFLOW_SOURCE__NETWORK", "Test SDF Network ; September 2015"),
            ("LEDGERFLOW_ANALYTICS__ASSETS", r#"["native"]"#),
            ("LEDGERFLOW_FIXTURES", "/somewhere"),
            ("LEDGERFLOW_SERVICE__LOG_LEVEL", "warn,ledgerflow=debug"),
        ],
    )
    .unwrap();
    assert_eq!(config.stream.id.as_str(), "2024");
    assert_eq!(config.source.network().unwrap(), Network::from_name_or_passphrase("testnet"));
    assert_eq!(config.analytics.assets, vec![crate::analytics::AssetSelector::Native]);
    assert_eq!(config.service.log_level, "warn,ledgerflow=debug");
}

#[test]
fn unknown_keys_are_rejected_naming_the_key_and_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ledgerflow.toml");
    std::fs::write(&path, "[pipeline]\nbatch_ledger = 128\n").unwrap();
    let error =
        Config::from_figment(&Config::figment(Some(&path), EnvOverrides::default()).unwrap()).unwrap_err();
    let message = error.to_string();
    assert!(matches!(error, ConfigError::Load { .. }), "{error:?}");
    assert!(message.contains("`batch_ledger`"), "{message}");
    assert!(message.contains("\"pipeline.batch_ledger\""), "{message}");
    // figment may print the file relative to the working directory: check its last two parts.
    let dir_name = dir.path().file_name().unwrap().to_string_lossy().into_owned();
    assert!(message.contains(&format!("{dir_name}/ledgerflow.toml")), "{message}");

    // A whole unknown section, and a nested one.
    for (toml, key) in [("[pipelines]\nx = 1\n", "pipelines"), ("[resilience.fetch.retry]\n", "fetch")] {
        let message = load(toml, &[]).unwrap_err().to_string();
        assert!(message.contains(&format!("`{key}`")), "{message}");
    }

    // From the environment, the variable is named.
    let message = load("", &[("LEDGERFLOW_PIPELINE__BATCH_LEDGER", "128")]).unwrap_err().to_string();
    assert!(message.contains("LEDGERFLOW_PIPELINE__BATCH_LEDGER"), "{message}");
    assert!(message.contains("environment"), "{message}");
}

#[test]
fn badly_typed_values_are_rejected_naming_the_key_and_what_is_expected() {
    for (toml, env, needles) in [
        ("[pipeline]\nbatch_ledgers = \"many\"\n", vec![], vec!["pipeline.batch_ledgers", "many"]),
        ("[pipeline]\non_corrupt = \"skip\"\n", vec![], vec!["pipeline.on_corrupt", "skip", "dead_letter"]),
        ("[stream]\nid = \"a/b\"\n", vec![], vec!["stream.id", "a/b", "not a valid stream id"]),
        (
            "[archive]\ncompression = \"brotli\"\n",
            vec![],
            vec!["archive.compression", "brotli", "allowed: zstd"],
        ),
        ("[source]\nkind = \"s3\"\n", vec![], vec!["source.kind", "s3", "datastore"]),
        ("", vec![("LEDGERFLOW_PIPELINE__BATCH_LEDGERS", "-1")], vec!["LEDGERFLOW_PIPELINE__BATCH_LEDGERS"]),
    ] {
        let error = load(toml, &env).unwrap_err();
        assert!(matches!(error, ConfigError::Load { .. }), "{error:?}");
        let message = error.to_string();
        for needle in needles {
            assert!(message.contains(needle), "`{needle}` not in: {message}");
        }
    }
}

#[test]
fn invalid_values_name_the_key_the_value_and_what_is_allowed() {
    let max_from = (u32::MAX - 4).to_string();
    let cases: &[(&str, &str, &str, &str)] = &[
        // (toml, key, value, part of allowed)
        ("[stream]\nfrom = 0", "stream.from", "0", "1 or more"),
        ("[stream]\nfrom = 2000\nto = 1999", "stream.to", "1999", "at least stream.from (2000)"),
        ("[stream]\nto = 5", "stream.to", "5", "synthetic source's first ledger 1000000"),
        ("[stream]\nfrom = 5", "stream.from", "5", "synthetic source's first ledger 1000000"),
        ("[source]\nledgers = 0", "source.ledgers", "0", "1 or more"),
        (
            &format!("[stream]\nfrom = {max_from}\n[source]\nledgers = 10"),
            "source.ledgers",
            "10",
            "at most 5",
        ),
        (
            "[source]\ntransactions_per_ledger = 200000",
            "source.transactions_per_ledger",
            "200000",
            "0 to 100000",
        ),
        ("[source]\ncadence_ms = 0", "source.cadence_ms", "0", "milliseconds"),
        ("[source]\nnetwork = \" \"", "source.network", "\" \"", "passphrase"),
        ("[decode]\nmax_xdr_depth = 0", "decode.max_xdr_depth", "0", "1 or more"),
        ("[convert]\nworkers = 5000", "convert.workers", "5000", "0 (one per core) to 1024"),
        ("[pipeline]\nbatch_ledgers = 0", "pipeline.batch_ledgers", "0", "1 or more ledgers"),
        ("[pipeline]\nmax_in_flight_batches = 1", "pipeline.max_in_flight_batches", "1", "2 or more"),
        (
            "[pipeline]\nmax_batch_bytes = 1000\nmax_in_flight_bytes = 999",
            "pipeline.max_in_flight_bytes",
            "999",
            "at least pipeline.max_batch_bytes (1000)",
        ),
        ("[archive]\nroot = \"\"", "archive.root", "\"\"", "a directory path"),
        ("[archive]\nmax_ledgers_per_file = 0", "archive.max_ledgers_per_file", "0", "1 or more ledgers"),
        ("[checkpoint]\npath = \"\"", "checkpoint.path", "\"\"", "a directory path"),
        ("[analytics]\nwindow_secs = 0", "analytics.window_secs", "0", "1 to 86400"),
        (
            "[resilience.archive.retry]\nmultiplier = 0.5",
            "resilience.archive.retry.multiplier",
            "0.5",
            "1.0 to 100.0",
        ),
        (
            "[resilience.source.breaker]\nfailure_threshold = 0",
            "resilience.source.breaker.failure_threshold",
            "0",
            "1 to 10000",
        ),
        (
            "[resilience.convert.retry]\ninitial_interval_ms = 100\nmax_interval_ms = 10",
            "resilience.convert.retry.max_interval_ms",
            "10",
            "at least initial_interval_ms (100)",
        ),
        ("[service]\nlog_interval_ms = 0", "service.log_interval_ms", "0", "1 or more"),
        ("[service]\nshutdown_timeout_ms = 0", "service.shutdown_timeout_ms", "0", "1 or more"),
        (
            "[service]\nlog_level = \"ledgerflow=loud\"",
            "service.log_level",
            "\"ledgerflow=loud\"",
            "EnvFilter",
        ),
    ];
    for &(toml, key, value, allowed_part) in cases {
        let error = load(toml, &[]).expect_err(toml);
        let ConfigError::Invalid { key: got_key, value: got_value, allowed } = &error else {
            panic!("{toml}: expected Invalid, got {error:?}");
        };
        assert_eq!((got_key.as_str(), got_value.as_str()), (key, value), "{toml}");
        assert!(allowed.contains(allowed_part), "{toml}: allowed is {allowed:?}");
        let message = error.to_string();
        assert!(message.contains(&format!("{key} = {value}")) && message.contains(allowed_part), "{message}");
        assert_eq!(error.key(), Some(key));
        assert_eq!(error.class(), FailureClass::Permanent);
    }
}

#[test]
fn the_admin_endpoint_needs_a_loopback_listener_and_failpoints_are_name_equals_actions() {
    let error = load("[fault_injection]\nadmin_endpoint = true\n", &[]).unwrap_err();
    assert_eq!(error.key(), Some("fault_injection.admin_endpoint"), "{error}");
    let public = "[service]\nhttp_addr = \"0.0.0.0:9477\"\n[fault_injection]\nadmin_endpoint = true\n";
    let error = load(public, &[]).unwrap_err();
    assert!(error.to_string().contains("0.0.0.0:9477"), "{error}");
    let loopback = "[service]\nhttp_addr = \"127.0.0.1:9477\"\n[fault_injection]\nadmin_endpoint = true\n";
    assert!(load(loopback, &[]).unwrap().fault_injection.admin_endpoint);
    let error = load("[fault_injection]\nfailpoints = [\"convert:before\"]\n", &[]).unwrap_err();
    assert_eq!(error.key(), Some("fault_injection.failpoints"), "{error}");
    let error = load("[telemetry]\notlp_endpoint = \"localhost:4317\"\n", &[]).unwrap_err();
    assert_eq!(error.key(), Some("telemetry.otlp_endpoint"), "{error}");
    let protocol = load("[telemetry]\notlp_protocol = \"http/protobuf\"\n", &[]).unwrap();
    assert_eq!(protocol.telemetry.otlp_protocol, OtlpProtocol::HttpProtobuf);
    assert!(load("[telemetry]\notlp_protocol = \"udp\"\n", &[]).is_err());
}

#[test]
fn a_datastore_needs_a_path() {
    let error = load("[source]\nkind = \"datastore\"\n", &[]).unwrap_err();
    assert_eq!(error.key(), Some("source.path"), "{error}");
    assert!(error.to_string().contains("required when source.kind = \"datastore\""), "{error}");

    let config = load("[source]\nkind = \"datastore\"\npath = \"/stores/pubnet\"\n", &[]).unwrap();
    assert_eq!(config.source.path.as_deref(), Some(Path::new("/stores/pubnet")));
    assert_eq!(config.generator_config(), None);
    // A data store's first ledger is only known at run time: `to` alone is not checked.
    load("[source]\nkind = \"datastore\"\npath = \"/s\"\n[stream]\nto = 5\n", &[]).unwrap();

    let from_env =
        load("", &[("LEDGERFLOW_SOURCE__KIND", "datastore"), ("LEDGERFLOW_SOURCE__PATH", "/s")]).unwrap();
    assert_eq!(from_env.source.kind, SourceKind::Datastore);
}

#[test]
fn the_checkpoint_defaults_under_the_archive_root() {
    let config = Config::default();
    assert_eq!(config.checkpoint.path, None);
    assert_eq!(config.checkpoint_path(), Path::new("ledgerflow-data/_checkpoint"));

    let config = load("[archive]\nroot = \"/srv/archive\"\n", &[]).unwrap();
    assert_eq!(config.checkpoint_path(), Path::new("/srv/archive/_checkpoint"));

    let config =
        load("[archive]\nroot = \"/srv/archive\"\n[checkpoint]\npath = \"/srv/sled\"\n", &[]).unwrap();
    assert_eq!(config.checkpoint_path(), Path::new("/srv/sled"));
}

#[test]
fn a_missing_file_is_an_error_naming_it() {
    let path = Path::new("/nonexistent/ledgerflow.toml");
    let error = Config::figment(Some(path), EnvOverrides::default()).unwrap_err();
    assert!(matches!(&error, ConfigError::Io { path: p, .. } if p == path), "{error:?}");
    assert!(error.to_string().contains("/nonexistent/ledgerflow.toml"), "{error}");
    assert!(Config::load(Some(path)).is_err());
}

#[test]
fn the_synthetic_chain_is_anchored_and_the_stream_selects_the_range() {
    let config = Config::default();
    let generator = config.generator_config().unwrap();
    let defaults = GeneratorConfig::default();
    assert_eq!(generator.first_sequence, defaults.first_sequence);
    assert_eq!(generator.ledger_count, None, "the stream bounds the range, not the generator");
    assert_eq!((generator.seed, generator.transactions_per_ledger), (42, 100));
    assert_eq!(generator.network, Network::synthetic());
    let first = defaults.first_sequence;
    assert_eq!(config.stream_range(first), (first, Some(first + 9_999)), "source.ledgers");

    let mut config = Config::default();
    config.stream.from = Some(first + 500);
    config.stream.to = Some(first + 599);
    config.source.network = Some("testnet".into());
    let generator = config.generator_config().unwrap();
    assert_eq!(generator.first_sequence, first, "anchored: a narrowed stream reads the same ledgers");
    assert_eq!(config.stream_range(first), (first + 500, Some(first + 599)));
    assert_eq!(generator.network.name(), Some("testnet"));

    config.stream.to = None;
    config.stream.follow = true;
    assert_eq!(config.stream_range(first), (first + 500, None), "follow without `to` is endless");
    assert_eq!(config.source.cadence(), std::time::Duration::from_secs(5));
}

#[test]
fn flags_applied_after_loading_are_validated_again() {
    let mut config = load("[stream]\nfrom = 1000100\n", &[]).unwrap();
    config.stream.to = Some(1_000_050); // what `--to 1000050` would do
    let error = config.validate().unwrap_err();
    assert_eq!(error.key(), Some("stream.to"));
    config.stream.to = Some(1_000_200);
    config.validate().unwrap();
}

#[test]
fn toml_text_round_trips() {
    let text = Config::default().to_toml_string().unwrap();
    assert_eq!(load(&text, &[]).unwrap(), Config::default());

    let mut config = Config::default();
    config.stream.from = Some(7);
    config.stream.to = Some(9);
    config.source.kind = SourceKind::Datastore;
    config.source.path = Some(PathBuf::from("/stores/\"quoted\" dir"));
    config.source.network = Some("Test SDF Network ; September 2015".into());
    config.pipeline.on_corrupt = OnCorrupt::DeadLetter;
    config.archive.compression = Compression::Gzip(9);
    config.checkpoint.path = Some(PathBuf::from("/sled"));
    config.analytics.assets = vec![crate::analytics::AssetSelector::Native];
    config.resilience.convert.retry.max_elapsed_time_ms = Some(1_000);
    config.resilience.convert.retry.multiplier = 3.0;
    config.service.progress = ProgressMode::Off;
    config.service.log_format = LogFormat::Json;
    config.validate().unwrap();
    let text = config.to_toml_string().unwrap();
    assert_eq!(load(&text, &[]).unwrap(), config, "{text}");
    assert!(text.contains("[resilience.convert.retry]\n"), "{text}");
    assert!(text.contains("multiplier = 3.0\n"), "{text}");

    let mut config = Config::default();
    config.decode.max_object_bytes = u64::MAX;
    let error = config.to_toml_string().unwrap_err();
    assert_eq!(error.key(), Some("decode.max_object_bytes"));
}

#[test]
fn secrets_never_print() {
    let secret = Secret::new("hunter2");
    assert_eq!(format!("{secret:?} {secret}"), "*** ***");
    assert_eq!(serde_json::to_string(&secret).unwrap(), r#""***""#);
    assert_eq!(secret.expose(), "hunter2");
    let parsed: Secret = serde_json::from_str(r#""hunter2""#).unwrap();
    assert_eq!(parsed, secret);
}
