//! Market sanity: a seeded synthetic book rated (rating v2), costed (severity v2) and priced
//! (pricing v2) by size band, beside the public market's bands. Not a timing bench: it prints
//! the table that README and docs/MODEL.md quote.
//!
//! `cargo bench -p cyrisk-benches --bench market_sanity` (BOOK=5000 PRICED=60 TRIALS=50000).

use chrono::NaiveDate;
use cyrisk_core::{KevCatalog, RatingModel};
use cyrisk_sim::demo::demo_organization;
use cyrisk_sim::market::{MarketRun, market_sanity};
use cyrisk_sim::pricing::PricingModel;
use cyrisk_sim::severity::SeverityModel;
use rayon::prelude::*;

fn env(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn main() {
    let kev = KevCatalog::from_json(include_str!("../../data/kev/kev-2025.08.25.json"))
        .expect("bundled KEV snapshot");
    let as_of = NaiveDate::from_ymd_opt(2026, 11, 30).expect("date");
    let size = env("BOOK", 5000) as usize;
    let orgs: Vec<_> = (0..size)
        .into_par_iter()
        .map(|i| demo_organization(i, 7, &kev, as_of))
        .collect();
    let started = std::time::Instant::now();
    let report = market_sanity(
        &orgs,
        &RatingModel::builtin(),
        &SeverityModel::builtin(),
        &PricingModel::builtin(),
        MarketRun {
            as_of,
            priced_per_band: env("PRICED", 60) as usize,
            trials: env("TRIALS", 50_000),
            seed: 1,
        },
    );
    print!("{}", report.to_text());
    eprintln!("({:.1} s)", started.elapsed().as_secs_f64());
}
