//! The `[analytics]` settings: window length, high-value threshold, asset filter.
//!
//! Every key has a default ([`AnalyticsConfig::default`]); serde rejects unknown keys, badly
//! typed values and malformed asset names, and [`AnalyticsConfig::validate`] rejects the rest
//! with an error that names the key, the value and what is allowed.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::resilience::InvalidSetting;

/// Longest window: one day.
pub const MAX_WINDOW_SECS: u32 = 86_400;

/// The `[analytics]` section.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AnalyticsConfig {
    /// Length of the tumbling windows in seconds of ledger close time, 1 to 86400. Windows are
    /// aligned to the Unix epoch: `[k * window_secs, (k + 1) * window_secs)`.
    pub window_secs: u32,
    /// A payment whose amount is strictly above this many stroops is high-value: counted in
    /// `payment_volume.high_value_count` and written to `high_value_payments`. One threshold
    /// for every asset (the default, 10,000 units, is 10,000 XLM or 10,000 USDC). At least 0.
    pub high_value_threshold_stroops: i64,
    /// Assets to aggregate, as `"native"` or `"CODE:ISSUER"`; empty (the default) means every
    /// asset. Payments of other assets appear in neither table.
    pub assets: Vec<AssetSelector>,
}

impl Default for AnalyticsConfig {
    fn default() -> Self {
        AnalyticsConfig { window_secs: 60, high_value_threshold_stroops: 100_000_000_000, assets: Vec::new() }
    }
}

impl AnalyticsConfig {
    /// Checks what serde cannot: the window length, the threshold's sign, duplicate assets.
    /// Keys are relative to the section (`window_secs`); the loader prefixes `analytics.`.
    pub fn validate(&self) -> Result<(), InvalidSetting> {
        if !(1..=MAX_WINDOW_SECS).contains(&self.window_secs) {
            return Err(InvalidSetting::new("window_secs", self.window_secs, "1 to 86400 seconds (one day)"));
        }
        if self.high_value_threshold_stroops < 0 {
            return Err(InvalidSetting::new(
                "high_value_threshold_stroops",
                self.high_value_threshold_stroops,
                "0 or more stroops",
            ));
        }
        for (index, selector) in self.assets.iter().enumerate() {
            if self.assets[..index].contains(selector) {
                return Err(InvalidSetting::new(
                    "assets",
                    format!("\"{selector}\" (listed twice)"),
                    "each asset at most once",
                ));
            }
        }
        Ok(())
    }

    /// The window length in microseconds, the unit of `closed_at`.
    pub(crate) fn window_micros(&self) -> i64 {
        i64::from(self.window_secs) * 1_000_000
    }

    /// Whether payments of this asset are aggregated.
    pub(crate) fn selects(&self, asset_type: &str, code: Option<&str>, issuer: Option<&str>) -> bool {
        self.assets.is_empty()
            || self.assets.iter().any(|selector| selector.matches(asset_type, code, issuer))
    }
}

/// One asset of the `assets` filter: `"native"` or `"CODE:ISSUER"` (stellar-etl's canonical
/// asset string), with a code of 1 to 12 ASCII letters and digits and a `G...` issuer.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum AssetSelector {
    Native,
    /// A credit asset, `credit_alphanum4` or `credit_alphanum12` by the length of its code.
    Credit {
        code: String,
        issuer: String,
    },
}

impl AssetSelector {
    fn matches(&self, asset_type: &str, code: Option<&str>, issuer: Option<&str>) -> bool {
        match self {
            AssetSelector::Native => asset_type == "native",
            AssetSelector::Credit { code: selected_code, issuer: selected_issuer } => {
                code == Some(selected_code.as_str()) && issuer == Some(selected_issuer.as_str())
            }
        }
    }
}

impl fmt::Display for AssetSelector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AssetSelector::Native => f.write_str("native"),
            AssetSelector::Credit { code, issuer } => write!(f, "{code}:{issuer}"),
        }
    }
}

/// Why an asset string did not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{value}` is not an asset: {reason} (expected `native` or `CODE:ISSUER`)")]
pub struct ParseAssetSelectorError {
    value: String,
    reason: &'static str,
}

impl FromStr for AssetSelector {
    type Err = ParseAssetSelectorError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let error = |reason| ParseAssetSelectorError { value: text.to_owned(), reason };
        if text == "native" {
            return Ok(AssetSelector::Native);
        }
        let (code, issuer) = text.split_once(':').ok_or_else(|| error("no `:` between code and issuer"))?;
        if code.is_empty() || code.len() > 12 || !code.bytes().all(|b| b.is_ascii_alphanumeric()) {
            return Err(error("the code must be 1 to 12 ASCII letters or digits"));
        }
        if stellar_strkey::ed25519::PublicKey::from_string(issuer).is_err() {
            return Err(error("the issuer is not a `G...` account strkey"));
        }
        Ok(AssetSelector::Credit { code: code.to_owned(), issuer: issuer.to_owned() })
    }
}

impl Serialize for AssetSelector {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for AssetSelector {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl serde::de::Visitor<'_> for Visitor {
            type Value = AssetSelector;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("`native` or `CODE:ISSUER`")
            }
            fn visit_str<E: serde::de::Error>(self, text: &str) -> Result<AssetSelector, E> {
                text.parse().map_err(E::custom)
            }
        }
        deserializer.deserialize_str(Visitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::generator::{LONG_ASSET_CODE, LONG_ASSET_ISSUER, USDC_ISSUER};

    #[test]
    fn defaults_are_valid_and_documented_values() {
        let config = AnalyticsConfig::default();
        assert_eq!(config.window_secs, 60);
        assert_eq!(config.high_value_threshold_stroops, 10_000 * 10_000_000);
        assert!(config.assets.is_empty());
        assert_eq!(config.validate(), Ok(()));
        assert_eq!(config.window_micros(), 60_000_000);
    }

    #[test]
    fn deserializes_with_defaults_and_rejects_unknown_keys() {
        let config: AnalyticsConfig = serde_json::from_str(r#"{"window_secs": 300}"#).unwrap();
        assert_eq!(config, AnalyticsConfig { window_secs: 300, ..AnalyticsConfig::default() });
        let unknown = serde_json::from_str::<AnalyticsConfig>(r#"{"window": 300}"#).unwrap_err();
        assert!(unknown.to_string().contains("window"), "{unknown}");

        let with_assets: AnalyticsConfig =
            serde_json::from_str(&format!(r#"{{"assets": ["native", "USDC:{USDC_ISSUER}"]}}"#)).unwrap();
        assert_eq!(
            with_assets.assets,
            vec![
                AssetSelector::Native,
                AssetSelector::Credit { code: "USDC".into(), issuer: USDC_ISSUER.into() }
            ]
        );
        let round_trip: AnalyticsConfig =
            serde_json::from_str(&serde_json::to_string(&with_assets).unwrap()).unwrap();
        assert_eq!(round_trip, with_assets);
    }

    #[test]
    fn validate_names_key_value_and_allowed() {
        let zero = AnalyticsConfig { window_secs: 0, ..AnalyticsConfig::default() }.validate().unwrap_err();
        assert_eq!(zero.key, "window_secs");
        assert_eq!(zero.value, "0");
        assert!(zero.allowed.contains("86400"), "{zero}");
        assert!(AnalyticsConfig { window_secs: 86_401, ..AnalyticsConfig::default() }.validate().is_err());
        assert!(AnalyticsConfig { window_secs: 86_400, ..AnalyticsConfig::default() }.validate().is_ok());

        let negative = AnalyticsConfig { high_value_threshold_stroops: -1, ..AnalyticsConfig::default() }
            .validate()
            .unwrap_err();
        assert_eq!((negative.key.as_str(), negative.value.as_str()), ("high_value_threshold_stroops", "-1"));

        let twice = AnalyticsConfig {
            assets: vec![AssetSelector::Native, AssetSelector::Native],
            ..AnalyticsConfig::default()
        }
        .validate()
        .unwrap_err();
        assert_eq!(twice.key, "assets");
        assert!(twice.value.contains("native"), "{twice}");
    }

    #[test]
    fn asset_selectors_parse_and_match() {
        let long: AssetSelector = format!("{LONG_ASSET_CODE}:{LONG_ASSET_ISSUER}").parse().unwrap();
        assert_eq!(long.to_string(), format!("{LONG_ASSET_CODE}:{LONG_ASSET_ISSUER}"));
        assert!(long.matches("credit_alphanum12", Some(LONG_ASSET_CODE), Some(LONG_ASSET_ISSUER)));
        assert!(!long.matches("credit_alphanum4", Some("USDC"), Some(LONG_ASSET_ISSUER)));
        assert!(!long.matches("native", None, None));
        assert!(AssetSelector::Native.matches("native", None, None));

        for bad in ["", "xlm", "USDC", "USDC:GABC", "TOOLONGCODE123:x", "US-D:x", &format!(":{USDC_ISSUER}")]
        {
            let error = bad.parse::<AssetSelector>().unwrap_err();
            assert!(error.to_string().contains(&format!("`{bad}`")), "{error}");
        }
        let config = AnalyticsConfig { assets: vec![AssetSelector::Native], ..AnalyticsConfig::default() };
        assert!(config.selects("native", None, None));
        assert!(!config.selects("credit_alphanum4", Some("USDC"), Some(USDC_ISSUER)));
        assert!(AnalyticsConfig::default().selects("credit_alphanum4", Some("USDC"), Some(USDC_ISSUER)));
    }
}
