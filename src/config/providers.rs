//! The figment providers behind [`Config::load`](super::Config::load): the environment
//! variables, and a wrapper that names keys the way the TOML file spells them.

use std::fmt;

use figment::value::{Dict, Map, Value};
use figment::{Error, Metadata, Profile, Provider};

/// Prefix of every environment variable that sets a configuration key.
pub const ENV_PREFIX: &str = "LEDGERFLOW_";
/// Separator between the section and the key in an environment variable name:
/// `LEDGERFLOW_PIPELINE__BATCH_LEDGERS` sets `pipeline.batch_ledgers`.
pub const ENV_SEPARATOR: &str = "__";

/// The `LEDGERFLOW_<SECTION>__<KEY>` environment variables, as a figment provider.
///
/// Only names with a `__` are configuration keys; other `LEDGERFLOW_*` variables (such as
/// `LEDGERFLOW_FIXTURES`, read by tests) are not ours to refuse and are ignored. Nested
/// sections take one `__` per level: `LEDGERFLOW_RESILIENCE__ARCHIVE__RETRY__MAX_INTERVAL_MS`.
/// A key that does not exist is refused when the configuration is extracted, with an error
/// that names the variable.
///
/// Values are kept as strings, and numbers and booleans are read from them when the target
/// field is one (`Figment::extract_lossy`), so `LEDGERFLOW_STREAM__ID=2024` stays the string
/// it must be. A value written as a TOML array (`["native", "USDC:G..."]`) is an array.
///
/// Built from the process environment ([`EnvOverrides::from_process`]) or, in tests, from any
/// list of variables ([`EnvOverrides::from_vars`]).
#[derive(Clone, Default)]
pub struct EnvOverrides {
    /// `(name, value)`, sorted by name so that the result does not depend on the environment's
    /// order.
    vars: Vec<(String, String)>,
}

impl EnvOverrides {
    /// The `LEDGERFLOW_*` variables of this process. Names and values that are not Unicode are
    /// read lossily.
    pub fn from_process() -> Self {
        Self::from_vars(
            std::env::vars_os().map(|(name, value)| {
                (name.to_string_lossy().into_owned(), value.to_string_lossy().into_owned())
            }),
        )
    }

    /// The configuration variables among `vars`; others are dropped.
    pub fn from_vars<N: Into<String>, V: Into<String>>(vars: impl IntoIterator<Item = (N, V)>) -> Self {
        let mut vars: Vec<(String, String)> = vars
            .into_iter()
            .map(|(name, value)| (name.into(), value.into()))
            .filter(|(name, _)| key_path(name).is_some())
            .collect();
        vars.sort();
        EnvOverrides { vars }
    }

    /// Whether no variable sets a key.
    pub fn is_empty(&self) -> bool {
        self.vars.is_empty()
    }

    /// The names of the variables that set keys, sorted.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.vars.iter().map(|(name, _)| name.as_str())
    }
}

/// Names only: values may one day hold secrets.
impl fmt::Debug for EnvOverrides {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("EnvOverrides").field(&self.names().collect::<Vec<_>>()).finish()
    }
}

/// `LEDGERFLOW_ARCHIVE__ROOT` -> `["archive", "root"]`; `None` when `name` has no section.
fn key_path(name: &str) -> Option<Vec<String>> {
    let prefix = name.get(..ENV_PREFIX.len())?;
    if !prefix.eq_ignore_ascii_case(ENV_PREFIX) {
        return None;
    }
    let rest = &name[ENV_PREFIX.len()..];
    if !rest.contains(ENV_SEPARATOR) {
        return None;
    }
    Some(rest.split(ENV_SEPARATOR).map(str::to_ascii_lowercase).collect())
}

/// The name of the variable that sets `keys`: the inverse of [`key_path`].
pub(super) fn variable_name(keys: &[&str]) -> String {
    let keys: Vec<String> = keys.iter().map(|key| key.to_ascii_uppercase()).collect();
    format!("{ENV_PREFIX}{}", keys.join(ENV_SEPARATOR))
}

/// Puts `value` at `path` in `dict`, making the tables on the way (a later variable replaces
/// a scalar an earlier one put where a table is needed).
fn insert(dict: &mut Dict, path: &[String], value: Value) {
    let Some((first, rest)) = path.split_first() else { return };
    if rest.is_empty() {
        dict.insert(first.clone(), value);
        return;
    }
    let entry = dict.entry(first.clone()).or_insert_with(|| Value::from(Dict::new()));
    if !matches!(entry, Value::Dict(..)) {
        *entry = Value::from(Dict::new());
    }
    if let Value::Dict(_, inner) = entry {
        insert(inner, rest, value);
    }
}

impl Provider for EnvOverrides {
    fn metadata(&self) -> Metadata {
        Metadata::named("the environment").interpolater(|_: &Profile, keys: &[&str]| variable_name(keys))
    }

    fn data(&self) -> Result<Map<Profile, Dict>, Error> {
        let mut dict = Dict::new();
        for (name, raw) in &self.vars {
            let Some(path) = key_path(name) else { continue };
            let value = match raw.parse::<Value>() {
                Ok(value @ (Value::Array(..) | Value::Dict(..))) => value,
                _ => Value::from(raw.clone()),
            };
            insert(&mut dict, &path, value);
        }
        Ok(Profile::Default.collect(dict))
    }
}

/// A provider whose error messages name keys as the TOML file spells them (`pipeline.foo`),
/// without figment's profile prefix (`default.pipeline.foo`).
pub(super) struct PlainKeys<P>(pub P);

impl<P: Provider> Provider for PlainKeys<P> {
    fn metadata(&self) -> Metadata {
        self.0.metadata().interpolater(|_: &Profile, keys: &[&str]| keys.join("."))
    }

    fn data(&self) -> Result<Map<Profile, Dict>, Error> {
        self.0.data()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_sectioned_ledgerflow_variables_are_keys() {
        assert_eq!(key_path("LEDGERFLOW_ARCHIVE__ROOT"), Some(vec!["archive".into(), "root".into()]));
        assert_eq!(
            key_path("LEDGERFLOW_RESILIENCE__SOURCE__RETRY__MULTIPLIER"),
            Some(vec!["resilience".into(), "source".into(), "retry".into(), "multiplier".into()])
        );
        assert_eq!(key_path("LEDGERFLOW_FIXTURES"), None);
        assert_eq!(key_path("LEDGERFLOW"), None);
        assert_eq!(key_path("HOME"), None);
        assert_eq!(variable_name(&["pipeline", "batch_ledgers"]), "LEDGERFLOW_PIPELINE__BATCH_LEDGERS");
    }

    #[test]
    fn values_stay_strings_unless_arrays() {
        let env = EnvOverrides::from_vars([
            ("LEDGERFLOW_PIPELINE__BATCH_LEDGERS", "128"),
            ("LEDGERFLOW_ANALYTICS__ASSETS", r#"["native"]"#),
            ("LEDGERFLOW_FIXTURES", "/fixtures"),
            ("PATH", "/bin"),
        ]);
        assert_eq!(
            env.names().collect::<Vec<_>>(),
            ["LEDGERFLOW_ANALYTICS__ASSETS", "LEDGERFLOW_PIPELINE__BATCH_LEDGERS"]
        );
        let data = env.data().unwrap();
        let dict = &data[&Profile::Default];
        let batch = dict["pipeline"].find_ref("batch_ledgers").unwrap();
        assert_eq!(batch.as_str(), Some("128"));
        let assets = dict["analytics"].find_ref("assets").unwrap();
        assert_eq!(assets.as_array().map(|assets| assets.len()), Some(1));
        assert_eq!(
            format!("{env:?}"),
            r#"EnvOverrides(["LEDGERFLOW_ANALYTICS__ASSETS", "LEDGERFLOW_PIPELINE__BATCH_LEDGERS"])"#
        );
    }
}
