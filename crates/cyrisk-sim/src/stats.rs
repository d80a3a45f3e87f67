//! Statistics of a simulated annual-loss sample stored sparsely (non-zero years only): VaR,
//! TVaR and exceedance-curve points from partial selection, never a full sort.

use std::collections::BTreeMap;

use serde::Serialize;

/// Confidence levels reported as VaR and TVaR, keyed "95", "99", "99.5".
pub const LEVELS: [(f64, &str); 3] = [(0.95, "95"), (0.99, "99"), (0.995, "99.5")];

/// Return periods of the exceedance curve (years).
pub const RETURN_PERIODS: [u64; 14] = [
    2, 5, 10, 20, 25, 50, 100, 200, 250, 500, 1000, 2000, 5000, 10000,
];

/// One point of an exceedance curve: the loss exceeded with this annual probability.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct EpPoint {
    pub return_period: f64,
    pub probability: f64,
    pub loss: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TailStats {
    pub var: BTreeMap<&'static str, f64>,
    pub tvar: BTreeMap<&'static str, f64>,
    pub ep_curve: Vec<EpPoint>,
}

/// The `k` of the k-th largest of `n` values that is the α-quantile: k = ⌈(1 − α) n⌉.
fn k_for(alpha: f64, n: u64) -> u64 {
    (((1.0 - alpha) * n as f64) - 1e-9).ceil().max(1.0) as u64
}

/// VaR, TVaR and EP points of `n` annual losses of which `values` holds all those that may
/// be positive (the rest are zero); `values` is reordered in place. VaR_α is the
/// ⌈(1 − α) n⌉-th largest loss and TVaR_α the mean of that many largest, so VaR ≤ TVaR
/// always. EP points are given where at least ten simulated years lie beyond them.
///
/// Successive partial selection, never a full sort: after selecting the k-th largest at
/// index m − k, the larger values lie above it, and the next (smaller) k is selected among
/// them only.
pub fn tail_stats(values: &mut [f64], n: u64) -> TailStats {
    let m = values.len() as u64;
    let ep_periods: Vec<u64> = RETURN_PERIODS
        .iter()
        .copied()
        .filter(|rp| n / rp >= 10)
        .collect();
    let mut ks: Vec<u64> = LEVELS.iter().map(|(a, _)| k_for(*a, n)).collect();
    ks.extend(ep_periods.iter().map(|rp| k_for(1.0 - 1.0 / *rp as f64, n)));
    ks.sort_unstable_by(|a, b| b.cmp(a));
    ks.dedup();
    let mut kth: BTreeMap<u64, f64> = BTreeMap::new();
    let mut lo = 0usize;
    for &k in &ks {
        if k > m {
            kth.insert(k, 0.0);
            continue;
        }
        let idx = (m - k) as usize;
        let (_, v, _) = values[lo..].select_nth_unstable_by(idx - lo, f64::total_cmp);
        kth.insert(k, *v);
        lo = idx + 1;
    }
    let top_sum = |k: u64| -> f64 { values[values.len() - k.min(m) as usize..].iter().sum() };
    let mut var = BTreeMap::new();
    let mut tvar = BTreeMap::new();
    for (alpha, key) in LEVELS {
        let k = k_for(alpha, n);
        var.insert(key, kth[&k]);
        tvar.insert(key, top_sum(k) / k as f64);
    }
    let ep_curve = ep_periods
        .iter()
        .map(|&rp| {
            let p = 1.0 / rp as f64;
            EpPoint {
                return_period: rp as f64,
                probability: p,
                loss: kth[&k_for(1.0 - p, n)],
            }
        })
        .collect();
    TailStats {
        var,
        tvar,
        ep_curve,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_a_full_sort() {
        // 1,000 years, 300 with losses 1..=300.
        let v: Vec<f64> = (1..=300).map(f64::from).rev().collect();
        let mut v = v;
        let t = tail_stats(&mut v, 1000);
        // k(0.95) = 50 → VaR = 251, TVaR = mean(251..=300) = 275.5.
        assert_eq!(t.var["95"], 251.0);
        assert_eq!(t.tvar["95"], 275.5);
        assert_eq!(t.var["99"], 291.0);
        assert_eq!(t.var["99.5"], 296.0);
        assert_eq!(t.tvar["99.5"], 298.0);
        // Return period 2: the 500th largest of 1,000 is a zero year.
        assert_eq!(t.ep_curve[0].loss, 0.0);
        let rp10 = t.ep_curve.iter().find(|p| p.return_period == 10.0).unwrap();
        assert_eq!(rp10.loss, 201.0);
        assert!(t.ep_curve.windows(2).all(|w| w[0].loss <= w[1].loss));
    }

    #[test]
    fn all_zero_years() {
        let t = tail_stats(&mut [], 10_000);
        assert_eq!(t.var["99.5"], 0.0);
        assert_eq!(t.tvar["99.5"], 0.0);
    }

    #[test]
    fn agrees_with_sorting_on_awkward_data() {
        // Ties, zeros, values spanning many magnitudes and values sharing a bucket.
        let mut x = 0x2545_f491_4f6c_dd1du64;
        let mut next = || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        for case in 0..50 {
            let n = 1000 + (next() % 20_000);
            let m = (next() % n) as usize;
            let v: Vec<f64> = (0..m)
                .map(|i| match (next() % 4, case % 3) {
                    (0, _) => 0.0,
                    (1, _) => 1000.0 + (i % 7) as f64,
                    (_, 0) => (next() % 1_000_000) as f64,
                    _ => f64::from_bits(0x4000_0000_0000_0000 | (next() >> 20)) * 1e3,
                })
                .collect();
            let t = tail_stats(&mut v.clone(), n);
            let mut sorted = v.clone();
            sorted.sort_by(|a, b| b.total_cmp(a));
            for (alpha, key) in LEVELS {
                let k = k_for(alpha, n) as usize;
                let expect_var = if k <= m { sorted[k - 1] } else { 0.0 };
                let expect_tvar = sorted[..k.min(m)].iter().sum::<f64>() / k as f64;
                assert_eq!(t.var[key], expect_var, "case {case} VaR {key}");
                assert!(
                    (t.tvar[key] - expect_tvar).abs() <= 1e-9 * expect_tvar.max(1.0),
                    "case {case} TVaR {key}"
                );
                assert!(t.var[key] <= t.tvar[key] + 1e-9 * t.tvar[key]);
            }
        }
    }
}
