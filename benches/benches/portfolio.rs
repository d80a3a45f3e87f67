//! Portfolio speed and memory: 10,000 insureds × 10,000 simulated years with catastrophe
//! scenarios and every insured's co-TVaR share, on all cores. Prints the best of five runs
//! and the process's peak RSS.
//!
//! `cargo bench -p cyrisk-benches --bench portfolio`

use std::time::Instant;

use chrono::NaiveDate;
use cyrisk_benches::peak_rss_kib;
use cyrisk_core::KevCatalog;
use cyrisk_sim::demo::demo_book;
use cyrisk_sim::portfolio::{Portfolio, ScenarioCatalogue};
use cyrisk_sim::severity::SeverityModel;

fn main() {
    // `cargo bench` passes --bench; nothing to parse.
    let kev = KevCatalog::from_json(include_str!("../../data/kev/kev-2025.08.25.json"))
        .expect("bundled KEV");
    let as_of = NaiveDate::from_ymd_opt(2026, 11, 21).expect("date");
    let t = Instant::now();
    let book = demo_book(10_000, 11, &kev, as_of, &|_| {});
    println!(
        "generated and rated a book of {} insureds in {:.2?}",
        book.insureds.len(),
        t.elapsed()
    );
    let t = Instant::now();
    let p = Portfolio::new(
        book,
        &SeverityModel::builtin(),
        &ScenarioCatalogue::builtin(),
    )
    .expect("valid book");
    println!("compiled the portfolio in {:.2?}", t.elapsed());
    let mut best = f64::INFINITY;
    let mut last = None;
    for _ in 0..5 {
        let t = Instant::now();
        let r = p.run(10_000, 1, 10, &|_| {}).expect("runs");
        best = best.min(t.elapsed().as_secs_f64());
        last = Some(r);
    }
    let r = last.expect("ran");
    println!(
        "portfolio 10,000 insureds x 10,000 years (cat scenarios, co-TVaR), {} threads: best {:.3} s",
        rayon::current_num_threads(),
        best
    );
    println!(
        "  expected loss {:.0}, PML 1-in-200 {:.0}, TVaR99.5 {:.0}, co-TVaR shares sum {:.6}",
        r.expected_loss,
        r.pml["200"],
        r.tvar["99.5"],
        r.insured_results
            .iter()
            .map(|i| i.co_tvar_share)
            .sum::<f64>()
    );
    match peak_rss_kib() {
        Some(kib) => println!(
            "  peak RSS of the whole bench process {:.1} MiB",
            kib as f64 / 1024.0
        ),
        None => println!("  peak RSS unavailable (no /proc/self/status)"),
    }
}
