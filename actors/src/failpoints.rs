//! Fault injection as a feature (design §7): the failpoints of every actor and commit step,
//! armed from `[fault_injection] failpoints`, then from the `FAILPOINTS` variable, and at run
//! time through the admin endpoint (`/admin/failpoints`, only when enabled and on loopback).
//!
//! Failpoints exist only in a build with the `failpoints` feature; in any other build arming
//! one is an error, so a chaos experiment never silently runs without its faults.

/// Every failpoint, in stream order: `<actor or step>:<where>`.
pub const NAMES: [&str; 11] = [
    "fetch:before_read",
    "convert:before",
    "analytics:before",
    "archive:before_stage",
    "archive:after_stage",
    "archive:before_commit",
    "checkpoint:before_commit",
    "checkpoint:after_transaction",
    "checkpoint:after_flush",
    "archive:before_publish",
    "archive:after_publish",
];

/// The commit steps (design §3): stage, commit, publish, and the checkpoint's transaction and
/// flush in between; the failpoints after the three actors' own.
pub const COMMIT_STEPS: &[&str] = NAMES.split_at(3).1;

/// The failpoint in each worker (source, convert, analytics, archive): where a panic kills it.
pub const WORKERS: [&str; 4] =
    ["fetch:before_read", "convert:before", "analytics:before", "archive:before_stage"];

/// Whether this build has failpoints compiled in.
pub const ENABLED: bool = cfg!(feature = "failpoints");

/// Why a failpoint could not be armed.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum FailpointError {
    #[error("failpoint `{name}`: this build has no failpoints (build with `--features failpoints`)")]
    NotCompiled { name: String },
    #[error("failpoint `{name}` does not exist; failpoints: {}", NAMES.join(", "))]
    Unknown { name: String },
    #[error("failpoint `{name}`: bad actions `{actions}`: {reason}")]
    BadActions { name: String, actions: String, reason: String },
    #[error("failpoint entry `{entry}` is not `name=actions`")]
    Malformed { entry: String },
}

/// Parses `name=actions` entries, `;`-separated (the `FAILPOINTS` format).
pub fn parse_list(list: &str) -> Result<Vec<(String, String)>, FailpointError> {
    list.split(';').map(str::trim).filter(|e| !e.is_empty()).map(parse_entry).collect()
}

/// Parses one `name=actions` entry.
pub fn parse_entry(entry: &str) -> Result<(String, String), FailpointError> {
    let Some((name, actions)) = entry.split_once('=') else {
        return Err(FailpointError::Malformed { entry: entry.to_owned() });
    };
    let (name, actions) = (name.trim(), actions.trim());
    if name.is_empty() || actions.is_empty() {
        return Err(FailpointError::Malformed { entry: entry.to_owned() });
    }
    Ok((name.to_owned(), actions.to_owned()))
}

/// Arms `name` with `actions` (fail-rs syntax).
pub fn arm(name: &str, actions: &str) -> Result<(), FailpointError> {
    if !NAMES.contains(&name) {
        return Err(FailpointError::Unknown { name: name.to_owned() });
    }
    if !ENABLED {
        return Err(FailpointError::NotCompiled { name: name.to_owned() });
    }
    fail::cfg(name, actions).map_err(|reason| FailpointError::BadActions {
        name: name.to_owned(),
        actions: actions.to_owned(),
        reason,
    })?;
    tracing::warn!(failpoint = name, actions, "failpoint armed");
    Ok(())
}

/// Disarms `name`.
pub fn disarm(name: &str) -> Result<(), FailpointError> {
    if !NAMES.contains(&name) {
        return Err(FailpointError::Unknown { name: name.to_owned() });
    }
    fail::remove(name);
    tracing::warn!(failpoint = name, "failpoint disarmed");
    Ok(())
}

/// The armed failpoints and their actions.
pub fn armed() -> Vec<(String, String)> {
    fail::list()
}

/// Arms the configured failpoints, then those of `FAILPOINTS` (`env`), in that order.
pub fn arm_configured(configured: &[String], env: Option<&str>) -> Result<usize, FailpointError> {
    let mut entries = configured.iter().map(|e| parse_entry(e)).collect::<Result<Vec<_>, _>>()?;
    if let Some(env) = env {
        entries.extend(parse_list(env)?);
    }
    for (name, actions) in &entries {
        arm(name, actions)?;
    }
    Ok(entries.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_parse_and_bad_ones_are_named() {
        assert_eq!(
            parse_list(" fetch:before_read=1*return ; archive:before_stage=50%sleep(10)->off;").unwrap(),
            vec![
                ("fetch:before_read".into(), "1*return".into()),
                ("archive:before_stage".into(), "50%sleep(10)->off".into())
            ]
        );
        assert_eq!(
            parse_list("fetch:before_read").unwrap_err(),
            FailpointError::Malformed { entry: "fetch:before_read".into() }
        );
        let unknown = arm("fetch:after_read", "return").unwrap_err();
        assert!(unknown.to_string().contains("does not exist"), "{unknown}");
        assert!(unknown.to_string().contains("fetch:before_read"), "lists the names: {unknown}");
    }

    #[cfg(not(feature = "failpoints"))]
    #[test]
    fn without_the_feature_arming_is_an_error() {
        assert!(matches!(arm("convert:before", "return"), Err(FailpointError::NotCompiled { .. })));
    }
}
