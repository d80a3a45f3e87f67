//! The aggregate distribution computed, not sampled: the cross-check of the Monte Carlo, and
//! a fast mode.
//!
//! The per-event layer loss Y = min(max(min(X, sublimit) − d, 0), L) is discretised on a
//! grid of step h by local moment matching (De Vylder), which keeps E[Y] exact: from the
//! closed-form limited expected value when the severity is one lognormal (or spliced GPD),
//! otherwise from a large seeded sample of events. The annual layer loss is then
//! S = min(Y₁ + … + Y_N, A) with N Poisson or negative binomial, whose distribution is the
//! compound of the discretised Y: the probability generating function of N applied to Y's
//! discrete Fourier transform (the FFT form of Panjer's recursion, O(M log M) instead of
//! O(M²), so heavy tails can have a fine grid). The grid is padded to twice the range that
//! holds all but ~1e-8 of the mass, so wrap-around is negligible.

use std::collections::BTreeMap;

use rustfft::FftPlanner;
use rustfft::num_complex::Complex64;

use crate::error::{Result, invalid};
use crate::frequency::Frequency;
use crate::severity::{Coverage, EventModel, EventType};
use crate::simulate::{LayerResult, SimResult, Split, batch_rng};
use crate::stats::{EpPoint, LEVELS, RETURN_PERIODS};
use crate::terms::Layer;

/// Grid points of the transform (twice the range of the aggregate that is kept).
pub const GRID_POINTS: usize = 1 << 20;
/// Events sampled to describe a multi-coverage severity.
pub const EMPIRICAL_EVENTS: usize = 1 << 20;

/// What the per-event layer loss Y looks like, however it was obtained.
struct PerEvent {
    /// E[min(Y, y)] for y ≥ 0.
    lev: Box<dyn Fn(f64) -> f64>,
    /// P(Y ≤ y).
    cdf: Box<dyn Fn(f64) -> f64>,
    /// Y never exceeds this.
    cap: f64,
    /// P(Y = 0): the event stays within the deductible.
    p_zero: f64,
    gross_mean: f64,
    gross_second_moment: f64,
    /// Layer and gross per coverage and event type, per event (pro rata within an event).
    coverage: [Split; Coverage::COUNT],
    event_type: [Split; EventType::COUNT],
}

fn per_event(events: &EventModel, layer: &Layer, seed: u64) -> PerEvent {
    let d = layer.deductible;
    let l = layer.limit.unwrap_or(f64::INFINITY);
    let sub = layer.sublimit_array();
    if let Some((ln, coverage)) = events.as_single() {
        let s = sub[coverage.index()];
        // Ground-up is capped by the sublimit first, then the layer applies.
        let upper = s.min(if l.is_finite() {
            d + l
        } else {
            ln.quantile(1.0 - 1e-10).max(d)
        });
        let cap = (upper - d).max(0.0);
        let lev = move |y: f64| {
            let y = y.min(cap);
            ln.lev(d + y) - ln.lev(d)
        };
        let cdf = move |y: f64| if y >= cap { 1.0 } else { ln.cdf(d + y) };
        let mean = ln.mean();
        let second = if ln.has_tail() {
            f64::NAN
        } else {
            (2.0 * ln.mu + 2.0 * ln.sigma * ln.sigma).exp()
        };
        let layer_mean = lev(cap);
        let mut coverage_split = [Split::default(); Coverage::COUNT];
        coverage_split[coverage.index()] = Split {
            gross: mean,
            layer: layer_mean,
        };
        let mut type_split = [Split::default(); EventType::COUNT];
        type_split[events.types()[0].event_type.index()] = Split {
            gross: mean,
            layer: layer_mean,
        };
        return PerEvent {
            lev: Box::new(lev),
            cdf: Box::new(cdf),
            cap,
            p_zero: ln.cdf(d.min(s)),
            gross_mean: mean,
            gross_second_moment: second,
            coverage: coverage_split,
            event_type: type_split,
        };
    }
    // Compound severity: describe Y by a large seeded sample.
    let mut rng = batch_rng(seed, u64::MAX);
    let mut ys = Vec::with_capacity(EMPIRICAL_EVENTS);
    let (mut g1, mut g2) = (0.0, 0.0);
    let mut coverage_split = [Split::default(); Coverage::COUNT];
    let mut type_split = [Split::default(); EventType::COUNT];
    for _ in 0..EMPIRICAL_EVENTS {
        let e = events.sample(&mut rng);
        let mut covered = 0.0;
        let mut parts = [0.0; Coverage::COUNT];
        for (i, x) in e.by_coverage.iter().enumerate() {
            parts[i] = x.min(sub[i]);
            covered += parts[i];
            coverage_split[i].gross += x;
        }
        let g = e.total();
        g1 += g;
        g2 += g * g;
        type_split[e.event_type].gross += g;
        let y = (covered - d).max(0.0).min(l);
        if y > 0.0 {
            for (c, p) in coverage_split.iter_mut().zip(&parts) {
                c.layer += p * y / covered;
            }
            type_split[e.event_type].layer += y;
        }
        ys.push(y);
    }
    let m = EMPIRICAL_EVENTS as f64;
    for c in coverage_split.iter_mut().chain(type_split.iter_mut()) {
        c.gross /= m;
        c.layer /= m;
    }
    ys.sort_unstable_by(f64::total_cmp);
    let cap = *ys.last().unwrap_or(&0.0);
    let p_zero = ys.partition_point(|&y| y <= 0.0) as f64 / m;
    // Prefix sums make E[min(Y, y)] an O(log n) look-up.
    let mut prefix = Vec::with_capacity(ys.len() + 1);
    prefix.push(0.0);
    let mut acc = 0.0;
    for &y in &ys {
        acc += y;
        prefix.push(acc);
    }
    let ys = std::rc::Rc::new(ys);
    let ys2 = ys.clone();
    let lev = move |y: f64| {
        let i = ys.partition_point(|&v| v <= y);
        (prefix[i] + y * (ys.len() - i) as f64) / ys.len() as f64
    };
    let cdf = move |y: f64| ys2.partition_point(|&v| v <= y) as f64 / ys2.len() as f64;
    PerEvent {
        lev: Box::new(lev),
        cdf: Box::new(cdf),
        cap,
        p_zero,
        gross_mean: g1 / m,
        gross_second_moment: g2 / m,
        coverage: coverage_split,
        event_type: type_split,
    }
}

/// The p-quantile of the per-event layer loss, by bisection on its CDF.
fn quantile_of(y: &PerEvent, p: f64) -> f64 {
    let (mut lo, mut hi) = (0.0, y.cap);
    if (y.cdf)(0.0) >= p {
        return 0.0;
    }
    for _ in 0..200 {
        let mid = 0.5 * (lo + hi);
        if (y.cdf)(mid) >= p {
            hi = mid;
        } else {
            lo = mid;
        }
    }
    hi
}

/// The probability generating function of N at a complex point.
fn pgf_complex(f: &Frequency, z: Complex64) -> Complex64 {
    match *f {
        Frequency::Poisson { lambda } => ((z - 1.0) * lambda).exp(),
        Frequency::NegativeBinomial { lambda, shape } => {
            (Complex64::new(1.0, 0.0) - (z - 1.0) * (lambda / shape)).powf(-shape)
        }
    }
}

/// Probability generating function of N at z.
fn pgf(f: &Frequency, z: f64) -> f64 {
    match *f {
        Frequency::Poisson { lambda } => (lambda * (z - 1.0)).exp(),
        Frequency::NegativeBinomial { lambda, shape } => {
            (1.0 - lambda / shape * (z - 1.0)).powf(-shape)
        }
    }
}

/// The aggregate distribution of the annual layer loss, with the same outputs as the
/// simulation (`trials` is 0: nothing was sampled for the aggregate).
pub fn aggregate(
    events: &EventModel,
    frequency: Frequency,
    layer: &Layer,
    seed: u64,
) -> Result<SimResult> {
    let y = per_event(events, layer, seed);
    let lambda = frequency.mean();
    let pmf_n = frequency.pmf(1);
    // Largest count worth representing: P(N > n_max) < 1e-12.
    let mut tail = 1.0;
    let mut n_max = 0usize;
    for (n, p) in pmf_n.iter().enumerate() {
        tail -= p;
        n_max = n;
        if tail < 1e-12 {
            break;
        }
    }
    let agg = layer.aggregate_limit.unwrap_or(f64::INFINITY);
    // Range of the unlimited aggregate worth representing: one event up to the cap plus the
    // others up to Y's 1 − 1e-4 quantile (for subexponential tails the large values come
    // from one event), or n_max events at the cap if that is smaller.
    let y_high = quantile_of(&y, 1.0 - 1e-4);
    let range = (y.cap + (n_max.max(1) - 1) as f64 * y_high).min(n_max.max(1) as f64 * y.cap);
    if !range.is_finite() {
        return Err(invalid(
            "limit",
            "the exact method needs a bounded per-event loss",
        ));
    }
    let m = GRID_POINTS;
    let (h, fs) = if range > 0.0 {
        let h = range / (m / 2) as f64;
        // Local moment matching: f_j = (2 LEV(jh) − LEV((j−1)h) − LEV((j+1)h)) / h.
        let j_max = ((y.cap / h).ceil() as usize).clamp(1, m / 2);
        let lev: Vec<f64> = (0..=j_max + 1).map(|j| (y.lev)(j as f64 * h)).collect();
        let mut buf = vec![Complex64::new(0.0, 0.0); m];
        buf[0].re = 1.0 - lev[1] / h;
        // Round-off in the second differences is symmetric: left as it is, it cancels;
        // clamped at zero it would add mass far in the tail.
        for j in 1..=j_max {
            buf[j].re = (2.0 * lev[j] - lev[j - 1] - lev[j + 1]) / h;
        }
        let mut planner = FftPlanner::<f64>::new();
        planner.plan_fft_forward(m).process(&mut buf);
        for z in &mut buf {
            *z = pgf_complex(&frequency, *z);
        }
        planner.plan_fft_inverse(m).process(&mut buf);
        let scale = 1.0 / m as f64;
        // Keep the represented range; the padding above it holds (almost) nothing. Round-off
        // leaves values of ±1e-17 or so: they are kept as they are, because clamping them to
        // zero would add mass, and far out in the tail a little mass is a lot of money.
        let mut fs: Vec<f64> = buf[..m / 2].iter().map(|z| z.re * scale).collect();
        // Apply the aggregate limit: everything at or above A sits at A.
        if agg.is_finite() {
            let cut = ((agg / h).round() as usize).min(fs.len() - 1);
            let above: f64 = fs[cut..].iter().sum();
            fs.truncate(cut + 1);
            fs[cut] = above;
        }
        (h, fs)
    } else {
        (1.0, vec![1.0])
    };
    let mut fs = fs;
    // Mass beyond the range (≲ 1e-8), if any, sits at its top.
    let covered: f64 = fs.iter().sum();
    if covered < 1.0 - 1e-12
        && let Some(last) = fs.last_mut()
    {
        *last += 1.0 - covered;
    }

    let mean: f64 = fs.iter().enumerate().map(|(s, p)| s as f64 * h * p).sum();
    let second: f64 = fs
        .iter()
        .enumerate()
        .map(|(s, p)| (s as f64 * h).powi(2) * p)
        .sum();
    let std_dev = (second - mean * mean).max(0.0).sqrt();
    let quantile = |alpha: f64| -> (usize, f64) {
        let mut cum = 0.0;
        for (s, p) in fs.iter().enumerate() {
            cum += p;
            if cum >= alpha - 1e-12 {
                return (s, cum);
            }
        }
        (fs.len() - 1, 1.0)
    };
    let mut var = BTreeMap::new();
    let mut tvar = BTreeMap::new();
    for (alpha, key) in LEVELS {
        let (s_var, cum) = quantile(alpha);
        let beyond: f64 = fs
            .iter()
            .enumerate()
            .skip(s_var + 1)
            .map(|(s, p)| s as f64 * h * p)
            .sum();
        let v = s_var as f64 * h;
        var.insert(key, v);
        tvar.insert(key, (beyond + v * (cum - alpha)) / (1.0 - alpha));
    }
    let ep_curve = RETURN_PERIODS
        .iter()
        .map(|&rp| {
            let p = 1.0 / rp as f64;
            EpPoint {
                return_period: rp as f64,
                probability: p,
                loss: quantile(1.0 - p).0 as f64 * h,
            }
        })
        .collect();
    // Occurrence: P(largest Y ≤ y) = pgf(F_Y(y)).
    let occurrence_ep_curve = RETURN_PERIODS
        .iter()
        .map(|&rp| {
            let p = 1.0 / rp as f64;
            let (mut lo, mut hi) = (0.0, y.cap);
            if pgf(&frequency, (y.cdf)(0.0)) >= 1.0 - p {
                hi = 0.0;
            }
            for _ in 0..100 {
                let mid = 0.5 * (lo + hi);
                if pgf(&frequency, (y.cdf)(mid)) >= 1.0 - p {
                    hi = mid;
                } else {
                    lo = mid;
                }
            }
            EpPoint {
                return_period: rp as f64,
                probability: p,
                loss: hi,
            }
        })
        .collect();

    let var_n = match frequency {
        Frequency::Poisson { lambda } => lambda,
        Frequency::NegativeBinomial { lambda, shape } => lambda + lambda * lambda / shape,
    };
    // Var(S) = E[N] Var(X) + Var(N) E[X]².
    let gross_var =
        lambda * (y.gross_second_moment - y.gross_mean.powi(2)) + var_n * y.gross_mean.powi(2);
    // Layer parts by coverage, scaled to the exact layer mean (the aggregate limit applies
    // to all parts alike).
    let per_event_layer: f64 = y.coverage.iter().map(|c| c.layer).sum();
    let scale = if per_event_layer > 0.0 {
        mean / (lambda * per_event_layer)
    } else {
        0.0
    };
    let split = |s: Split| Split {
        gross: lambda * s.gross,
        layer: lambda * s.layer * scale,
    };
    let keep = |entries: Vec<(&'static str, Split)>| -> BTreeMap<&'static str, Split> {
        entries
            .into_iter()
            .filter(|(_, s)| s.gross > 0.0 || s.layer > 0.0)
            .collect()
    };
    Ok(SimResult {
        method: "fft",
        trials: 0,
        seed,
        frequency,
        expected_loss: lambda * y.gross_mean,
        gross_std_dev: if gross_var.is_finite() {
            gross_var.max(0.0).sqrt()
        } else {
            f64::NAN
        },
        layer: LayerResult {
            deductible: layer.deductible,
            limit: layer.limit,
            aggregate_limit: layer.aggregate_limit,
            sublimits: layer.sublimits.clone(),
            expected_loss: mean,
            standard_error: None,
            attach_probability: 1.0 - pgf(&frequency, y.p_zero),
        },
        std_dev,
        var,
        tvar,
        ep_curve,
        occurrence_ep_curve,
        by_coverage: keep(
            Coverage::ALL
                .iter()
                .map(|c| (c.as_str(), split(y.coverage[c.index()])))
                .collect(),
        ),
        by_event_type: keep(
            EventType::ALL
                .iter()
                .map(|t| (t.as_str(), split(y.event_type[t.index()])))
                .collect(),
        ),
        events_simulated: 0,
    })
}
