//! Window arithmetic and the per-asset totals of the open window.

use std::collections::HashMap;

use super::config::AnalyticsConfig;
use super::input::AssetRef;

/// Start of the epoch-aligned window of length `window_micros` that holds `closed_at_micros`.
pub(crate) fn window_start(closed_at_micros: i64, window_micros: i64) -> i64 {
    closed_at_micros.saturating_sub(closed_at_micros.rem_euclid(window_micros))
}

/// End (excluded) of the window starting at `start_micros`.
pub(crate) fn window_end(start_micros: i64, window_micros: i64) -> i64 {
    start_micros.saturating_add(window_micros)
}

/// Totals of one asset's counted payments in one window.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct AssetTotals {
    pub asset_type: String,
    pub asset_code: Option<String>,
    pub asset_issuer: Option<String>,
    /// Whether the config's `assets` filter selects this asset. Unselected assets keep an
    /// entry (with zero totals) only so that their rows are rejected by one map lookup.
    pub selected: bool,
    pub payment_count: i64,
    /// In stroops; an `i128` because a window's sum of `i64` amounts can exceed `i64::MAX`.
    pub amount_sum: i128,
    pub amount_min: i64,
    pub amount_max: i64,
    pub high_value_count: i64,
}

impl AssetTotals {
    fn empty(asset: AssetRef<'_>, selected: bool) -> Self {
        AssetTotals {
            asset_type: asset.asset_type.to_owned(),
            asset_code: asset.asset_code.map(str::to_owned),
            asset_issuer: asset.asset_issuer.map(str::to_owned),
            selected,
            payment_count: 0,
            amount_sum: 0,
            amount_min: i64::MAX,
            amount_max: i64::MIN,
            high_value_count: 0,
        }
    }

    pub fn add(&mut self, amount: i64, high_value: bool) {
        self.payment_count += 1;
        self.amount_sum += i128::from(amount);
        self.amount_min = self.amount_min.min(amount);
        self.amount_max = self.amount_max.max(amount);
        self.high_value_count += i64::from(high_value);
    }

    pub fn asset(&self) -> AssetRef<'_> {
        AssetRef {
            asset_type: &self.asset_type,
            asset_code: self.asset_code.as_deref(),
            asset_issuer: self.asset_issuer.as_deref(),
        }
    }

    /// Output order of assets within a window: by type, code, issuer (absent before present).
    pub fn sort_key(&self) -> (&str, Option<&str>, Option<&str>) {
        (&self.asset_type, self.asset_code.as_deref(), self.asset_issuer.as_deref())
    }
}

/// The window that holds the watermark, with the totals of the payments seen in it so far.
///
/// There is at most one: close times never decrease, so every earlier window was emitted when
/// the watermark passed its end, and payments always fall in the watermark's window.
#[derive(Debug, Clone)]
pub(crate) struct OpenWindow {
    pub start_micros: i64,
    /// Index into `totals` by [`encode_asset_key`]; keys are allocated once per asset per window.
    index: HashMap<Box<str>, usize>,
    totals: Vec<AssetTotals>,
}

impl OpenWindow {
    pub fn new(start_micros: i64) -> Self {
        OpenWindow { start_micros, index: HashMap::new(), totals: Vec::new() }
    }

    /// A window restored from a snapshot; `totals` are selected and distinct.
    pub fn from_totals(start_micros: i64, totals: Vec<AssetTotals>) -> Self {
        let mut key = String::new();
        let index = totals
            .iter()
            .enumerate()
            .map(|(position, totals)| {
                encode_asset_key(&mut key, totals.asset());
                (Box::from(key.as_str()), position)
            })
            .collect();
        OpenWindow { start_micros, index, totals }
    }

    /// The totals of `asset`, created (and checked against the config's filter) the first time
    /// the window sees it. `scratch` holds the lookup key, so a known asset costs no allocation.
    #[inline]
    pub fn totals_mut(
        &mut self,
        asset: AssetRef<'_>,
        scratch: &mut String,
        config: &AnalyticsConfig,
    ) -> &mut AssetTotals {
        encode_asset_key(scratch, asset);
        let position = match self.index.get(scratch.as_str()) {
            Some(position) => *position,
            None => {
                let selected = config.selects(asset.asset_type, asset.asset_code, asset.asset_issuer);
                self.totals.push(AssetTotals::empty(asset, selected));
                self.index.insert(Box::from(scratch.as_str()), self.totals.len() - 1);
                self.totals.len() - 1
            }
        };
        &mut self.totals[position]
    }

    /// The selected assets' totals in output order (every selected entry has a payment: entries
    /// are created by the payment that is added to them).
    pub fn into_sorted_totals(self) -> Vec<AssetTotals> {
        let mut totals: Vec<AssetTotals> = self.totals.into_iter().filter(|totals| totals.selected).collect();
        totals.sort_unstable_by(|a, b| a.sort_key().cmp(&b.sort_key()));
        totals
    }

    /// The selected assets' totals in output order, borrowed (for snapshots).
    pub fn sorted_totals(&self) -> Vec<&AssetTotals> {
        let mut totals: Vec<&AssetTotals> = self.totals.iter().filter(|totals| totals.selected).collect();
        totals.sort_unstable_by(|a, b| a.sort_key().cmp(&b.sort_key()));
        totals
    }
}

/// Writes the map key of `asset` into `out`: the type, then for code and issuer `\0` when
/// absent or `\u{1}` and the value. Injective because asset types are fixed words (`native`,
/// `credit_alphanum4`, ...) without control characters.
fn encode_asset_key(out: &mut String, asset: AssetRef<'_>) {
    out.clear();
    out.push_str(asset.asset_type);
    for part in [asset.asset_code, asset.asset_issuer] {
        match part {
            None => out.push('\0'),
            Some(value) => {
                out.push('\u{1}');
                out.push_str(value);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_are_epoch_aligned_and_half_open() {
        let minute = 60_000_000;
        assert_eq!(window_start(0, minute), 0);
        assert_eq!(window_start(minute - 1, minute), 0);
        assert_eq!(window_start(minute, minute), minute, "a window's end starts the next one");
        assert_eq!(window_start(1_767_225_600_000_000 + 59_999_999, minute), 1_767_225_600_000_000);
        assert_eq!(window_start(-1, minute), -minute);
    }

    #[test]
    fn keys_distinguish_absent_from_empty_parts() {
        let key = |asset_type, asset_code, asset_issuer| {
            let mut out = String::new();
            encode_asset_key(&mut out, AssetRef { asset_type, asset_code, asset_issuer });
            out
        };
        assert_ne!(key("native", None, None), key("native", Some(""), None));
        assert_ne!(
            key("credit_alphanum4", Some("AB"), Some("C")),
            key("credit_alphanum4", Some("A"), Some("BC"))
        );
        assert_eq!(key("native", None, None), key("native", None, None));
    }

    #[test]
    fn totals_fold_and_unselected_assets_are_dropped_at_emission() {
        let config = AnalyticsConfig {
            assets: vec![super::super::AssetSelector::Native],
            ..AnalyticsConfig::default()
        };
        let native = AssetRef { asset_type: "native", asset_code: None, asset_issuer: None };
        let usdc =
            AssetRef { asset_type: "credit_alphanum4", asset_code: Some("USDC"), asset_issuer: Some("G") };
        let mut window = OpenWindow::new(0);
        let mut scratch = String::new();
        for amount in [5, i64::MAX, 1] {
            window.totals_mut(native, &mut scratch, &config).add(amount, amount > 10);
        }
        assert!(!window.totals_mut(usdc, &mut scratch, &config).selected);
        let totals = window.into_sorted_totals();
        assert_eq!(totals.len(), 1);
        let native = &totals[0];
        assert_eq!((native.payment_count, native.amount_min, native.amount_max), (3, 1, i64::MAX));
        assert_eq!(native.amount_sum, i128::from(i64::MAX) + 6);
        assert_eq!(native.high_value_count, 1);
    }
}
