//! Amounts in stroops with a long tail, in integer arithmetic only (floating-point `ln`/`exp`
//! may differ between platforms' libm; integers keep ledgers byte-identical everywhere).
//!
//! A payment's value in USD is drawn decade by decade: 65% below $100, ~7% at $10k or more,
//! ~2.5% at $100k or more, 0.1% between $10M and $100M. The value is converted to the asset's
//! units with a fixed rough price, so a "high-value payment" threshold catches a few percent.

use rand::Rng;
use rand_chacha::ChaCha8Rng;

/// Weights (per 100,000) of the decades $0.1-1, $1-10, ..., $10M-100M.
const DECADE_WEIGHTS: [u32; 9] = [15_000, 25_000, 25_000, 18_000, 10_000, 4_500, 1_800, 600, 100];
const STROOPS_PER_UNIT: i128 = 10_000_000;
/// Cap on any amount, far below `i64::MAX` so sums over a ledger cannot overflow.
pub(super) const MAX_AMOUNT: i64 = i64::MAX / 1024;

/// A value in micro-USD, long-tailed.
pub(super) fn value_micro_usd(rng: &mut ChaCha8Rng) -> i128 {
    let mut roll = rng.random_range(0..100_000u32);
    let mut decade = 0u32;
    for (index, weight) in DECADE_WEIGHTS.iter().enumerate() {
        if roll < *weight {
            decade = index as u32;
            break;
        }
        roll -= weight;
    }
    // $0.1 to $1, times 10^decade.
    i128::from(rng.random_range(100_000..1_000_000u32)) * 10i128.pow(decade)
}

/// Stroops of an asset priced `price_micro_usd` per unit that are worth `value_micro_usd`.
pub(super) fn stroops_for_value(value_micro_usd: i128, price_micro_usd: i64) -> i64 {
    clamp(value_micro_usd * STROOPS_PER_UNIT / i128::from(price_micro_usd))
}

/// `stroops` of an asset priced `from_price` converted to an asset priced `to_price`, less
/// `slippage_bps` basis points.
pub(super) fn convert(stroops: i64, from_price: i64, to_price: i64, slippage_bps: u32) -> i64 {
    let value = i128::from(stroops) * i128::from(from_price) / i128::from(to_price);
    clamp(value * i128::from(10_000 - slippage_bps.min(10_000)) / 10_000)
}

/// `amount` scaled by `basis_points / 10,000` (limits and bounds around an amount).
pub(super) fn scale(amount: i64, basis_points: u32) -> i64 {
    clamp(i128::from(amount) * i128::from(basis_points) / 10_000)
}

fn clamp(value: i128) -> i64 {
    value.clamp(1, i128::from(MAX_AMOUNT)) as i64
}

/// A rational price `n/d` (both fitting `i32`) close to `numerator/denominator`, off by up to
/// ±2%: the price of an offer selling an asset worth `numerator` for one worth `denominator`.
pub(super) fn offer_price(rng: &mut ChaCha8Rng, numerator: i64, denominator: i64) -> (i32, i32) {
    let jitter = i64::from(rng.random_range(980..=1_020u32));
    let mut n = numerator * jitter;
    let mut d = denominator * 1_000;
    let divisor = gcd(n, d);
    n /= divisor;
    d /= divisor;
    while n > i64::from(i32::MAX) || d > i64::from(i32::MAX) {
        n = (n / 10).max(1);
        d = (d / 10).max(1);
    }
    (n as i32, d as i32)
}

fn gcd(mut a: i64, mut b: i64) -> i64 {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a.max(1)
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng;

    use super::*;

    #[test]
    fn values_are_long_tailed() {
        let mut rng = ChaCha8Rng::seed_from_u64(7);
        let values: Vec<i128> = (0..100_000).map(|_| value_micro_usd(&mut rng)).collect();
        let share = |min_usd: i128| values.iter().filter(|v| **v >= min_usd * 1_000_000).count() as f64 / 1e5;
        assert!(share(100) > 0.25 && share(100) < 0.45, "share over $100: {}", share(100));
        assert!(share(100_000) > 0.015 && share(100_000) < 0.04, "share over $100k: {}", share(100_000));
        assert!(share(10_000_000) > 0.0003, "some whales: {}", share(10_000_000));
    }

    #[test]
    fn prices_fit_i32_and_conversions_stay_positive() {
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        for (a, b) in [(800, 2_500_000), (2_500_000, 800), (1_000_000, 1_080_000), (100_000, 100_000)] {
            let (n, d) = offer_price(&mut rng, a, b);
            assert!(n > 0 && d > 0);
            let ratio = f64::from(n) / f64::from(d);
            let expected = a as f64 / b as f64;
            assert!((ratio / expected - 1.0).abs() < 0.05, "{a}/{b}: {n}/{d}");
        }
        assert_eq!(convert(1, 800, 2_500_000, 50), 1);
        assert_eq!(convert(MAX_AMOUNT, 2_500_000, 800, 0), MAX_AMOUNT);
    }
}
