//! Side by side, in one run: cyrisk's event-level simulation against numpy (the same
//! event-level model, vectorised), pyfair 0.1a13 and pycrq (product-form FAIR tools), on
//! Poisson(0.3) × lognormal(90 % interval 50k–5M), one million years.
//!
//! `cargo bench -p cyrisk-benches --bench peers`
//!
//! The Python peers run in a virtual environment this bench creates under
//! `target/peers-venv` from PyPI (numpy, pyfair==0.1a13, pycrq); cyrisk does not depend on
//! Python. Without python3 or PyPI the peers are skipped and said so.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use cyrisk_benches::sim_model::{DEDUCTIBLE, HI, LAMBDA, LIMIT, LO, events, layer};
use cyrisk_sim::exact::aggregate;
use cyrisk_sim::frequency::Frequency;
use cyrisk_sim::simulate::{SimResult, SimSpec, simulate};
use cyrisk_sim::terms::Layer;

const YEARS: u64 = 1_000_000;

fn ours(threads: usize, layer: &Layer) -> (f64, SimResult) {
    let ev = events();
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .expect("pool");
    let f = Frequency::poisson(LAMBDA).expect("rate");
    let mut best = f64::INFINITY;
    let mut out = None;
    for _ in 0..20 {
        let t = Instant::now();
        let r = pool.install(|| {
            simulate(
                &SimSpec {
                    events: &ev,
                    frequency: f,
                    layer,
                    trials: YEARS,
                    seed: 1,
                },
                &|_| {},
            )
        });
        best = best.min(t.elapsed().as_secs_f64());
        out = r.ok();
    }
    (best, out.expect("simulation runs"))
}

fn venv(root: &Path) -> Option<PathBuf> {
    let dir = root.join("target/peers-venv");
    let py = dir.join("bin/python");
    if !py.exists() {
        eprintln!(
            "creating {} (numpy, pyfair==0.1a13, pycrq from PyPI)…",
            dir.display()
        );
        let ok = Command::new("python3")
            .args(["-m", "venv"])
            .arg(&dir)
            .status()
            .ok()?
            .success()
            && Command::new(&py)
                .args([
                    "-m",
                    "pip",
                    "install",
                    "-q",
                    "numpy",
                    "pyfair==0.1a13",
                    "pycrq",
                ])
                .status()
                .ok()?
                .success();
        if !ok {
            return None;
        }
    }
    Some(py)
}

fn main() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("workspace")
        .to_path_buf();
    let ly = layer();
    let (t1, r1) = ours(1, &ly);
    let (t2, _) = ours(2, &ly);
    let (tg, rg) = ours(2, &Layer::default());
    let exact = aggregate(
        &events(),
        Frequency::poisson(LAMBDA).unwrap(),
        &Layer::default(),
        1,
    )
    .unwrap();
    let exact_layer = aggregate(&events(), Frequency::poisson(LAMBDA).unwrap(), &ly, 1).unwrap();

    println!(
        "Model: Poisson({LAMBDA}) x lognormal 90 % interval {LO}–{HI}; {YEARS} years; layer {LIMIT} xs {DEDUCTIBLE}"
    );
    println!(
        "{:<52} {:>10} {:>14} {:>14}",
        "tool", "seconds", "M years/s", "M years/s/core"
    );
    let row = |name: &str, secs: f64, cores: f64| {
        let rate = YEARS as f64 / secs / 1e6;
        println!(
            "{name:<52} {secs:>10.4} {rate:>14.1} {:>14.1}",
            rate / cores
        );
    };
    row(
        "cyrisk, layer + VaR/TVaR + both EP curves, 1 thread",
        t1,
        1.0,
    );
    row(
        "cyrisk, layer + VaR/TVaR + both EP curves, 2 threads",
        t2,
        2.0,
    );
    row(
        "cyrisk, gross + VaR/TVaR + both EP curves, 2 threads",
        tg,
        2.0,
    );
    let mut peers = Vec::new();
    match venv(&root) {
        None => println!("(python peers skipped: could not create the virtual environment)"),
        Some(py) => {
            let out = Command::new(py)
                .arg(root.join("benches/peers/peers.py"))
                .args([YEARS, 0, 0, 0, 0, 0].iter().take(1).map(|y| y.to_string()))
                .args(
                    [LAMBDA, LO, HI, DEDUCTIBLE, LIMIT]
                        .iter()
                        .map(|v| v.to_string()),
                )
                .output();
            match out {
                Ok(o) if o.status.success() => {
                    for line in String::from_utf8_lossy(&o.stdout).lines() {
                        let v: serde_json::Value = serde_json::from_str(line).unwrap_or_default();
                        if let Some(err) = v.get("error") {
                            println!("{:<52} failed: {err}", v["tool"].as_str().unwrap_or("?"));
                            continue;
                        }
                        let secs = v["seconds"].as_f64().unwrap_or(f64::NAN);
                        row(v["tool"].as_str().unwrap_or("?"), secs, 1.0);
                        peers.push(v);
                    }
                }
                Ok(o) => println!(
                    "(python peers failed: {})",
                    String::from_utf8_lossy(&o.stderr)
                ),
                Err(e) => println!("(python peers skipped: {e})"),
            }
        }
    }

    println!(
        "\nTail of the annual loss: VaR / TVaR (relative error against the exact (FFT) value)"
    );
    let rel = |v: f64, e: f64| format!("{v:>12.0} ({:+5.1} %)", (v / e - 1.0) * 100.0);
    println!(
        "{:<46} {:>22} {:>22} {:>22}",
        "", "VaR 95", "TVaR 99", "mean"
    );
    println!(
        "{:<46} {:>22.0} {:>22.0} {:>22.0}",
        "exact (FFT), gross", exact.var["95"], exact.tvar["99"], exact.layer.expected_loss
    );
    println!(
        "{:<46} {:>22} {:>22} {:>22}",
        "cyrisk Monte Carlo, gross",
        rel(rg.var["95"], exact.var["95"]),
        rel(rg.tvar["99"], exact.tvar["99"]),
        rel(rg.layer.expected_loss, exact.layer.expected_loss)
    );
    for v in peers
        .iter()
        .filter(|v| v["tool"].as_str().is_some_and(|t| t.contains("gross")))
    {
        let (var95, tvar99) = (
            v["tail"]["95"][0].as_f64().unwrap_or(f64::NAN),
            v["tail"]["99"][1].as_f64().unwrap_or(f64::NAN),
        );
        println!(
            "{:<46} {:>22} {:>22} {:>22}",
            v["tool"].as_str().unwrap_or("?"),
            rel(var95, exact.var["95"]),
            rel(tvar99, exact.tvar["99"]),
            rel(
                v["mean"].as_f64().unwrap_or(f64::NAN),
                exact.layer.expected_loss
            )
        );
    }
    println!(
        "{:<46} {:>22.0} {:>22.0} {:>22.0}",
        "exact (FFT), layer",
        exact_layer.var["95"],
        exact_layer.tvar["99"],
        exact_layer.layer.expected_loss
    );
    println!(
        "{:<46} {:>22} {:>22} {:>22}",
        "cyrisk Monte Carlo, layer",
        rel(r1.var["95"], exact_layer.var["95"]),
        rel(r1.tvar["99"], exact_layer.tvar["99"]),
        rel(r1.layer.expected_loss, exact_layer.layer.expected_loss)
    );
}
