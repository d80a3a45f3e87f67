//! Event-level Monte Carlo for one organisation: draw each loss year's events, each event's
//! severity, apply the layer per occurrence and in aggregate — never "frequency × one
//! severity". Years without events, most years for an insured, are never visited: no output
//! depends on the order of years, so a batch of B years draws how many of them have a loss
//! (Binomial(B, 1 − P(N = 0))) and then only those years' counts (N given N ≥ 1).
//!
//! Reproducible: batches of [`BATCH_YEARS`] years each own an RNG stream (see [`batch_rng`])
//! and are reduced in batch order, so the thread count never changes a number.

use std::collections::BTreeMap;

use rand::SeedableRng;
use rand_distr::{Binomial, Distribution, StandardNormal};
use rand_xoshiro::Xoshiro256PlusPlus;
use rayon::prelude::*;
use serde::Serialize;

use crate::error::{Result, invalid};
use crate::frequency::{CountSampler, Frequency};
use crate::severity::{Coverage, EventModel, EventType, uniform};
use crate::stats::{EpPoint, tail_stats};
use crate::terms::Layer;

/// Years per batch (and per RNG stream).
pub const BATCH_YEARS: u64 = 1 << 16;
/// Most years one run may simulate.
pub const MAX_TRIALS: u64 = 100_000_000;

/// What to simulate.
#[derive(Debug, Clone)]
pub struct SimSpec<'a> {
    pub events: &'a EventModel,
    pub frequency: Frequency,
    pub layer: &'a Layer,
    pub trials: u64,
    pub seed: u64,
}

/// Losses split by coverage or event type: ground-up and in the layer (pro rata).
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Split {
    pub gross: f64,
    pub layer: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LayerResult {
    pub deductible: f64,
    pub limit: Option<f64>,
    pub aggregate_limit: Option<f64>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub sublimits: BTreeMap<Coverage, f64>,
    /// Expected annual loss in the layer.
    pub expected_loss: f64,
    /// Standard error of `expected_loss` (Monte Carlo only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub standard_error: Option<f64>,
    /// Probability that the layer pays anything in a year.
    pub attach_probability: f64,
}

/// The result of a simulation (or of the exact computation in `exact`, same shape).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SimResult {
    pub method: &'static str,
    pub trials: u64,
    pub seed: u64,
    pub frequency: Frequency,
    /// Expected annual ground-up loss.
    pub expected_loss: f64,
    pub gross_std_dev: f64,
    pub layer: LayerResult,
    /// Standard deviation of the annual layer loss.
    pub std_dev: f64,
    /// VaR and TVaR of the annual layer loss (the gross loss when the layer is unlimited
    /// with no deductible).
    pub var: BTreeMap<&'static str, f64>,
    pub tvar: BTreeMap<&'static str, f64>,
    /// Aggregate exceedance curve of the annual layer loss.
    pub ep_curve: Vec<EpPoint>,
    /// Occurrence exceedance curve: the largest single layer loss of the year.
    pub occurrence_ep_curve: Vec<EpPoint>,
    pub by_coverage: BTreeMap<&'static str, Split>,
    pub by_event_type: BTreeMap<&'static str, Split>,
    pub events_simulated: u64,
}

/// One batch's sums; its loss years are written into slices of the run's result arrays.
#[derive(Debug, Default)]
struct BatchSums {
    gross_sum: f64,
    gross_sq: f64,
    layer_sum: f64,
    layer_sq: f64,
    attached: u64,
    events: u64,
    coverage: [Split; Coverage::COUNT],
    event_type: [Split; EventType::COUNT],
}

/// The simulation's generator: xoshiro256++ (a 2^256 − 1 period, 0.8 ns a draw here against
/// 2.7 ns for ChaCha8, which made it a third of the sampling time).
pub type SimRng = Xoshiro256PlusPlus;

/// SplitMix64's output function: a bijection on u64 with good avalanche.
fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// The RNG of stream `stream` (a batch, or a portfolio year) of run `seed`. Every (seed,
/// stream) pair gets a distinct 256-bit starting state (two words from each), so streams never
/// coincide; in a 2^256 period their overlap has negligible probability.
pub fn batch_rng(seed: u64, stream: u64) -> SimRng {
    let words = [
        mix(seed),
        mix(seed ^ 0xD1B5_4A32_D192_ED03),
        mix(stream),
        mix(stream ^ 0x8CB9_2BA7_2F3D_8DD7),
    ];
    let mut bytes = [0u8; 32];
    for (chunk, w) in bytes.chunks_exact_mut(8).zip(words) {
        chunk.copy_from_slice(&w.to_le_bytes());
    }
    SimRng::from_seed(bytes)
}

/// The first draw of every batch: how many of its years have at least one event.
fn loss_years(rng: &mut SimRng, years: u64, p0: f64) -> u64 {
    if p0 >= 1.0 {
        return 0;
    }
    Binomial::new(years, 1.0 - p0).map_or(years, |b| b.sample(rng))
}

/// Simulates one batch's loss years, writing each year's layer loss and largest occurrence
/// into `layer_out` and `occ_out` (one slot per loss year).
fn run_batch(
    spec: &SimSpec<'_>,
    counts: &CountSampler,
    b: u64,
    years: u64,
    layer_out: &mut [f64],
    occ_out: &mut [f64],
) -> BatchSums {
    let mut rng = batch_rng(spec.seed, b);
    let m = loss_years(&mut rng, years, counts.p0);
    debug_assert_eq!(m as usize, layer_out.len());
    let mut out = BatchSums::default();
    let layer = spec.layer;
    let sub = layer.sublimit_array();
    let d = layer.deductible;
    let l = layer.limit.unwrap_or(f64::INFINITY);
    let agg = layer.aggregate_limit.unwrap_or(f64::INFINITY);
    match spec.events.as_single() {
        // One lognormal per event: the hot path. Sums stay in locals (registers).
        Some((ln, coverage)) => {
            let cap = sub[coverage.index()];
            let et = spec.events.types()[0].event_type.index();
            let (mut gs, mut gq, mut ls, mut lq, mut events, mut attached) =
                (0.0, 0.0, 0.0, 0.0, 0u64, 0u64);
            let tailless = !ln.has_tail();
            for (lo, oo) in layer_out.iter_mut().zip(occ_out.iter_mut()) {
                let n = counts.positive_count(uniform(&mut rng));
                let (mut gross, mut occ_sum, mut occ_max) = (0.0, 0.0, 0.0f64);
                for _ in 0..n {
                    let z: f64 = StandardNormal.sample(&mut rng);
                    let x = if tailless {
                        (ln.mu + ln.sigma * z).exp()
                    } else {
                        ln.from_normal(z)
                    };
                    let occ = (x.min(cap) - d).max(0.0).min(l);
                    gross += x;
                    occ_sum += occ;
                    occ_max = occ_max.max(occ);
                }
                let annual = occ_sum.min(agg);
                events += u64::from(n);
                gs += gross;
                gq += gross * gross;
                ls += annual;
                lq += annual * annual;
                attached += u64::from(annual > 0.0);
                *lo = annual;
                *oo = occ_max.min(annual);
            }
            out = BatchSums {
                gross_sum: gs,
                gross_sq: gq,
                layer_sum: ls,
                layer_sq: lq,
                attached,
                events,
                ..out
            };
            out.coverage[coverage.index()] = Split {
                gross: gs,
                layer: ls,
            };
            out.event_type[et] = Split {
                gross: gs,
                layer: ls,
            };
        }
        None => {
            let mut cov_layer = [0.0; Coverage::COUNT];
            let mut type_layer = [0.0; EventType::COUNT];
            for (lo, oo) in layer_out.iter_mut().zip(occ_out.iter_mut()) {
                let n = counts.positive_count(uniform(&mut rng));
                let (mut gross, mut occ_sum, mut occ_max) = (0.0, 0.0, 0.0f64);
                cov_layer.fill(0.0);
                type_layer.fill(0.0);
                for _ in 0..n {
                    let e = spec.events.sample(&mut rng);
                    let mut covered = 0.0;
                    let mut parts = [0.0; Coverage::COUNT];
                    for (i, x) in e.by_coverage.iter().enumerate() {
                        parts[i] = x.min(sub[i]);
                        covered += parts[i];
                        out.coverage[i].gross += x;
                    }
                    let g = e.total();
                    gross += g;
                    out.event_type[e.event_type].gross += g;
                    let occ = (covered - d).max(0.0).min(l);
                    if occ > 0.0 {
                        let share = occ / covered;
                        for (c, p) in cov_layer.iter_mut().zip(&parts) {
                            *c += p * share;
                        }
                        type_layer[e.event_type] += occ;
                    }
                    occ_sum += occ;
                    occ_max = occ_max.max(occ);
                }
                let annual = occ_sum.min(agg);
                if annual > 0.0 {
                    // The aggregate limit scales every part of the year's layer loss alike.
                    let f = annual / occ_sum;
                    for (o, v) in out.coverage.iter_mut().zip(&cov_layer) {
                        o.layer += v * f;
                    }
                    for (o, v) in out.event_type.iter_mut().zip(&type_layer) {
                        o.layer += v * f;
                    }
                    out.attached += 1;
                }
                out.events += u64::from(n);
                out.gross_sum += gross;
                out.gross_sq += gross * gross;
                out.layer_sum += annual;
                out.layer_sq += annual * annual;
                *lo = annual;
                *oo = occ_max.min(annual);
            }
        }
    }
    out
}

/// Runs the simulation; `progress` is called with the number of years each finished batch
/// covered.
pub fn simulate(spec: &SimSpec<'_>, progress: &(dyn Fn(u64) + Sync)) -> Result<SimResult> {
    if spec.trials == 0 {
        return Err(invalid("trials", "must be at least 1"));
    }
    if spec.trials > MAX_TRIALS {
        return Err(invalid(
            "trials",
            format!("at most {MAX_TRIALS}, got {}", spec.trials),
        ));
    }
    let counts = CountSampler::new(&spec.frequency);
    let n = spec.trials;
    let batches = n.div_ceil(BATCH_YEARS);
    let years_of = |b: u64| BATCH_YEARS.min(n - b * BATCH_YEARS);

    // How many loss years each batch has (its stream's first draw), so the results can go
    // straight into two arrays of exactly the right size.
    let sizes: Vec<u64> = (0..batches)
        .map(|b| loss_years(&mut batch_rng(spec.seed, b), years_of(b), counts.p0))
        .collect();
    let total = sizes.iter().sum::<u64>() as usize;
    let mut layer_years = vec![0.0; total];
    let mut occurrence_years = vec![0.0; total];
    let mut slices = Vec::with_capacity(sizes.len());
    let (mut rest_l, mut rest_o) = (layer_years.as_mut_slice(), occurrence_years.as_mut_slice());
    for &m in &sizes {
        let (l, rl) = rest_l.split_at_mut(m as usize);
        let (o, ro) = rest_o.split_at_mut(m as usize);
        slices.push((l, o));
        rest_l = rl;
        rest_o = ro;
    }
    let sums: Vec<BatchSums> = slices
        .into_par_iter()
        .enumerate()
        .map(|(b, (l, o))| {
            let b = b as u64;
            let out = run_batch(spec, &counts, b, years_of(b), l, o);
            progress(years_of(b));
            out
        })
        .collect();

    // Reduce in batch order.
    let (mut gs, mut gq, mut ls, mut lq, mut events, mut attached) =
        (0.0, 0.0, 0.0, 0.0, 0u64, 0u64);
    let mut coverage = [Split::default(); Coverage::COUNT];
    let mut event_type = [Split::default(); EventType::COUNT];
    for o in &sums {
        gs += o.gross_sum;
        gq += o.gross_sq;
        ls += o.layer_sum;
        lq += o.layer_sq;
        events += o.events;
        attached += o.attached;
        add_splits(&mut coverage, &o.coverage);
        add_splits(&mut event_type, &o.event_type);
    }
    let nf = n as f64;
    let sd = |sum: f64, sq: f64| {
        let mean = sum / nf;
        if n > 1 {
            ((sq - nf * mean * mean) / (nf - 1.0)).max(0.0).sqrt()
        } else {
            0.0
        }
    };
    let (tail, occ_tail) = rayon::join(
        || tail_stats(&mut layer_years, n),
        || tail_stats(&mut occurrence_years, n),
    );
    let std_dev = sd(ls, lq);
    let per_year = |s: Split| Split {
        gross: s.gross / nf,
        layer: s.layer / nf,
    };
    Ok(SimResult {
        method: "monte_carlo",
        trials: n,
        seed: spec.seed,
        frequency: spec.frequency,
        expected_loss: gs / nf,
        gross_std_dev: sd(gs, gq),
        layer: LayerResult {
            deductible: spec.layer.deductible,
            limit: spec.layer.limit,
            aggregate_limit: spec.layer.aggregate_limit,
            sublimits: spec.layer.sublimits.clone(),
            expected_loss: ls / nf,
            standard_error: Some(std_dev / nf.sqrt()),
            attach_probability: attached as f64 / nf,
        },
        std_dev,
        var: tail.var,
        tvar: tail.tvar,
        ep_curve: tail.ep_curve,
        occurrence_ep_curve: occ_tail.ep_curve,
        by_coverage: present(&Coverage::ALL.map(|c| (c.as_str(), per_year(coverage[c.index()])))),
        by_event_type: present(
            &EventType::ALL.map(|t| (t.as_str(), per_year(event_type[t.index()]))),
        ),
        events_simulated: events,
    })
}

fn add_splits(into: &mut [Split], from: &[Split]) {
    for (a, b) in into.iter_mut().zip(from) {
        a.gross += b.gross;
        a.layer += b.layer;
    }
}

/// Keeps the entries with any loss.
fn present(entries: &[(&'static str, Split)]) -> BTreeMap<&'static str, Split> {
    entries
        .iter()
        .filter(|(_, s)| s.gross > 0.0 || s.layer > 0.0)
        .copied()
        .collect()
}
