//! The engine's state as bytes, for the checkpoint (design §3): committed with the files of
//! the ledgers it covers, read back on restart.
//!
//! Version 1, big-endian, in this order (`str` is a `u32` byte length then UTF-8; `opt` is a
//! byte 0 for absent, 1 then the value for present):
//! - `u8` version (1);
//! - the settings the state depends on: `u32` window_secs, `i64` high_value_threshold_stroops,
//!   `u32` count then each asset selector as `str` (`native` or `CODE:ISSUER`);
//! - `opt` last ingested ledger: `u32` sequence, `i64` close time (µs; the watermark);
//! - `opt` open window: `i64` start (µs), `u32` count, then per asset in output order: `str`
//!   asset_type, `opt str` asset_code, `opt str` asset_issuer, `i64` payment_count, `i128`
//!   amount_sum, `i64` amount_min, `i64` amount_max, `i64` high_value_count.
//!
//! A fixed binary layout rather than JSON: encoding cannot fail, and equal states give equal
//! bytes (assets are written sorted; unselected assets, which hold no totals, are left out).
//! Decoding checks every invariant the engine relies on, so corrupt bytes are refused with a
//! reason instead of producing wrong totals later.

use super::AnalyticsError;
use super::config::AnalyticsConfig;
use super::engine::LastLedger;
use super::window::{AssetTotals, OpenWindow, window_start};

const VERSION: u8 = 1;

/// The decoded state.
pub(crate) struct State {
    pub last: Option<LastLedger>,
    pub open_window: Option<OpenWindow>,
}

pub(crate) fn encode(
    config: &AnalyticsConfig,
    last: Option<LastLedger>,
    open_window: Option<&OpenWindow>,
) -> Vec<u8> {
    let mut out = Writer(Vec::with_capacity(64));
    out.u8(VERSION);
    out.u32(config.window_secs);
    out.i64(config.high_value_threshold_stroops);
    out.u32(len_u32(config.assets.len()));
    for selector in &config.assets {
        out.str(&selector.to_string());
    }
    match last {
        None => out.u8(0),
        Some(last) => {
            out.u8(1);
            out.u32(last.sequence);
            out.i64(last.closed_at_micros);
        }
    }
    match open_window {
        None => out.u8(0),
        Some(window) => {
            out.u8(1);
            out.i64(window.start_micros);
            let totals = window.sorted_totals();
            out.u32(len_u32(totals.len()));
            for totals in totals {
                out.str(&totals.asset_type);
                out.opt_str(totals.asset_code.as_deref());
                out.opt_str(totals.asset_issuer.as_deref());
                out.i64(totals.payment_count);
                out.i128(totals.amount_sum);
                out.i64(totals.amount_min);
                out.i64(totals.amount_max);
                out.i64(totals.high_value_count);
            }
        }
    }
    out.0
}

pub(crate) fn decode(config: &AnalyticsConfig, bytes: &[u8]) -> Result<State, AnalyticsError> {
    let mut input = Reader { bytes, position: 0 };
    let version = input.u8("the format version")?;
    if version != VERSION {
        return Err(AnalyticsError::bad_snapshot(format!(
            "unknown format version {version}, this build reads version {VERSION}"
        )));
    }

    let window_secs = input.u32("window_secs")?;
    let threshold = input.i64("high_value_threshold_stroops")?;
    let selector_count = input.u32("the asset filter length")?;
    let mut selectors = Vec::new();
    for _ in 0..selector_count {
        selectors.push(input.str("an asset filter entry")?.to_owned());
    }
    check_same_config(config, window_secs, threshold, &selectors)?;

    let last = match input.flag("the last ledger marker")? {
        false => None,
        true => Some(LastLedger {
            sequence: input.u32("the last ledger")?,
            closed_at_micros: input.i64("the watermark")?,
        }),
    };
    let open_window = match input.flag("the open window marker")? {
        false => None,
        true => Some(read_window(&mut input, config, last)?),
    };
    if input.position != bytes.len() {
        return Err(AnalyticsError::bad_snapshot(format!(
            "{} bytes after the end of the state at byte {}",
            bytes.len() - input.position,
            input.position
        )));
    }
    Ok(State { last, open_window })
}

fn check_same_config(
    config: &AnalyticsConfig,
    window_secs: u32,
    threshold: i64,
    selectors: &[String],
) -> Result<(), AnalyticsError> {
    if window_secs != config.window_secs {
        return Err(AnalyticsError::ConfigChanged {
            key: "window_secs",
            snapshot: window_secs.to_string(),
            config: config.window_secs.to_string(),
        });
    }
    if threshold != config.high_value_threshold_stroops {
        return Err(AnalyticsError::ConfigChanged {
            key: "high_value_threshold_stroops",
            snapshot: threshold.to_string(),
            config: config.high_value_threshold_stroops.to_string(),
        });
    }
    let configured: Vec<String> = config.assets.iter().map(ToString::to_string).collect();
    if selectors != configured {
        return Err(AnalyticsError::ConfigChanged {
            key: "assets",
            snapshot: format!("{selectors:?}"),
            config: format!("{configured:?}"),
        });
    }
    Ok(())
}

fn read_window(
    input: &mut Reader<'_>,
    config: &AnalyticsConfig,
    last: Option<LastLedger>,
) -> Result<OpenWindow, AnalyticsError> {
    let start_micros = input.i64("the window start")?;
    let window_micros = config.window_micros();
    let Some(last) = last else {
        return Err(AnalyticsError::bad_snapshot("an open window but no last ledger"));
    };
    // The open window is the watermark's: every earlier one was emitted when the watermark
    // passed its end.
    if window_start(last.closed_at_micros, window_micros) != start_micros {
        return Err(AnalyticsError::bad_snapshot(format!(
            "the open window starts at {start_micros} µs, but the watermark {} µs is in the window starting at {} µs",
            last.closed_at_micros,
            window_start(last.closed_at_micros, window_micros)
        )));
    }
    let count = input.u32("the asset count")?;
    let mut totals: Vec<AssetTotals> = Vec::new();
    for _ in 0..count {
        let entry = AssetTotals {
            asset_type: input.str("asset_type")?.to_owned(),
            asset_code: input.opt_str("asset_code")?.map(str::to_owned),
            asset_issuer: input.opt_str("asset_issuer")?.map(str::to_owned),
            selected: true,
            payment_count: input.i64("payment_count")?,
            amount_sum: input.i128("amount_sum")?,
            amount_min: input.i64("amount_min")?,
            amount_max: input.i64("amount_max")?,
            high_value_count: input.i64("high_value_count")?,
        };
        check_totals(&entry, config)?;
        if let Some(previous) = totals.last()
            && previous.sort_key() >= entry.sort_key()
        {
            return Err(AnalyticsError::bad_snapshot(format!(
                "asset {:?} is not after {:?}: assets must be distinct and sorted",
                entry.sort_key(),
                previous.sort_key()
            )));
        }
        totals.push(entry);
    }
    Ok(OpenWindow::from_totals(start_micros, totals))
}

/// Totals that folding payments can produce, of an asset the config selects.
fn check_totals(totals: &AssetTotals, config: &AnalyticsConfig) -> Result<(), AnalyticsError> {
    let asset = totals.sort_key();
    let count = i128::from(totals.payment_count);
    let reason = if totals.asset_type.is_empty() {
        Some("an empty asset_type")
    } else if !config.selects(asset.0, asset.1, asset.2) {
        Some("an asset the `assets` filter does not select")
    } else if totals.payment_count < 1 {
        Some("payment_count below 1")
    } else if totals.amount_min > totals.amount_max {
        Some("amount_min above amount_max")
    } else if !(0..=totals.payment_count).contains(&totals.high_value_count) {
        Some("high_value_count outside 0..=payment_count")
    } else if totals.amount_sum < count * i128::from(totals.amount_min)
        || totals.amount_sum > count * i128::from(totals.amount_max)
    {
        Some("amount_sum outside payment_count * [amount_min, amount_max]")
    } else {
        None
    };
    match reason {
        None => Ok(()),
        Some(reason) => Err(AnalyticsError::bad_snapshot(format!("totals of asset {asset:?} have {reason}"))),
    }
}

/// Lengths in the snapshot are `u32`; more than 2^32 - 1 assets or bytes would exhaust memory
/// long before, so saturating never changes a real length.
fn len_u32(len: usize) -> u32 {
    u32::try_from(len).unwrap_or(u32::MAX)
}

struct Writer(Vec<u8>);

impl Writer {
    fn u8(&mut self, value: u8) {
        self.0.push(value);
    }
    fn u32(&mut self, value: u32) {
        self.0.extend_from_slice(&value.to_be_bytes());
    }
    fn i64(&mut self, value: i64) {
        self.0.extend_from_slice(&value.to_be_bytes());
    }
    fn i128(&mut self, value: i128) {
        self.0.extend_from_slice(&value.to_be_bytes());
    }
    fn str(&mut self, value: &str) {
        self.u32(len_u32(value.len()));
        self.0.extend_from_slice(value.as_bytes());
    }
    fn opt_str(&mut self, value: Option<&str>) {
        match value {
            None => self.u8(0),
            Some(value) => {
                self.u8(1);
                self.str(value);
            }
        }
    }
}

struct Reader<'a> {
    bytes: &'a [u8],
    position: usize,
}

impl<'a> Reader<'a> {
    fn take<const N: usize>(&mut self, what: &str) -> Result<[u8; N], AnalyticsError> {
        let bytes = self.slice(N, what)?;
        // `slice` returned exactly N bytes.
        bytes.try_into().map_err(|_| AnalyticsError::bad_snapshot(format!("short read of {what}")))
    }

    fn slice(&mut self, len: usize, what: &str) -> Result<&'a [u8], AnalyticsError> {
        let end = self.position.checked_add(len).filter(|end| *end <= self.bytes.len()).ok_or_else(|| {
            AnalyticsError::bad_snapshot(format!(
                "truncated: {what} needs {len} bytes at byte {}, {} left",
                self.position,
                self.bytes.len() - self.position
            ))
        })?;
        let bytes = &self.bytes[self.position..end];
        self.position = end;
        Ok(bytes)
    }

    fn u8(&mut self, what: &str) -> Result<u8, AnalyticsError> {
        Ok(self.take::<1>(what)?[0])
    }

    fn flag(&mut self, what: &str) -> Result<bool, AnalyticsError> {
        let at = self.position;
        match self.u8(what)? {
            0 => Ok(false),
            1 => Ok(true),
            other => Err(AnalyticsError::bad_snapshot(format!("{what} at byte {at} is {other}, not 0 or 1"))),
        }
    }

    fn u32(&mut self, what: &str) -> Result<u32, AnalyticsError> {
        Ok(u32::from_be_bytes(self.take(what)?))
    }

    fn i64(&mut self, what: &str) -> Result<i64, AnalyticsError> {
        Ok(i64::from_be_bytes(self.take(what)?))
    }

    fn i128(&mut self, what: &str) -> Result<i128, AnalyticsError> {
        Ok(i128::from_be_bytes(self.take(what)?))
    }

    fn str(&mut self, what: &str) -> Result<&'a str, AnalyticsError> {
        let len = self.u32(what)? as usize;
        let at = self.position;
        let bytes = self.slice(len, what)?;
        std::str::from_utf8(bytes)
            .map_err(|_| AnalyticsError::bad_snapshot(format!("{what} at byte {at} is not UTF-8")))
    }

    fn opt_str(&mut self, what: &str) -> Result<Option<&'a str>, AnalyticsError> {
        match self.flag(what)? {
            false => Ok(None),
            true => self.str(what).map(Some),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINUTE: i64 = 60_000_000;

    fn totals(asset_code: &str, count: i64, sum: i128, min: i64, max: i64, high: i64) -> AssetTotals {
        AssetTotals {
            asset_type: "credit_alphanum4".into(),
            asset_code: Some(asset_code.into()),
            asset_issuer: Some("GISSUER".into()),
            selected: true,
            payment_count: count,
            amount_sum: sum,
            amount_min: min,
            amount_max: max,
            high_value_count: high,
        }
    }

    fn reason(bytes: &[u8]) -> String {
        match decode(&AnalyticsConfig::default(), bytes) {
            Err(AnalyticsError::BadSnapshot { reason, .. }) => reason,
            Err(other) => panic!("expected BadSnapshot, got {other:?}"),
            Ok(_) => panic!("expected BadSnapshot, got a state"),
        }
    }

    fn encoded(last_closed_at: Option<i64>, window: OpenWindow) -> Vec<u8> {
        let last = last_closed_at.map(|closed_at_micros| LastLedger { sequence: 9, closed_at_micros });
        encode(&AnalyticsConfig::default(), last, Some(&window))
    }

    #[test]
    fn a_valid_state_round_trips_with_sums_beyond_i64() {
        let big = i128::from(i64::MAX) * 3;
        let window = OpenWindow::from_totals(
            10 * MINUTE,
            vec![totals("AAA", 3, big, i64::MAX, i64::MAX, 3), totals("BBB", 1, 5, 5, 5, 0)],
        );
        let bytes = encoded(Some(10 * MINUTE + 5), window);
        let state = decode(&AnalyticsConfig::default(), &bytes).unwrap();
        assert_eq!(state.last, Some(LastLedger { sequence: 9, closed_at_micros: 10 * MINUTE + 5 }));
        let window = state.open_window.unwrap();
        assert_eq!(window.start_micros, 10 * MINUTE);
        assert_eq!(window.sorted_totals()[0].amount_sum, big);
        assert_eq!(encode(&AnalyticsConfig::default(), state.last, Some(&window)), bytes);
    }

    #[test]
    fn impossible_states_are_refused_with_a_reason() {
        let ok = || totals("AAA", 2, 10, 4, 6, 1);
        let window = |totals| OpenWindow::from_totals(10 * MINUTE, totals);
        let at = Some(10 * MINUTE);
        assert!(reason(&encoded(None, window(vec![ok()]))).contains("no last ledger"));
        assert!(reason(&encoded(Some(11 * MINUTE), window(vec![ok()]))).contains("watermark"));
        assert!(reason(&encoded(at, window(vec![totals("AAA", 0, 0, 0, 0, 0)]))).contains("payment_count"));
        assert!(reason(&encoded(at, window(vec![totals("AAA", 2, 10, 6, 4, 0)]))).contains("amount_min"));
        assert!(
            reason(&encoded(at, window(vec![totals("AAA", 2, 10, 4, 6, 3)]))).contains("high_value_count")
        );
        assert!(reason(&encoded(at, window(vec![totals("AAA", 2, 13, 4, 6, 0)]))).contains("amount_sum"));
        let twice = window(vec![ok(), ok()]);
        assert!(reason(&encoded(at, twice)).contains("distinct and sorted"));

        let mut flag = encode(&AnalyticsConfig::default(), None, None);
        let last_marker = flag.len() - 2;
        flag[last_marker] = 2;
        assert!(reason(&flag).contains("not 0 or 1"));

        let mut bad_utf8 = encoded(at, window(vec![ok()]));
        let code_byte = bad_utf8.iter().rposition(|byte| *byte == b'A').unwrap();
        bad_utf8[code_byte] = 0xff;
        assert!(reason(&bad_utf8).contains("UTF-8"));
    }

    #[test]
    fn unselected_assets_are_refused() {
        let config = AnalyticsConfig {
            assets: vec![super::super::AssetSelector::Native],
            ..AnalyticsConfig::default()
        };
        let window = OpenWindow::from_totals(0, vec![totals("AAA", 1, 1, 1, 1, 0)]);
        let bytes = encode(&config, Some(LastLedger { sequence: 1, closed_at_micros: 0 }), Some(&window));
        match decode(&config, &bytes) {
            Err(AnalyticsError::BadSnapshot { reason, .. }) => {
                assert!(reason.contains("does not select"), "{reason}")
            }
            _ => panic!("expected BadSnapshot"),
        }
    }
}
