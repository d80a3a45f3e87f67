//! Model validation and recalibration for the annual incident-rate model.
//!
//! Each rated organisation `i` carries a predicted annual incident rate λᵢ (per year), the
//! years tᵢ it was observed for and the incidents nᵢ seen in that time. Two views are taken:
//!
//! * **Counts** (Poisson): nᵢ ~ Poisson(tᵢ·λᵢ). Actual-to-expected, the Poisson
//!   recalibration ln λ' = a + b·ln λ ([`fit_recalibration`]) and the per-factor effect checks
//!   are maximum-likelihood fits of Poisson generalised linear models with log link and
//!   offset ln tᵢ, solved by Newton–Raphson, which for the canonical link is iteratively
//!   reweighted least squares (Nelder & Wedderburn 1972; McCullagh & Nelder 1989, §2.5, §6.2).
//! * **Events** (binary): yᵢ = 1 if nᵢ ≥ 1, forecast by pᵢ = 1 − exp(−λᵢ·tᵢ), the Poisson
//!   probability of at least one incident. On these: discrimination (AUC through the
//!   Mann–Whitney statistic, Hanley & McNeil 1982), accuracy (Brier 1950, skill as in
//!   Murphy 1973), and calibration following the hierarchy of Van Calster et al. (2016, 2019):
//!   calibration-in-the-large, then the logistic recalibration intercept and slope
//!   (Cox 1958), then the decile reliability table (grouping as Hosmer & Lemeshow 1980;
//!   diagram as Murphy & Winkler 1977).
//!
//! Everything is deterministic: sums run in input order (or a fixed sorted order) and the
//! only parallel step (one independent fit per factor) is collected in factor order.
//! Nothing panics on data: invalid input is an error, undefined statistics are `None`.

use rayon::prelude::*;
use serde::Serialize;
use statrs::function::gamma::ln_gamma;

/// Predicted probabilities are clamped to [P_CLAMP, 1 − P_CLAMP] before taking logits.
const P_CLAMP: f64 = 1e-12;
/// Values whose range (max − min) is at most this are treated as having no spread.
const SPREAD_TOL: f64 = 1e-12;
/// Newton convergence: every parameter's full Newton step below this in absolute value.
const STEP_TOL: f64 = 1e-10;
/// Iteration caps.
const GLM_MAX_ITER: u32 = 100;
const FACTOR_MAX_ITER: u32 = 50;
/// Step halvings tried before a Newton iteration is given up.
const MAX_HALVINGS: u32 = 60;
/// A trial step is accepted unless it lowers the log-likelihood by more than this fraction
/// of (1 + |ℓ|): rounding noise in a sum over a million terms must not block convergence.
const LL_SLACK: f64 = 1e-11;

// ---------------------------------------------------------------------------------------
// Public types
// ---------------------------------------------------------------------------------------

/// One rated organisation with what happened to it afterwards.
#[derive(Debug, Clone, PartialEq)]
pub struct Observation {
    /// Identifier, used in error messages and to break ties in the decile sort.
    pub id: String,
    /// Predicted annual incident rate λ (> 0, per year).
    pub predicted_rate: f64,
    /// Years observed (> 0).
    pub exposure_years: f64,
    /// Incidents observed in those years.
    pub incidents: u32,
    /// Each factor's contribution to ln λ (β_k · (x_k − ref_k)), in the order of
    /// `factor_names` passed to [`validate`]. Ignored by [`fit_recalibration`].
    pub contributions: Vec<f64>,
}

/// Why validation or recalibration could not be carried out.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ValidationError {
    /// No observations were given.
    #[error("no observations: nothing to validate")]
    Empty,
    /// One observation is unusable; `message` names the offending field.
    #[error("observation {id:?}: {message}")]
    InvalidObservation { id: String, message: String },
    /// No incident at all was observed, so `what` (a log-scale level) is not identifiable:
    /// its maximum-likelihood estimate is −∞.
    #[error(
        "{what} is not identifiable: no incidents were observed (the maximum-likelihood level is -infinity)"
    )]
    NoEvents { what: String },
    /// The predicted log-rates ln λ are all equal (within 1e-12), so a slope on them
    /// cannot be estimated.
    #[error("{what} cannot be fitted: the predicted log-rates ln(lambda) have no spread")]
    NoSpread { what: String },
    /// A Newton–Raphson fit did not converge within its iteration cap (typically because the
    /// maximum-likelihood estimate does not exist for these data).
    #[error("{what} did not converge")]
    DidNotConverge { what: String },
    /// A total over the observations overflowed.
    #[error("{what} is not finite (overflow)")]
    NonFinite { what: String },
}

/// One group of the reliability table: organisations sorted by predicted probability
/// p = 1 − exp(−λt) and split into (at most) ten groups of near-equal size.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Decile {
    /// Group number, 1 (lowest predicted probabilities) to 10.
    pub decile: usize,
    /// Organisations in the group.
    pub count: usize,
    /// Mean predicted probability of at least one incident in the group.
    pub mean_predicted: f64,
    /// Share of the group with at least one incident.
    pub observed: f64,
    /// Smallest predicted probability in the group.
    pub lower_predicted: f64,
    /// Largest predicted probability in the group.
    pub upper_predicted: f64,
}

/// Check of one rating factor's strength against the observed counts.
///
/// Fitted model (one factor at a time, everything else held at the model's values):
/// nᵢ ~ Poisson(tᵢ·λᵢ·exp(θ·c_{ik})) where c_{ik} is the factor's contribution to ln λᵢ.
/// The data then support a contribution of (1 + θ)·c_k, reported as `scale` = 1 + θ̂.
/// Poisson log-link GLM with offset ln(tλ), fitted by Newton–Raphson (McCullagh & Nelder 1989).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FactorEffect {
    /// Factor name, as passed to [`validate`].
    pub factor: String,
    /// 1 + θ̂ in nᵢ ~ Poisson(tᵢ·λᵢ·exp(a + θ·c_{ik})), a fitted with θ: 1 means the
    /// model's effect is right, above 1 the data say the factor matters more, below 1 less
    /// (0: not at all). One factor at a time, so correlated factors share credit.
    pub scale: f64,
    /// Standard error of `scale` (equal to that of θ̂): from the inverse of the 2×2 Fisher
    /// information of (a, θ) at the optimum.
    pub standard_error: f64,
    /// Share of organisations where this factor's contribution is nonzero (0..=1).
    pub varying: f64,
}

/// Result of [`validate`]: volumes, overall calibration, discrimination, accuracy,
/// calibration hierarchy, reliability table and factor-strength checks.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Validation {
    /// Number of organisations.
    pub organizations: usize,
    /// Σ t (years).
    pub exposure_years: f64,
    /// Σ n.
    pub incidents: u64,
    /// Σ incidents / Σ exposure years (per year).
    pub observed_rate: f64,
    /// Σ t·λ / Σ t (per year).
    pub predicted_rate: f64,
    /// Actual ÷ expected: Σ n / Σ t·λ (dimensionless; 1 is calibrated in the large).
    pub actual_to_expected: f64,
    /// Mean of pᵢ = 1 − exp(−λᵢ tᵢ), the predicted probability of at least one incident.
    pub mean_predicted_probability: f64,
    /// Mean of yᵢ = [nᵢ ≥ 1].
    pub observed_frequency: f64,
    /// Area under the ROC curve of p for y, i.e. the Mann–Whitney U statistic divided by
    /// n₁·n₀ with ties counted ½ (Mann & Whitney 1947; Hanley & McNeil 1982).
    /// `None` when only one class (all y = 0 or all y = 1) is present: AUC is undefined.
    pub auc: Option<f64>,
    /// Brier score (1/N) Σ (pᵢ − yᵢ)² (Brier 1950).
    pub brier: f64,
    /// Brier of the constant forecast ȳ (climatology): ȳ(1 − ȳ).
    pub brier_reference: f64,
    /// Brier skill score 1 − brier / brier_reference (Murphy 1973).
    /// `None` when brier_reference = 0 (only one class present).
    pub brier_skill: Option<f64>,
    /// Logistic recalibration y ~ a + b·logit(p) (Cox 1958), a and b by maximum likelihood
    /// (Newton / IRLS), logit(p) with p clamped to [1e-12, 1 − 1e-12]. Ideal: a = 0, b = 1
    /// ("weak calibration", Van Calster et al. 2016). `None` when only one class is present,
    /// when the logits have no spread, or when the fit does not converge within 100
    /// iterations (e.g. perfect separation).
    pub calibration_intercept: Option<f64>,
    /// The slope b of the same fit: below 1 the predictions are too extreme, above 1 too
    /// modest. `None` under the same conditions as `calibration_intercept`.
    pub calibration_slope: Option<f64>,
    /// Calibration-in-the-large: logistic intercept with logit(p) as offset, the slope fixed
    /// at 1 (Cox 1958; Van Calster et al. 2016, 2019). Ideal 0; positive means
    /// under-prediction; `None` when only one class is present or the fit does not converge.
    pub calibration_in_the_large: Option<f64>,
    /// Reliability table: ten groups by predicted probability (fewer when fewer than ten
    /// organisations).
    pub deciles: Vec<Decile>,
    /// Factor-strength checks, in `factor_names` order, omitting factors whose contribution
    /// does not vary (all equal within 1e-12) and factors whose fit does not converge
    /// (no finite maximum-likelihood estimate); empty when no incident was observed.
    pub factors: Vec<FactorEffect>,
}

/// Poisson recalibration of the predicted rates: ln λ' = level + slope · ln λ.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Recalibration {
    /// ln λ' = level + slope · ln λ (level in ln(per year)).
    pub level: f64,
    /// Slope on ln λ (1 when not fitted).
    pub slope: f64,
    /// Whether the slope was estimated (true) or fixed at 1 (false).
    pub fitted_slope: bool,
    /// Number of organisations used.
    pub organizations: usize,
    /// Σ n.
    pub incidents: u64,
    /// Σ t (years).
    pub exposure_years: f64,
    /// Poisson log-likelihood Σ [n ln μ − μ − ln n!] with μ = tλ (the model as it is).
    pub log_likelihood_before: f64,
    /// The same with μ = t·exp(level + slope·ln λ).
    pub log_likelihood_after: f64,
    /// Newton–Raphson iterations used (0 for the closed-form level-only fit).
    pub iterations: u32,
}

impl Recalibration {
    /// Apply the recalibration to a rate λ (per year): exp(level + slope · ln λ) (per year).
    ///
    /// Defined for finite λ > 0. λ = 0 maps to 0 (the limit for slope > 0); a negative or
    /// NaN rate gives NaN (this never panics).
    pub fn apply(&self, rate: f64) -> f64 {
        if rate == 0.0 && self.slope > 0.0 {
            return 0.0;
        }
        if rate.is_nan() || rate < 0.0 {
            return f64::NAN;
        }
        (self.level + self.slope * rate.ln()).exp()
    }
}

// ---------------------------------------------------------------------------------------
// Input checks and totals
// ---------------------------------------------------------------------------------------

fn invalid(o: &Observation, message: String) -> ValidationError {
    ValidationError::InvalidObservation {
        id: o.id.clone(),
        message,
    }
}

/// Checks the fields every computation needs: λ, t and t·λ finite and > 0.
fn check_core(o: &Observation) -> Result<(), ValidationError> {
    let l = o.predicted_rate;
    if !(l.is_finite() && l > 0.0) {
        return Err(invalid(
            o,
            format!("predicted_rate must be finite and > 0, got {l}"),
        ));
    }
    let t = o.exposure_years;
    if !(t.is_finite() && t > 0.0) {
        return Err(invalid(
            o,
            format!("exposure_years must be finite and > 0, got {t}"),
        ));
    }
    let mu = t * l;
    if !(mu.is_finite() && mu > 0.0) {
        return Err(invalid(
            o,
            format!(
                "expected incidents exposure_years * predicted_rate = {t} * {l} is not a finite positive number"
            ),
        ));
    }
    Ok(())
}

/// Additionally checks the factor contributions against the factor list.
fn check_contributions(o: &Observation, factors: usize) -> Result<(), ValidationError> {
    if o.contributions.len() != factors {
        return Err(invalid(
            o,
            format!(
                "contributions has {} entries but {} factor names were given",
                o.contributions.len(),
                factors
            ),
        ));
    }
    if let Some((k, c)) = o
        .contributions
        .iter()
        .enumerate()
        .find(|(_, c)| !c.is_finite())
    {
        return Err(invalid(
            o,
            format!("contributions[{k}] must be finite, got {c}"),
        ));
    }
    Ok(())
}

#[derive(Debug, Clone, Copy)]
struct Totals {
    exposure: f64,
    expected: f64,
    incidents: u64,
}

fn totals(obs: &[Observation]) -> Result<Totals, ValidationError> {
    let mut exposure = 0.0;
    let mut expected = 0.0;
    let mut incidents: u64 = 0;
    for o in obs {
        exposure += o.exposure_years;
        expected += o.exposure_years * o.predicted_rate;
        incidents = incidents.saturating_add(u64::from(o.incidents));
    }
    if !exposure.is_finite() {
        return Err(ValidationError::NonFinite {
            what: "total exposure years".to_owned(),
        });
    }
    if !expected.is_finite() {
        return Err(ValidationError::NonFinite {
            what: "total expected incidents (sum of t * lambda)".to_owned(),
        });
    }
    Ok(Totals {
        exposure,
        expected,
        incidents,
    })
}

/// Predicted probability of at least one incident in the exposure period:
/// p = 1 − exp(−λt) (Poisson), computed as −expm1(−λt) for accuracy at small λt.
fn probability(o: &Observation) -> f64 {
    -(-(o.predicted_rate * o.exposure_years)).exp_m1()
}

fn logit_clamped(p: f64) -> f64 {
    let q = p.clamp(P_CLAMP, 1.0 - P_CLAMP);
    q.ln() - (-q).ln_1p()
}

/// ln(1 + e^η) without overflow.
fn softplus(eta: f64) -> f64 {
    if eta > 0.0 {
        eta + (-eta).exp().ln_1p()
    } else {
        eta.exp().ln_1p()
    }
}

/// 1 / (1 + e^−η) without overflow.
fn logistic(eta: f64) -> f64 {
    if eta >= 0.0 {
        1.0 / (1.0 + (-eta).exp())
    } else {
        let e = eta.exp();
        e / (1.0 + e)
    }
}

fn min_max(v: &[f64]) -> Option<(f64, f64)> {
    let first = *v.first()?;
    Some(
        v.iter()
            .fold((first, first), |(lo, hi), &x| (lo.min(x), hi.max(x))),
    )
}

fn has_spread(v: &[f64]) -> bool {
    match min_max(v) {
        Some((lo, hi)) => hi - lo > SPREAD_TOL,
        None => false,
    }
}

fn mean(v: &[f64]) -> f64 {
    if v.is_empty() {
        return 0.0;
    }
    v.iter().sum::<f64>() / v.len() as f64
}

/// ln n! = ln Γ(n + 1).
fn ln_factorial(n: u32) -> f64 {
    if n <= 1 {
        0.0
    } else {
        ln_gamma(f64::from(n) + 1.0)
    }
}

// ---------------------------------------------------------------------------------------
// Newton–Raphson for one- and two-parameter GLMs with canonical link
// ---------------------------------------------------------------------------------------

/// Exponential family with canonical link (McCullagh & Nelder 1989, ch. 2): for the
/// canonical link the observed and expected information coincide, so Newton–Raphson
/// is Fisher scoring / IRLS.
#[derive(Debug, Clone, Copy)]
enum Family {
    /// y ∈ {0, 1}, logit link.
    Bernoulli,
    /// y ∈ {0, 1, 2, …}, log link (the −ln y! term is left out of the kernel).
    Poisson,
}

impl Family {
    /// (log-likelihood kernel, score residual y − mean, IRLS weight = variance) at η.
    fn unit(self, eta: f64, y: f64) -> (f64, f64, f64) {
        match self {
            Family::Bernoulli => {
                let pi = logistic(eta);
                (y * eta - softplus(eta), y - pi, pi * (1.0 - pi))
            }
            Family::Poisson => {
                let mu = eta.exp();
                (y * eta - mu, y - mu, mu)
            }
        }
    }
}

/// Log-likelihood kernel, score and information of η = offset + θ·z.
#[derive(Debug, Clone, Copy)]
struct Eval1 {
    ll: f64,
    score: f64,
    info: f64,
}

fn eval_1d(family: Family, y: &[f64], offset: &[f64], z: &[f64], theta: f64) -> Eval1 {
    let mut ll = 0.0;
    let mut score = 0.0;
    let mut info = 0.0;
    for ((&yi, &oi), &zi) in y.iter().zip(offset).zip(z) {
        let (l, r, w) = family.unit(oi + theta * zi, yi);
        ll += l;
        score += r * zi;
        info += w * zi * zi;
    }
    Eval1 { ll, score, info }
}

#[derive(Debug, Clone, Copy)]
struct Fit1 {
    theta: f64,
}

fn accept(new_ll: f64, old_ll: f64) -> bool {
    new_ll.is_finite() && new_ll >= old_ll - LL_SLACK * (1.0 + old_ll.abs())
}

/// Newton–Raphson with step halving for η = offset + θ·z. `None` if the information is
/// not positive, the likelihood cannot be improved, or |Δθ| < 1e-10 is not reached
/// within `max_iter` iterations.
fn newton_1d(
    family: Family,
    y: &[f64],
    offset: &[f64],
    z: &[f64],
    start: f64,
    max_iter: u32,
) -> Option<Fit1> {
    let mut theta = start;
    let mut cur = eval_1d(family, y, offset, z, theta);
    if !cur.ll.is_finite() {
        return None;
    }
    for _ in 0..max_iter {
        if !(cur.info.is_finite() && cur.info > 0.0 && cur.score.is_finite()) {
            return None;
        }
        let step = cur.score / cur.info;
        if !step.is_finite() {
            return None;
        }
        let converged = step.abs() < STEP_TOL;
        let mut s = 1.0;
        let mut next = None;
        for _ in 0..=MAX_HALVINGS {
            let cand = theta + s * step;
            let e = eval_1d(family, y, offset, z, cand);
            if accept(e.ll, cur.ll) {
                next = Some((cand, e));
                break;
            }
            s *= 0.5;
        }
        match next {
            Some((cand, e)) => {
                theta = cand;
                cur = e;
            }
            None if converged => {}
            None => return None,
        }
        if converged {
            if !(cur.info.is_finite() && cur.info > 0.0) {
                return None;
            }
            return Some(Fit1 { theta });
        }
    }
    None
}

/// Log-likelihood kernel, score and information of η = offset + c + b·u.
#[derive(Debug, Clone, Copy)]
struct Eval2 {
    ll: f64,
    score: [f64; 2],
    /// [I_cc, I_cb, I_bb]
    info: [f64; 3],
}

fn eval_2d(family: Family, y: &[f64], offset: &[f64], u: &[f64], c: f64, b: f64) -> Eval2 {
    let mut ll = 0.0;
    let mut g = [0.0; 2];
    let mut h = [0.0; 3];
    for ((&yi, &oi), &ui) in y.iter().zip(offset).zip(u) {
        let (l, r, w) = family.unit(oi + c + b * ui, yi);
        ll += l;
        g[0] += r;
        g[1] += r * ui;
        h[0] += w;
        h[1] += w * ui;
        h[2] += w * ui * ui;
    }
    Eval2 {
        ll,
        score: g,
        info: h,
    }
}

/// Solves the 2×2 symmetric positive-definite system [h0 h1; h1 h2]·x = g; `None` if the
/// matrix is singular or ill-conditioned (1 − ρ² ≤ 1e-13) or anything is not finite.
fn solve_2x2(h: [f64; 3], g: [f64; 2]) -> Option<[f64; 2]> {
    let [h0, h1, h2] = h;
    if !(h0 > 0.0 && h2 > 0.0 && h0.is_finite() && h1.is_finite() && h2.is_finite()) {
        return None;
    }
    let det = h0 * h2 - h1 * h1;
    if !(det.is_finite() && det > 1e-13 * h0 * h2) {
        return None;
    }
    let x = [(h2 * g[0] - h1 * g[1]) / det, (h0 * g[1] - h1 * g[0]) / det];
    (x[0].is_finite() && x[1].is_finite()).then_some(x)
}

#[derive(Debug, Clone, Copy)]
struct Fit2 {
    /// Intercept in the original parametrisation: a = c − b·shift.
    a: f64,
    b: f64,
    ll: f64,
    iterations: u32,
}

/// Newton–Raphson with step halving for η = offset + c + b·u, where u = x − shift is a
/// centred covariate. Newton's method is affine-invariant, so its iterates are exactly those
/// of the uncentred parametrisation η = offset + a + b·x with a = c − b·shift; centring only
/// improves the conditioning of the 2×2 solve. Convergence when the full Newton step has
/// |Δa| < 1e-10 and |Δb| < 1e-10. `None` on a singular information matrix, a likelihood
/// that cannot be improved, or no convergence within `max_iter` iterations.
fn newton_2d(
    family: Family,
    y: &[f64],
    offset: &[f64],
    u: &[f64],
    shift: f64,
    start: [f64; 2],
    max_iter: u32,
) -> Option<Fit2> {
    let [mut c, mut b] = start;
    let mut cur = eval_2d(family, y, offset, u, c, b);
    if !cur.ll.is_finite() {
        return None;
    }
    for iter in 1..=max_iter {
        if !(cur.score[0].is_finite() && cur.score[1].is_finite()) {
            return None;
        }
        let [dc, db] = solve_2x2(cur.info, cur.score)?;
        let da = dc - db * shift;
        let converged = da.abs() < STEP_TOL && db.abs() < STEP_TOL;
        let mut s = 1.0;
        let mut next = None;
        for _ in 0..=MAX_HALVINGS {
            let (cc, cb) = (c + s * dc, b + s * db);
            let e = eval_2d(family, y, offset, u, cc, cb);
            if accept(e.ll, cur.ll) {
                next = Some((cc, cb, e));
                break;
            }
            s *= 0.5;
        }
        match next {
            Some((cc, cb, e)) => {
                c = cc;
                b = cb;
                cur = e;
            }
            None if converged => {}
            None => return None,
        }
        if converged {
            let a = c - b * shift;
            return (a.is_finite() && b.is_finite()).then_some(Fit2 {
                a,
                b,
                ll: cur.ll,
                iterations: iter,
            });
        }
    }
    None
}

// ---------------------------------------------------------------------------------------
// Validation
// ---------------------------------------------------------------------------------------

/// AUC from the Mann–Whitney U statistic with average ranks for ties (Mann & Whitney 1947;
/// Hanley & McNeil 1982): AUC = (R₁ − n₁(n₁+1)/2) / (n₁ n₀), R₁ the rank sum of the events.
/// `order` must sort `p` ascending. O(n) given the sort. `None` if a class is empty.
fn auc_from_sorted(order: &[usize], p: &[f64], y: &[bool]) -> Option<f64> {
    let n_pos = y.iter().filter(|&&v| v).count();
    let n_neg = y.len() - n_pos;
    if n_pos == 0 || n_neg == 0 {
        return None;
    }
    let mut rank_sum_pos = 0.0_f64;
    let mut start = 0usize;
    while start < order.len() {
        let value = p[order[start]];
        let mut end = start + 1;
        while end < order.len() && p[order[end]] == value {
            end += 1;
        }
        // 1-based ranks start+1 ..= end share their average.
        let avg_rank = (start + 1 + end) as f64 / 2.0;
        let pos_here = order[start..end].iter().filter(|&&i| y[i]).count();
        rank_sum_pos += avg_rank * pos_here as f64;
        start = end;
    }
    let n1 = n_pos as f64;
    let n0 = n_neg as f64;
    let u = rank_sum_pos - n1 * (n1 + 1.0) / 2.0;
    Some(u / (n1 * n0))
}

/// Reliability table from the sorted order: min(10, n) groups, the first n mod g one larger.
fn deciles_from_sorted(order: &[usize], p: &[f64], y: &[bool]) -> Vec<Decile> {
    let n = order.len();
    let groups = n.min(10);
    if groups == 0 {
        return Vec::new();
    }
    let base = n / groups;
    let extra = n % groups;
    let mut out = Vec::with_capacity(groups);
    let mut start = 0usize;
    for g in 0..groups {
        let size = base + usize::from(g < extra);
        let members = &order[start..start + size];
        let sum_p: f64 = members.iter().map(|&i| p[i]).sum();
        let events = members.iter().filter(|&&i| y[i]).count();
        let lower = members.first().map_or(f64::NAN, |&i| p[i]);
        let upper = members.last().map_or(f64::NAN, |&i| p[i]);
        out.push(Decile {
            decile: g + 1,
            count: size,
            mean_predicted: sum_p / size as f64,
            observed: events as f64 / size as f64,
            lower_predicted: lower,
            upper_predicted: upper,
        });
        start += size;
    }
    out
}

/// Cox (1958) logistic recalibration y ~ a + b·x, x = logit(p): returns (a, b).
fn logistic_recalibration(x: &[f64], y: &[f64]) -> Option<(f64, f64)> {
    if !has_spread(x) {
        return None;
    }
    let shift = mean(x);
    let u: Vec<f64> = x.iter().map(|&v| v - shift).collect();
    let zeros = vec![0.0; x.len()];
    // Start at (a, b) = (0, 1), i.e. c = a + b·shift = shift.
    let fit = newton_2d(
        Family::Bernoulli,
        y,
        &zeros,
        &u,
        shift,
        [shift, 1.0],
        GLM_MAX_ITER,
    )?;
    Some((fit.a, fit.b))
}

/// Calibration-in-the-large: y ~ a + offset(logit p).
fn calibration_in_the_large(x: &[f64], y: &[f64]) -> Option<f64> {
    let ones = vec![1.0; x.len()];
    newton_1d(Family::Bernoulli, y, x, &ones, 0.0, GLM_MAX_ITER).map(|f| f.theta)
}

/// One Poisson fit per factor: n ~ Poisson(t·λ·exp(a + θ·c_k)), offset ln(tλ), the level a
/// fitted jointly with θ, so a model miscalibrated in the large does not show as every
/// factor mattering more (or less).
fn factor_effects(
    obs: &[Observation],
    factor_names: &[&str],
    counts: &[f64],
    offset: &[f64],
) -> Vec<FactorEffect> {
    let n = obs.len() as f64;
    let observed: f64 = counts.iter().sum();
    let expected: f64 = offset.iter().map(|o| o.exp()).sum();
    let level = if observed > 0.0 && expected > 0.0 {
        (observed / expected).ln()
    } else {
        0.0
    };
    factor_names
        .par_iter()
        .enumerate()
        .filter_map(|(k, name)| {
            let c: Vec<f64> = obs
                .iter()
                .map(|o| o.contributions.get(k).copied().unwrap_or(0.0))
                .collect();
            if !has_spread(&c) {
                return None;
            }
            let varying = c.iter().filter(|&&v| v != 0.0).count() as f64 / n;
            let shift = mean(&c);
            let u: Vec<f64> = c.iter().map(|v| v - shift).collect();
            let fit = newton_2d(
                Family::Poisson,
                counts,
                offset,
                &u,
                shift,
                [level, 0.0],
                FACTOR_MAX_ITER,
            )?;
            // The standard error of θ from the information at the optimum.
            let e = eval_2d(
                Family::Poisson,
                counts,
                offset,
                &u,
                fit.a + fit.b * shift,
                fit.b,
            );
            let [h0, h1, h2] = e.info;
            let se = (h0 / (h0 * h2 - h1 * h1)).sqrt();
            let scale = 1.0 + fit.b;
            (scale.is_finite() && se.is_finite()).then(|| FactorEffect {
                factor: (*name).to_owned(),
                scale,
                standard_error: se,
                varying,
            })
        })
        .collect()
}

/// Validates predicted annual incident rates against observed incident counts.
///
/// `obs`: N organisations; `factor_names`: K names, each observation's `contributions`
/// must have length K (contribution of factor k to ln λ). Units: rates per year,
/// exposure in years.
///
/// Computed (see the fields of [`Validation`] for definitions and sources):
/// volumes and actual-to-expected; pᵢ = 1 − exp(−λᵢtᵢ) and yᵢ = [nᵢ ≥ 1]; AUC by
/// Mann–Whitney with average ranks (Hanley & McNeil 1982), O(N log N); Brier (1950) and
/// Brier skill (Murphy 1973); calibration-in-the-large and the logistic recalibration
/// intercept/slope (Cox 1958; hierarchy of Van Calster et al. 2016, 2019) by Newton–Raphson
/// (IRLS, McCullagh & Nelder 1989) with step halving, at most 100 iterations, |Δ| < 1e-10;
/// the reliability table (ten groups after a stable sort by p, ties by id; the first N mod 10
/// groups one larger; N < 10 gives N groups); and for each factor with varying contributions
/// the strength check of [`FactorEffect`] (at most 50 Newton iterations; skipped when
/// no incident was observed, when the contributions do not vary, or when the fit does not
/// converge).
///
/// Statistics undefined for the data are `None` rather than errors (AUC, Brier skill and
/// the logistic calibration fits when only one class is present, the logistic fits also on
/// non-convergence).
///
/// # Errors
/// [`ValidationError::Empty`] for no observations; [`ValidationError::InvalidObservation`]
/// (naming the id and field) when λ or t is not finite and > 0, t·λ is not a finite positive
/// number, or `contributions` has the wrong length or a non-finite entry;
/// [`ValidationError::NonFinite`] when Σt or Σtλ overflows.
pub fn validate(obs: &[Observation], factor_names: &[&str]) -> Result<Validation, ValidationError> {
    if obs.is_empty() {
        return Err(ValidationError::Empty);
    }
    for o in obs {
        check_core(o)?;
        check_contributions(o, factor_names.len())?;
    }
    let tot = totals(obs)?;
    let n = obs.len();
    let nf = n as f64;

    let p: Vec<f64> = obs.iter().map(probability).collect();
    let y: Vec<bool> = obs.iter().map(|o| o.incidents >= 1).collect();
    let yf: Vec<f64> = y.iter().map(|&v| if v { 1.0 } else { 0.0 }).collect();
    let events = y.iter().filter(|&&v| v).count();
    let both_classes = events > 0 && events < n;

    let mean_p = mean(&p);
    let ybar = events as f64 / nf;

    // Stable sort by p, ties by id: fixes the decile membership deterministically.
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_by(|&i, &j| {
        p[i].total_cmp(&p[j])
            .then_with(|| obs[i].id.cmp(&obs[j].id))
    });

    let auc = auc_from_sorted(&order, &p, &y);

    let brier = p
        .iter()
        .zip(&yf)
        .map(|(&pi, &yi)| (pi - yi) * (pi - yi))
        .sum::<f64>()
        / nf;
    let brier_reference = ybar * (1.0 - ybar);
    let brier_skill = (brier_reference > 0.0).then(|| 1.0 - brier / brier_reference);

    let (calibration_intercept, calibration_slope, calibration_in_the_large) = if both_classes {
        let x: Vec<f64> = p.iter().map(|&v| logit_clamped(v)).collect();
        let ab = logistic_recalibration(&x, &yf);
        let citl = calibration_in_the_large(&x, &yf);
        (ab.map(|(a, _)| a), ab.map(|(_, b)| b), citl)
    } else {
        (None, None, None)
    };

    let deciles = deciles_from_sorted(&order, &p, &y);

    let factors = if tot.incidents > 0 && !factor_names.is_empty() {
        let counts: Vec<f64> = obs.iter().map(|o| f64::from(o.incidents)).collect();
        let offset: Vec<f64> = obs
            .iter()
            .map(|o| o.exposure_years.ln() + o.predicted_rate.ln())
            .collect();
        factor_effects(obs, factor_names, &counts, &offset)
    } else {
        Vec::new()
    };

    let incidents_f = tot.incidents as f64;
    Ok(Validation {
        organizations: n,
        exposure_years: tot.exposure,
        incidents: tot.incidents,
        observed_rate: incidents_f / tot.exposure,
        predicted_rate: tot.expected / tot.exposure,
        actual_to_expected: incidents_f / tot.expected,
        mean_predicted_probability: mean_p,
        observed_frequency: ybar,
        auc,
        brier,
        brier_reference,
        brier_skill,
        calibration_intercept,
        calibration_slope,
        calibration_in_the_large,
        deciles,
        factors,
    })
}

// ---------------------------------------------------------------------------------------
// Recalibration
// ---------------------------------------------------------------------------------------

/// Poisson maximum likelihood with exposure offset (McCullagh & Nelder 1989, §6.2):
/// nᵢ ~ Poisson(tᵢ · exp(a + b·ln λᵢ)).
///
/// * `fit_slope = false`: b = 1 and a has the closed form ln(Σn / Σtλ) (the score equation
///   Σ(n − μ) = 0); `iterations` = 0.
/// * `fit_slope = true`: Newton–Raphson on (a, b) from (closed-form a, 1), with step halving
///   if the likelihood falls, at most 100 iterations, convergence when both components of the
///   Newton step are below 1e-10 in absolute value. (Internally ln λ is centred, which leaves
///   Newton's iterates unchanged — the method is affine-invariant — and improves conditioning.)
///
/// Log-likelihoods are Σ [n ln μ − μ − ln n!] (ln n! = ln Γ(n+1), statrs), before (μ = tλ)
/// and after. Only `predicted_rate`, `exposure_years` and `incidents` are used.
///
/// # Errors
/// [`ValidationError::Empty`]; [`ValidationError::InvalidObservation`] when λ or t is not
/// finite and > 0 or t·λ is not a finite positive number; [`ValidationError::NonFinite`] when
/// Σt or Σtλ overflows; [`ValidationError::NoEvents`] when Σn = 0 (the level is not
/// identifiable: its maximum-likelihood estimate is −∞); [`ValidationError::NoSpread`] when
/// fitting a slope and the ln λ are all equal within 1e-12;
/// [`ValidationError::DidNotConverge`] when the Newton iteration fails (singular information,
/// no improvement possible, or 100 iterations reached — e.g. no finite MLE).
pub fn fit_recalibration(
    obs: &[Observation],
    fit_slope: bool,
) -> Result<Recalibration, ValidationError> {
    if obs.is_empty() {
        return Err(ValidationError::Empty);
    }
    for o in obs {
        check_core(o)?;
    }
    let tot = totals(obs)?;
    if tot.incidents == 0 {
        return Err(ValidationError::NoEvents {
            what: "the recalibration level".to_owned(),
        });
    }

    let counts: Vec<f64> = obs.iter().map(|o| f64::from(o.incidents)).collect();
    let ln_t: Vec<f64> = obs.iter().map(|o| o.exposure_years.ln()).collect();
    let ln_l: Vec<f64> = obs.iter().map(|o| o.predicted_rate.ln()).collect();
    let ln_fact: f64 = obs.iter().map(|o| ln_factorial(o.incidents)).sum();

    // Kernel Σ [n·η − e^η] with η = ln t + level + slope·ln λ.
    let kernel = |level: f64, slope: f64| -> f64 {
        counts
            .iter()
            .zip(&ln_t)
            .zip(&ln_l)
            .map(|((&ni, &lt), &ll)| {
                let eta = lt + level + slope * ll;
                ni * eta - eta.exp()
            })
            .sum()
    };
    let log_likelihood_before = kernel(0.0, 1.0) - ln_fact;

    let level0 = (tot.incidents as f64 / tot.expected).ln();
    if !level0.is_finite() {
        return Err(ValidationError::NonFinite {
            what: "the closed-form recalibration level ln(sum n / sum t*lambda)".to_owned(),
        });
    }

    if !fit_slope {
        return Ok(Recalibration {
            level: level0,
            slope: 1.0,
            fitted_slope: false,
            organizations: obs.len(),
            incidents: tot.incidents,
            exposure_years: tot.exposure,
            log_likelihood_before,
            log_likelihood_after: kernel(level0, 1.0) - ln_fact,
            iterations: 0,
        });
    }

    if !has_spread(&ln_l) {
        return Err(ValidationError::NoSpread {
            what: "the recalibration slope".to_owned(),
        });
    }
    let shift = mean(&ln_l);
    let u: Vec<f64> = ln_l.iter().map(|&v| v - shift).collect();
    // (a, b) = (level0, 1)  ⇔  c = a + b·shift = level0 + shift.
    let fit = newton_2d(
        Family::Poisson,
        &counts,
        &ln_t,
        &u,
        shift,
        [level0 + shift, 1.0],
        GLM_MAX_ITER,
    )
    .ok_or_else(|| ValidationError::DidNotConverge {
        what: "Poisson recalibration of level and slope (Newton-Raphson)".to_owned(),
    })?;

    Ok(Recalibration {
        level: fit.a,
        slope: fit.b,
        fitted_slope: true,
        organizations: obs.len(),
        incidents: tot.incidents,
        exposure_years: tot.exposure,
        log_likelihood_before,
        log_likelihood_after: fit.ll - ln_fact,
        iterations: fit.iterations,
    })
}

// ---------------------------------------------------------------------------------------
// Reliability diagram
// ---------------------------------------------------------------------------------------

const SVG_SIZE: f64 = 480.0;
const PLOT_LEFT: f64 = 72.0;
const PLOT_TOP: f64 = 40.0;
/// Square plot area, 376 × 376 px (right margin 32, bottom margin 64).
const PLOT_SIDE: f64 = 376.0;
const MAX_RADIUS: f64 = 12.0;
const MIN_RADIUS: f64 = 2.0;

/// Escapes text for XML character data and attribute values; drops characters that XML 1.0
/// does not allow (control characters other than tab, newline and carriage return).
fn xml_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for ch in s.chars() {
        match ch {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\t' | '\n' | '\r' => out.push(ch),
            c if c.is_control() => {}
            c => out.push(c),
        }
    }
    out
}

/// Upper end of both axes: the first "nice" value at or above the largest plotted value.
fn axis_max(largest: f64) -> f64 {
    const NICE: [f64; 15] = [
        0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.25, 0.3, 0.4, 0.5, 0.6, 0.8, 1.0,
    ];
    if !(largest.is_finite() && largest > 0.0) {
        return 1.0;
    }
    NICE.iter()
        .copied()
        .find(|&m| m >= largest * (1.0 + 1e-9))
        .unwrap_or(1.0)
}

fn fmt_opt(v: Option<f64>, decimals: usize) -> String {
    match v {
        Some(x) if x.is_finite() => format!("{x:.decimals$}"),
        _ => "n/a".to_owned(),
    }
}

/// Reliability diagram (Murphy & Winkler 1977) of a [`Validation`]: each decile's mean
/// predicted probability (x) against its observed frequency (y), points joined in decile
/// order, circle area proportional to the group's count (radius 12·√(count / max count),
/// at least 2 px), the diagonal y = x dashed, both axes from 0 to the same "nice" maximum
/// (0.001 … 1) with six ticks and labels, and a summary line (N, A/E, AUC, Brier skill).
///
/// Returns a standalone SVG document, 480 × 480 px, as text; deterministic (fixed number
/// formatting, no timestamps or random ids). `title` is XML-escaped. Exactly one `<circle`
/// element per decile with finite coordinates; deciles with non-finite values are omitted.
pub fn reliability_svg(v: &Validation, title: &str) -> String {
    use std::fmt::Write as _;

    let points: Vec<&Decile> = v
        .deciles
        .iter()
        .filter(|d| d.mean_predicted.is_finite() && d.observed.is_finite())
        .collect();
    let largest = points
        .iter()
        .map(|d| d.mean_predicted.max(d.observed))
        .fold(0.0_f64, f64::max);
    let m = axis_max(largest);
    let sx = |x: f64| PLOT_LEFT + (x / m).clamp(0.0, 1.0) * PLOT_SIDE;
    let sy = |y: f64| PLOT_TOP + PLOT_SIDE - (y / m).clamp(0.0, 1.0) * PLOT_SIDE;
    let max_count = points.iter().map(|d| d.count).max().unwrap_or(0);

    let step = m / 5.0;
    let decimals = (-step.log10().floor()).clamp(0.0, 6.0) as usize;
    let x0 = PLOT_LEFT;
    let x1 = PLOT_LEFT + PLOT_SIDE;
    let y0 = PLOT_TOP + PLOT_SIDE;
    let y1 = PLOT_TOP;

    let mut s = String::with_capacity(4096);
    // Writing into a String cannot fail; the results are ignored deliberately.
    let _ = writeln!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="480" height="480" viewBox="0 0 480 480" font-family="sans-serif" font-size="12">"#
    );
    let esc_title = xml_escape(title);
    let _ = writeln!(s, "<title>{esc_title}</title>");
    let _ = writeln!(
        s,
        r##"<rect x="0" y="0" width="480" height="480" fill="#ffffff"/>"##
    );
    let _ = writeln!(
        s,
        r#"<text x="{:.2}" y="24.00" text-anchor="middle" font-size="15" font-weight="bold">{esc_title}</text>"#,
        SVG_SIZE / 2.0
    );

    // Grid, ticks and tick labels.
    for i in 0..=5 {
        let val = m * f64::from(i) / 5.0;
        let px = sx(val);
        let py = sy(val);
        let label = format!("{val:.decimals$}");
        let _ = writeln!(
            s,
            r##"<line x1="{px:.2}" y1="{y1:.2}" x2="{px:.2}" y2="{y0:.2}" stroke="#e5e5e5" stroke-width="1"/>"##
        );
        let _ = writeln!(
            s,
            r##"<line x1="{x0:.2}" y1="{py:.2}" x2="{x1:.2}" y2="{py:.2}" stroke="#e5e5e5" stroke-width="1"/>"##
        );
        let _ = writeln!(
            s,
            r##"<line x1="{px:.2}" y1="{y0:.2}" x2="{px:.2}" y2="{:.2}" stroke="#000000" stroke-width="1"/>"##,
            y0 + 5.0
        );
        let _ = writeln!(
            s,
            r##"<line x1="{:.2}" y1="{py:.2}" x2="{x0:.2}" y2="{py:.2}" stroke="#000000" stroke-width="1"/>"##,
            x0 - 5.0
        );
        let _ = writeln!(
            s,
            r#"<text x="{px:.2}" y="{:.2}" text-anchor="middle">{label}</text>"#,
            y0 + 19.0
        );
        let _ = writeln!(
            s,
            r#"<text x="{:.2}" y="{:.2}" text-anchor="end">{label}</text>"#,
            x0 - 8.0,
            py + 4.0
        );
    }

    // Axes.
    let _ = writeln!(
        s,
        r##"<line x1="{x0:.2}" y1="{y0:.2}" x2="{x1:.2}" y2="{y0:.2}" stroke="#000000" stroke-width="1.5"/>"##
    );
    let _ = writeln!(
        s,
        r##"<line x1="{x0:.2}" y1="{y0:.2}" x2="{x0:.2}" y2="{y1:.2}" stroke="#000000" stroke-width="1.5"/>"##
    );
    let _ = writeln!(
        s,
        r#"<text x="{:.2}" y="{:.2}" text-anchor="middle">Mean predicted probability of an incident</text>"#,
        PLOT_LEFT + PLOT_SIDE / 2.0,
        y0 + 44.0
    );
    let ylab_x = 20.0;
    let ylab_y = PLOT_TOP + PLOT_SIDE / 2.0;
    let _ = writeln!(
        s,
        r#"<text x="{ylab_x:.2}" y="{ylab_y:.2}" text-anchor="middle" transform="rotate(-90 {ylab_x:.2} {ylab_y:.2})">Observed frequency</text>"#
    );

    // Diagonal y = x.
    let _ = writeln!(
        s,
        r##"<line x1="{:.2}" y1="{:.2}" x2="{:.2}" y2="{:.2}" stroke="#888888" stroke-width="1" stroke-dasharray="5 4"/>"##,
        sx(0.0),
        sy(0.0),
        sx(m),
        sy(m)
    );

    // Points joined in decile order, then the circles on top.
    if points.len() >= 2 {
        let coords: Vec<String> = points
            .iter()
            .map(|d| format!("{:.2},{:.2}", sx(d.mean_predicted), sy(d.observed)))
            .collect();
        let _ = writeln!(
            s,
            r##"<polyline points="{}" fill="none" stroke="#1f77b4" stroke-width="1.5"/>"##,
            coords.join(" ")
        );
    }
    for d in &points {
        let r = if max_count > 0 {
            (MAX_RADIUS * (d.count as f64 / max_count as f64).sqrt()).max(MIN_RADIUS)
        } else {
            MIN_RADIUS
        };
        let _ = writeln!(
            s,
            r##"<circle cx="{:.2}" cy="{:.2}" r="{r:.2}" fill="#1f77b4" fill-opacity="0.6" stroke="#1f77b4" stroke-width="1"><title>group {}: n = {}, predicted {:.4}, observed {:.4}</title></circle>"##,
            sx(d.mean_predicted),
            sy(d.observed),
            d.decile,
            d.count,
            d.mean_predicted,
            d.observed
        );
    }

    // Summary.
    let _ = writeln!(
        s,
        r#"<text x="{:.2}" y="{:.2}" font-size="11">N = {}, A/E = {}, AUC = {}, Brier skill = {}</text>"#,
        PLOT_LEFT + 8.0,
        PLOT_TOP + 16.0,
        v.organizations,
        fmt_opt(Some(v.actual_to_expected), 3),
        fmt_opt(v.auc, 3),
        fmt_opt(v.brier_skill, 3)
    );
    s.push_str("</svg>\n");
    s
}

// ---------------------------------------------------------------------------------------
// Tests
// ---------------------------------------------------------------------------------------

#[cfg(test)]
mod tests {
    use super::*;

    /// Tiny deterministic 64-bit LCG (Knuth's MMIX constants); top 53 bits as a uniform.
    struct Lcg(u64);

    impl Lcg {
        fn next_u64(&mut self) -> u64 {
            self.0 = self
                .0
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            self.0
        }
        /// Uniform on (0, 1).
        fn uniform(&mut self) -> f64 {
            ((self.next_u64() >> 11) as f64 + 0.5) / (1u64 << 53) as f64
        }
        /// Poisson(mu) by inversion of the CDF.
        fn poisson(&mut self, mu: f64) -> u32 {
            let u = self.uniform();
            let mut k = 0u32;
            let mut pk = (-mu).exp();
            let mut cdf = pk;
            while u > cdf && k < 1000 {
                k += 1;
                pk *= mu / f64::from(k);
                cdf += pk;
            }
            k
        }
    }

    fn ob(id: &str, rate: f64, t: f64, n: u32) -> Observation {
        Observation {
            id: id.to_owned(),
            predicted_rate: rate,
            exposure_years: t,
            incidents: n,
            contributions: Vec::new(),
        }
    }

    fn brute_auc(obs: &[Observation]) -> f64 {
        let py: Vec<(f64, bool)> = obs
            .iter()
            .map(|o| (probability(o), o.incidents >= 1))
            .collect();
        let mut num = 0.0;
        let mut den = 0.0;
        for &(pp, yp) in &py {
            if !yp {
                continue;
            }
            for &(pn, yn) in &py {
                if yn {
                    continue;
                }
                den += 1.0;
                if pp > pn {
                    num += 1.0;
                } else if pp == pn {
                    num += 0.5;
                }
            }
        }
        num / den
    }

    #[test]
    fn auc_matches_brute_force_with_ties() {
        let rates = [0.1, 0.2, 0.2, 0.3, 0.3, 0.3, 0.05, 0.5, 0.1, 0.2];
        let counts = [0, 1, 0, 1, 0, 2, 0, 1, 1, 0];
        let obs: Vec<Observation> = rates
            .iter()
            .zip(counts)
            .enumerate()
            .map(|(i, (&r, n))| ob(&format!("o{i}"), r, 1.0, n))
            .collect();
        let v = validate(&obs, &[]).expect("valid");
        let auc = v.auc.expect("both classes present");
        assert!((auc - brute_auc(&obs)).abs() < 1e-12, "auc {auc}");
        // By hand: 18.5 of 25 positive/negative pairs.
        assert!((auc - 0.74).abs() < 1e-12, "auc {auc}");

        let mut rng = Lcg(0xA0C_2024);
        let tenures = [0.5, 1.0, 2.0];
        let obs: Vec<Observation> = (0..500)
            .map(|i| {
                let rate = 0.01 * (1 + (rng.next_u64() >> 33) % 30) as f64;
                let t = tenures[((rng.next_u64() >> 33) % 3) as usize];
                let n = rng.poisson(3.0 * rate * t);
                ob(&format!("r{i:03}"), rate, t, n)
            })
            .collect();
        let v = validate(&obs, &[]).expect("valid");
        let auc = v.auc.expect("both classes present");
        let brute = brute_auc(&obs);
        assert!(
            (auc - brute).abs() < 1e-12,
            "auc {auc} vs brute force {brute}"
        );
        assert!(auc > 0.5 && auc < 1.0);
    }

    #[test]
    fn auc_is_none_with_one_class() {
        let obs = vec![ob("a", 0.1, 1.0, 0), ob("b", 0.2, 1.0, 0)];
        let v = validate(&obs, &[]).expect("valid");
        assert_eq!(v.auc, None);
        assert_eq!(v.brier_skill, None);
        assert_eq!(v.calibration_slope, None);
        assert_eq!(v.calibration_in_the_large, None);
        assert!(v.factors.is_empty());
    }

    #[test]
    fn brier_by_hand() {
        // p = 1 − e^{−λ}: 0.5, 0.25, 0.75, 0.9; y = 1, 0, 1, 0.
        let obs = vec![
            ob("a", 2f64.ln(), 1.0, 1),
            ob("b", (4.0f64 / 3.0).ln(), 1.0, 0),
            ob("c", 4f64.ln(), 1.0, 3),
            ob("d", 10f64.ln(), 1.0, 0),
        ];
        let v = validate(&obs, &[]).expect("valid");
        let brier = (0.25 + 0.0625 + 0.0625 + 0.81) / 4.0;
        assert!((v.brier - brier).abs() < 1e-12, "brier {}", v.brier);
        assert!((v.brier_reference - 0.25).abs() < 1e-12);
        let skill = v.brier_skill.expect("reference > 0");
        assert!((skill - (1.0 - brier / 0.25)).abs() < 1e-12);
        assert!((v.mean_predicted_probability - 0.6).abs() < 1e-12);
        assert!((v.observed_frequency - 0.5).abs() < 1e-12);
        assert_eq!(v.incidents, 4);
        let expected = 2f64.ln() + (4.0f64 / 3.0).ln() + 4f64.ln() + 10f64.ln();
        assert!((v.actual_to_expected - 4.0 / expected).abs() < 1e-12);
        // Positives 0.5, 0.75 vs negatives 0.25, 0.9: 2 of 4 pairs.
        assert!((v.auc.expect("two classes") - 0.5).abs() < 1e-12);
    }

    #[test]
    fn deciles_split_as_equal_as_possible() {
        let mut rng = Lcg(7);
        let obs: Vec<Observation> = (0..23)
            .map(|i| {
                ob(
                    &format!("d{i:02}"),
                    0.05 + rng.uniform(),
                    1.0,
                    u32::from(i % 3 == 0),
                )
            })
            .collect();
        let v = validate(&obs, &[]).expect("valid");
        let sizes: Vec<usize> = v.deciles.iter().map(|d| d.count).collect();
        assert_eq!(sizes, vec![3, 3, 3, 2, 2, 2, 2, 2, 2, 2]);
        for w in v.deciles.windows(2) {
            assert!(w[0].upper_predicted <= w[1].lower_predicted);
        }
        let numbers: Vec<usize> = v.deciles.iter().map(|d| d.decile).collect();
        assert_eq!(numbers, (1..=10).collect::<Vec<_>>());

        let v = validate(&obs[..4], &[]).expect("valid");
        assert_eq!(v.deciles.len(), 4);
        assert!(v.deciles.iter().all(|d| d.count == 1));
    }

    #[test]
    fn level_only_recalibration_is_closed_form() {
        let mut rng = Lcg(42);
        let obs: Vec<Observation> = (0..1000)
            .map(|i| {
                let rate = 0.02 + 0.3 * rng.uniform();
                let t = 0.5 + 2.0 * rng.uniform();
                let n = rng.poisson(1.4 * rate * t);
                ob(&format!("x{i}"), rate, t, n)
            })
            .collect();
        let r = fit_recalibration(&obs, false).expect("fit");
        let sum_n: f64 = obs.iter().map(|o| f64::from(o.incidents)).sum();
        let sum_e: f64 = obs
            .iter()
            .map(|o| o.exposure_years * o.predicted_rate)
            .sum();
        let ratio = sum_n / sum_e;
        assert!((r.level.exp() / ratio - 1.0).abs() < 1e-12);
        assert_eq!(r.slope, 1.0);
        assert!(!r.fitted_slope);
        assert_eq!(r.iterations, 0);
        assert!(r.log_likelihood_after >= r.log_likelihood_before);
        assert!((r.apply(0.1) - 0.1 * ratio).abs() < 1e-12);
    }

    #[test]
    fn recalibration_recovers_level_and_slope() {
        let mut rng = Lcg(0x5EED_2024);
        let (lo, hi) = (0.005f64.ln(), 0.5f64.ln());
        let obs: Vec<Observation> = (0..20_000)
            .map(|i| {
                let rate = (lo + rng.uniform() * (hi - lo)).exp();
                let truth = 0.5 * rate.powf(1.3);
                let n = rng.poisson(truth);
                ob(&format!("s{i:05}"), rate, 1.0, n)
            })
            .collect();
        let r = fit_recalibration(&obs, true).expect("fit");
        assert!(r.fitted_slope);
        assert!((r.slope - 1.3).abs() < 0.1, "slope {}", r.slope);
        assert!((r.level - 0.5f64.ln()).abs() < 0.15, "level {}", r.level);
        assert!(r.iterations >= 1 && r.iterations <= 100);
        assert!(r.log_likelihood_after > r.log_likelihood_before);

        let predicted: f64 = obs
            .iter()
            .map(|o| r.apply(o.predicted_rate) * o.exposure_years)
            .sum::<f64>()
            / obs.len() as f64;
        let observed = r.incidents as f64 / r.exposure_years;
        assert!(
            (predicted / observed - 1.0).abs() < 0.05,
            "predicted {predicted} observed {observed}"
        );
    }

    #[test]
    fn recalibration_errors() {
        let none = vec![ob("a", 0.1, 1.0, 0), ob("b", 0.2, 1.0, 0)];
        assert!(matches!(
            fit_recalibration(&none, false),
            Err(ValidationError::NoEvents { .. })
        ));
        let flat = vec![ob("a", 0.1, 1.0, 1), ob("b", 0.1, 2.0, 0)];
        assert!(matches!(
            fit_recalibration(&flat, true),
            Err(ValidationError::NoSpread { .. })
        ));
        assert!(fit_recalibration(&flat, false).is_ok());
        assert_eq!(fit_recalibration(&[], true), Err(ValidationError::Empty));
    }

    #[test]
    fn calibrated_population_has_unit_slope() {
        let mut rng = Lcg(0xCA11B);
        let obs: Vec<Observation> = (0..20_000)
            .map(|i| {
                let eta = -4.0 + 6.0 * rng.uniform();
                // λ such that 1 − e^{−λ} = logistic(η).
                let rate = softplus(eta);
                let p = -(-rate).exp_m1();
                let n = u32::from(rng.uniform() < p);
                ob(&format!("c{i:05}"), rate, 1.0, n)
            })
            .collect();
        let v = validate(&obs, &[]).expect("valid");
        let slope = v.calibration_slope.expect("converged");
        let intercept = v.calibration_intercept.expect("converged");
        let citl = v.calibration_in_the_large.expect("converged");
        assert!((slope - 1.0).abs() < 0.15, "slope {slope}");
        assert!(intercept.abs() < 0.15, "intercept {intercept}");
        assert!(citl.abs() < 0.15, "calibration-in-the-large {citl}");
        let auc = v.auc.expect("two classes");
        assert!(auc > 0.6 && auc < 1.0, "auc {auc}");
        assert_eq!(v.deciles.len(), 10);
        assert!(v.deciles.iter().all(|d| d.count == 2000));
    }

    #[test]
    fn factor_effect_detects_understated_factor() {
        let mut rng = Lcg(99);
        let levels = [-0.5, 0.0, 0.5];
        let obs: Vec<Observation> = (0..20_000)
            .map(|i| {
                let c = levels[i % 3];
                let rate = 0.1 * f64::exp(c + 0.2);
                // The data follow twice the model's effect.
                let n = rng.poisson(0.1 * f64::exp(2.0 * c + 0.2));
                Observation {
                    id: format!("f{i:05}"),
                    predicted_rate: rate,
                    exposure_years: 1.0,
                    incidents: n,
                    contributions: vec![c, 0.2],
                }
            })
            .collect();
        let v = validate(&obs, &["controls", "constant"]).expect("valid");
        assert_eq!(v.factors.len(), 1, "constant factor is skipped");
        let f = &v.factors[0];
        assert_eq!(f.factor, "controls");
        assert!((f.scale - 2.0).abs() < 0.25, "scale {}", f.scale);
        assert!(f.standard_error > 0.0 && f.standard_error < 0.2);
        assert!((f.varying - 2.0 / 3.0).abs() < 1e-3);
    }

    #[test]
    fn factor_effect_is_not_confused_by_the_level() {
        let mut rng = Lcg(1234);
        let levels = [-0.5, 0.0, 0.5];
        let obs: Vec<Observation> = (0..20_000)
            .map(|i| {
                let c = levels[i % 3];
                let rate = 0.1 * f64::exp(c);
                // The factor's effect is right; the level is twice the model's.
                let n = rng.poisson(2.0 * rate);
                Observation {
                    id: format!("l{i:05}"),
                    predicted_rate: rate,
                    exposure_years: 1.0,
                    incidents: n,
                    contributions: vec![c],
                }
            })
            .collect();
        let v = validate(&obs, &["controls"]).expect("valid");
        assert!((v.actual_to_expected - 2.0).abs() < 0.1);
        let f = &v.factors[0];
        assert!(
            (f.scale - 1.0).abs() < 3.0 * f.standard_error,
            "scale {} ± {}",
            f.scale,
            f.standard_error
        );
    }

    #[test]
    fn svg_has_one_circle_per_decile_and_escapes_title() {
        let mut rng = Lcg(5);
        let obs: Vec<Observation> = (0..200)
            .map(|i| {
                let rate = 0.01 + 0.3 * rng.uniform();
                let n = rng.poisson(rate);
                ob(&format!("g{i:03}"), rate, 1.0, n)
            })
            .collect();
        let v = validate(&obs, &[]).expect("valid");
        let svg = reliability_svg(&v, "Model <&> check");
        assert!(svg.starts_with("<svg"));
        assert!(svg.trim_end().ends_with("</svg>"));
        assert_eq!(svg.matches("<circle").count(), v.deciles.len());
        assert_eq!(v.deciles.len(), 10);
        assert!(svg.contains("Model &lt;&amp;&gt; check"));
        assert!(!svg.contains("<&"));
        assert_eq!(svg, reliability_svg(&v, "Model <&> check"), "deterministic");
    }

    #[test]
    fn invalid_observation_names_the_id() {
        let obs = vec![ob("ok", 0.1, 1.0, 0), ob("org-7", 0.1, 0.0, 1)];
        match validate(&obs, &[]) {
            Err(ValidationError::InvalidObservation { id, message }) => {
                assert_eq!(id, "org-7");
                assert!(message.contains("exposure_years"), "{message}");
            }
            other => panic!("expected InvalidObservation, got {other:?}"),
        }
        let err = fit_recalibration(&obs, false).expect_err("invalid");
        assert!(err.to_string().contains("org-7"));

        let mut bad = ob("org-8", 0.1, 1.0, 0);
        bad.contributions = vec![f64::NAN];
        assert!(matches!(
            validate(&[bad.clone()], &["x"]),
            Err(ValidationError::InvalidObservation { ref id, .. }) if id == "org-8"
        ));
        assert!(matches!(
            validate(&[bad], &[]),
            Err(ValidationError::InvalidObservation { .. })
        ));
        assert_eq!(validate(&[], &[]), Err(ValidationError::Empty));
    }
}
