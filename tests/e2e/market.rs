//! Numbers an underwriter can price on: the synthetic book sits inside the market's bands by
//! size, premiums are a sensible multiple of expected loss, increased-limit factors behave,
//! validation agrees with an independent computation, and recalibration fixes a
//! miscalibrated level on data it was not fitted to. Deterministic (seeded); no timing.

use cyrisk_core::{KevCatalog, RatingModel, rate};
use cyrisk_sim::demo::{demo_organization, synthetic_outcomes};
use cyrisk_sim::market::{MarketRun, market_sanity};
use cyrisk_sim::pricing::PricingModel;
use cyrisk_sim::recalibrate::recalibrate_on_bundles;
use cyrisk_sim::severity::SeverityModel;
use cyrisk_sim::validation::{Observation, validate};
use rayon::prelude::*;

use crate::support::{as_of, root};

fn kev() -> KevCatalog {
    let text = std::fs::read_to_string(root().join("data/kev/kev-2025.08.25.json")).unwrap();
    KevCatalog::from_json(&text).unwrap()
}

#[test]
fn a_book_of_typical_organisations_averages_inside_the_market_bands() {
    let kev = kev();
    let orgs: Vec<_> = (0..2000)
        .into_par_iter()
        .map(|i| demo_organization(i, 7, &kev, as_of()))
        .collect();
    let model = RatingModel::builtin();
    let report = market_sanity(
        &orgs,
        &model,
        &SeverityModel::builtin(),
        &PricingModel::builtin(),
        MarketRun {
            as_of: as_of(),
            priced_per_band: 40,
            trials: 10_000,
            seed: 1,
        },
    );
    assert_eq!(report.bands.len(), 5, "{}", report.to_text());
    for b in &report.bands {
        let m = &b.market;
        let band = b.size_band.as_str();
        let inside = |v: f64, r: &cyrisk_sim::market::Band| r.low <= v && v <= r.high;
        assert!(
            inside(b.mean_probability, &m.probability),
            "{band}: mean probability {}\n{}",
            b.mean_probability,
            report.to_text()
        );
        // Not just inside: near the band's central claim frequency.
        let central = m.probability.central.unwrap();
        assert!(
            (b.mean_probability / central - 1.0).abs() < 0.3,
            "{band}: mean probability {} against a central {central}",
            b.mean_probability
        );
        assert!(
            inside(b.mean_loss_to_revenue, &m.loss_to_revenue),
            "{band}: expected loss / revenue {}\n{}",
            b.mean_loss_to_revenue,
            report.to_text()
        );
        assert!(
            inside(b.median_rate_on_line, &m.rate_on_line),
            "{band}: rate on line {}\n{}",
            b.median_rate_on_line,
            report.to_text()
        );
        // The premium build-up: technical premium ÷ expected layer loss for typical risks
        // (10th to 90th percentile of the priced ones) within US loss ratios' 1.4–2.5.
        assert!(b.priced >= 10, "{band}: only {} priced", b.priced);
        assert!(
            1.4 <= b.p10_premium_to_loss && b.p90_premium_to_loss <= 2.5,
            "{band}: premium ÷ expected loss {}–{}",
            b.p10_premium_to_loss,
            b.p90_premium_to_loss
        );
    }
    // Frequency rises with size, as every source with a denominator shows.
    for w in report.bands.windows(2) {
        assert!(w[0].mean_probability < w[1].mean_probability);
    }
    // The score range is used without piling up at either end.
    assert!(report.share_at_min_score < 0.01 && report.share_at_max_score < 0.01);
    // The book's peril split stays near the published mix it tilts from.
    let share = |p: &str| {
        report
            .mean_peril_shares
            .iter()
            .find(|(k, _)| k == p)
            .map(|(_, v)| *v)
            .unwrap()
    };
    assert!((share("funds_transfer_fraud") - 0.647).abs() < 0.1);
    assert!((share("ransomware") - 0.228).abs() < 0.1);
}

/// AUC by brute force over every pair (ties count one half) and the Brier score by hand.
fn independent_auc_and_brier(obs: &[Observation]) -> (f64, f64) {
    let p: Vec<f64> = obs
        .iter()
        .map(|o| -(-o.predicted_rate * o.exposure_years).exp_m1())
        .collect();
    let y: Vec<bool> = obs.iter().map(|o| o.incidents > 0).collect();
    let (mut wins, mut pairs) = (0.0, 0.0);
    for i in 0..obs.len() {
        if !y[i] {
            continue;
        }
        for j in 0..obs.len() {
            if y[j] {
                continue;
            }
            pairs += 1.0;
            if p[i] > p[j] {
                wins += 1.0;
            } else if p[i] == p[j] {
                wins += 0.5;
            }
        }
    }
    let brier = p
        .iter()
        .zip(&y)
        .map(|(p, y)| (p - f64::from(u8::from(*y))).powi(2))
        .sum::<f64>()
        / obs.len() as f64;
    (wins / pairs, brier)
}

#[test]
fn validation_matches_an_independent_computation_and_recalibration_holds_out() {
    let kev = kev();
    let model = RatingModel::builtin();
    let orgs: Vec<_> = (0..4000)
        .into_par_iter()
        .map(|i| demo_organization(i, 11, &kev, as_of()))
        .collect();
    let rated: Vec<(String, f64)> = orgs
        .par_iter()
        .map(|o| {
            let r = rate(&o.bundle, &model, as_of());
            (format!("org-{}", o.index), r.expected_incident_rate)
        })
        .collect();
    // The true hazard is 1.6 times the model's: a level the model gets wrong.
    let truth = synthetic_outcomes(&rated, 10.0, 1.6f64.ln(), 1.0, 3);
    let obs: Vec<Observation> = rated
        .iter()
        .zip(&truth)
        .map(|((id, rate), (_, years, n))| Observation {
            id: id.clone(),
            predicted_rate: *rate,
            exposure_years: *years,
            incidents: *n,
            contributions: Vec::new(),
        })
        .collect();
    let v = validate(&obs, &[]).unwrap();
    let (auc, brier) = independent_auc_and_brier(&obs);
    assert!(
        (v.auc.unwrap() - auc).abs() < 1e-12,
        "{} vs {auc}",
        v.auc.unwrap()
    );
    assert!((v.brier - brier).abs() < 1e-12);
    assert!(v.auc.unwrap() > 0.7, "the rating should rank: AUC {auc}");
    assert!(v.actual_to_expected > 1.4, "A/E {}", v.actual_to_expected);

    // Fit on the even half, check on the odd half with the recalibrated model re-rating it.
    let (fit_on, held_out): (Vec<_>, Vec<_>) = obs
        .iter()
        .cloned()
        .enumerate()
        .partition(|(i, _)| i % 2 == 0);
    let fit_on: Vec<Observation> = fit_on.into_iter().map(|(_, o)| o).collect();
    let fit_on: Vec<(&cyrisk_core::Bundle, Observation)> = fit_on
        .into_iter()
        .map(|o| {
            let i: usize = o.id.trim_start_matches("org-").parse().unwrap();
            (&orgs[i].bundle, o)
        })
        .collect();
    let (recal, _) =
        recalibrate_on_bundles(&model, &fit_on, as_of(), false, "2.0.0-test", "synthetic").unwrap();
    let held: Vec<Observation> = held_out
        .into_iter()
        .map(|(i, o)| Observation {
            predicted_rate: rate(&orgs[i].bundle, &recal, as_of()).expected_incident_rate,
            ..o
        })
        .collect();
    let after = validate(&held, &[]).unwrap();
    // On data it was not fitted to, the recalibrated model's mean predicted rate is within 5 %
    // of the observed rate (before recalibration, 60 % off).
    assert!(
        (after.predicted_rate / after.observed_rate - 1.0).abs() < 0.05,
        "held out: predicted rate {} against observed {}",
        after.predicted_rate,
        after.observed_rate
    );
}
