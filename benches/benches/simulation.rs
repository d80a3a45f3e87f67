//! Loss-simulation speed: one organisation over a million years (on one and two threads), a
//! 10,000-year quote, and the exact Panjer computation.
//!
//! `cargo bench -p cyrisk-benches --bench simulation`

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use cyrisk_benches::sim_model::{LAMBDA, events, layer};
use cyrisk_sim::exact::aggregate;
use cyrisk_sim::frequency::Frequency;
use cyrisk_sim::simulate::{SimSpec, simulate};

fn single_organisation(c: &mut Criterion) {
    let ev = events();
    let ly = layer();
    let f = Frequency::poisson(LAMBDA).unwrap();
    let mut g = c.benchmark_group("single_org_1M_years_layer_var_tvar_ep");
    g.throughput(Throughput::Elements(1_000_000));
    for threads in [1, 2] {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap();
        g.bench_function(format!("{threads}_threads"), |b| {
            b.iter(|| {
                pool.install(|| {
                    let spec = SimSpec {
                        events: &ev,
                        frequency: f,
                        layer: &ly,
                        trials: 1_000_000,
                        seed: black_box(1),
                    };
                    simulate(&spec, &|_| {}).unwrap()
                })
            })
        });
    }
    g.finish();

    let mut g = c.benchmark_group("quote");
    g.bench_function("10k_years", |b| {
        b.iter(|| {
            let spec = SimSpec {
                events: &ev,
                frequency: f,
                layer: &ly,
                trials: 10_000,
                seed: black_box(1),
            };
            simulate(&spec, &|_| {}).unwrap()
        })
    });
    g.bench_function("exact_fft", |b| {
        b.iter(|| aggregate(&ev, f, &ly, black_box(1)).unwrap())
    });
    g.finish();
}

criterion_group!(benches, single_organisation);
criterion_main!(benches);
