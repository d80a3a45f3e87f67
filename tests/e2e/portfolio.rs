//! Portfolio accumulation: totals, co-TVaR shares, determinism, scenario catalogue.

use cyrisk_core::KevCatalog;
use cyrisk_sim::portfolio::{Book, Portfolio, ScenarioCatalogue};
use cyrisk_sim::severity::SeverityModel;

use crate::support::root;

fn book(size: usize) -> Book {
    let text = std::fs::read_to_string(root().join("examples/book-1000.json")).unwrap();
    let mut b = Book::from_json(&text).unwrap();
    b.insureds.truncate(size);
    b
}

fn portfolio(size: usize) -> Portfolio {
    Portfolio::new(
        book(size),
        &SeverityModel::builtin(),
        &ScenarioCatalogue::builtin(),
    )
    .unwrap()
}

#[test]
fn every_year_total_is_the_sum_of_the_insureds_losses() {
    let p = portfolio(300);
    let seed = 5;
    let mut nonzero_years = 0;
    for year in 0..2000 {
        let d = p.year_detail(seed, year);
        let sum: f64 = d.losses.iter().map(|(_, l, _)| l).sum();
        let gross: f64 = d.losses.iter().map(|(_, _, g)| g).sum();
        assert_eq!(d.outcome.layer, sum, "year {year}");
        assert_eq!(d.outcome.gross, gross, "year {year}");
        assert!(d.outcome.catastrophe <= d.outcome.layer * (1.0 + 1e-12));
        assert!(d.losses.iter().all(|&(_, l, g)| l >= 0.0 && l <= g + 1e-9));
        nonzero_years += usize::from(sum > 0.0);
        // Replaying a year gives the same year.
        assert_eq!(p.year_detail(seed, year), d);
    }
    assert!(
        nonzero_years > 1000,
        "only {nonzero_years} years with a loss"
    );
}

#[test]
fn co_tvar_shares_add_up_and_the_tail_is_coherent() {
    let p = portfolio(1000);
    // Every group kept, so the concentrations can be checked as partitions.
    let r = p.run(4000, 3, 1000, &|_| {}).unwrap();
    // The co-TVaRs come from replaying the tail years one insured at a time; TVaR 99.5 % from
    // the first pass's year totals. They agree only if the replay is the same years with the
    // same losses (the shares' sum is 1 by construction, so it would not catch that).
    let replayed: f64 = r.insured_results.iter().map(|i| i.co_tvar).sum();
    let first_pass = r.tvar["99.5"];
    assert!(first_pass > 0.0);
    assert!(
        (replayed - first_pass).abs() <= 1e-9 * first_pass,
        "replayed tail {replayed} vs first pass {first_pass}"
    );
    let shares: f64 = r.insured_results.iter().map(|i| i.co_tvar_share).sum();
    assert!((shares - 1.0).abs() < 1e-9, "shares add to {shares}");
    let el: f64 = r.insured_results.iter().map(|i| i.expected_loss).sum();
    assert!((el - r.expected_loss).abs() < 1e-6 * r.expected_loss);
    assert!(
        (r.attritional_expected_loss + r.catastrophe_expected_loss - r.expected_loss).abs()
            < 1e-6 * r.expected_loss
    );
    let scenario_el: f64 = r.scenarios.iter().map(|s| s.expected_loss).sum();
    assert!((scenario_el - r.catastrophe_expected_loss).abs() < 1e-6 * r.expected_loss);
    assert!(r.pml["100"] <= r.pml["200"] && r.var["99.5"] <= r.tvar["99.5"]);
    assert!(r.ep_curve.windows(2).all(|w| w[0].loss <= w[1].loss));
    // Concentrations: the industry groups, and the region groups, partition the book: their
    // insureds, expected losses and tail shares add up to the book's.
    for dim in ["industry", "region"] {
        let groups = &r.concentrations[dim];
        assert!(groups.len() > 1, "{dim}: one group only");
        let insureds: usize = groups.iter().map(|c| c.insureds).sum();
        let el: f64 = groups.iter().map(|c| c.expected_loss).sum();
        let share: f64 = groups.iter().map(|c| c.co_tvar_share).sum();
        assert_eq!(insureds, r.insureds, "{dim}");
        assert!(
            (el - r.expected_loss).abs() < 1e-6 * r.expected_loss,
            "{dim}: {el}"
        );
        assert!((share - 1.0).abs() < 1e-9, "{dim}: shares add to {share}");
    }
    assert!(
        r.scenarios
            .iter()
            .any(|s| s.exposed_insureds > 0 && s.expected_loss > 0.0)
    );
}

#[test]
fn same_seed_same_numbers_on_one_or_two_threads() {
    let p = portfolio(500);
    let go = |threads: usize| {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap();
        pool.install(|| serde_json::to_string(&p.run(3000, 9, 5, &|_| {}).unwrap()).unwrap())
    };
    assert_eq!(go(1), go(2));
}

#[test]
fn correlation_fattens_the_tail() {
    // The same book without catastrophe scenarios or frailty has a thinner tail relative to
    // its mean than with them.
    let independent = ScenarioCatalogue::from_toml(
        "id = \"none\"\nversion = \"0\"\nrate_sensitivity = 0.5\nscenarios = []\n",
    )
    .unwrap();
    let a = Portfolio::new(book(1000), &SeverityModel::builtin(), &independent)
        .unwrap()
        .run(4000, 1, 5, &|_| {})
        .unwrap();
    let b = portfolio(1000).run(4000, 1, 5, &|_| {}).unwrap();
    assert!(b.tvar["99.5"] / b.expected_loss > a.tvar["99.5"] / a.expected_loss);
    assert_eq!(a.catastrophe_expected_loss, 0.0);
}

#[test]
fn kev_scenario_products_have_kev_history() {
    let kev = std::fs::read_to_string(root().join("data/kev/kev-2025.08.25.json")).unwrap();
    let kev = KevCatalog::from_json(&kev).unwrap();
    let cat = ScenarioCatalogue::builtin();
    let mut checked = 0;
    for s in cat.scenarios.iter().filter(|s| s.vendor.is_some()) {
        let (v, p) = (s.vendor.as_deref().unwrap(), s.product.as_deref().unwrap());
        assert!(
            kev.has_product_history(v, Some(p)),
            "{}: {v} {p} has no KEV entry",
            s.id
        );
        checked += 1;
    }
    assert!(checked >= 5);
}

#[test]
fn bad_books_and_catalogues_are_rejected_with_the_field() {
    let text = std::fs::read_to_string(root().join("examples/book-1000.json")).unwrap();
    let mut v: serde_json::Value = serde_json::from_str(&text).unwrap();
    v["insureds"][3]["policy"]["deductible"] = 1e12.into();
    let e = Book::from_json(&v.to_string()).unwrap_err();
    assert_eq!(e.field, "insureds[3].policy.deductible");
    let mut v: serde_json::Value = serde_json::from_str(&text).unwrap();
    v["insureds"][7]["expected_incident_rate"] = (-1.0).into();
    assert_eq!(
        Book::from_json(&v.to_string()).unwrap_err().field,
        "insureds[7].expected_incident_rate"
    );
    let mut v: serde_json::Value = serde_json::from_str(&text).unwrap();
    v["insureds"][1]["id"] = v["insureds"][0]["id"].clone();
    assert_eq!(
        Book::from_json(&v.to_string()).unwrap_err().field,
        "insureds[1].id"
    );
    let shipped = include_str!("../../models/scenarios-v1.toml");
    let e = ScenarioCatalogue::from_toml(&shipped.replacen(
        "hit_probability = 0.15",
        "hit_probability = 1.5",
        1,
    ))
    .unwrap_err();
    assert_eq!(e.field, "scenarios[0].hit_probability");
    assert!(p_run_zero_trials().contains("trials"));
}

fn p_run_zero_trials() -> String {
    portfolio(10).run(0, 1, 5, &|_| {}).unwrap_err().to_string()
}
