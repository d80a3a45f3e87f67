//! Rating speed: one large organisation, and a batch of organisations across cores.
//!
//! `cargo bench -p cyrisk-benches --bench rating`

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use cyrisk_benches::{as_of, synthetic_bundle};
use cyrisk_core::{RatingModel, plan, rate, rate_many, score_of};
use std::hint::black_box;

fn large_organisation(c: &mut Criterion) {
    let model = RatingModel::builtin();
    let bundle = synthetic_bundle(10_000, 100_000, 42);
    let mut g = c.benchmark_group("large_org_10k_assets_100k_findings");
    g.throughput(Throughput::Elements(100_000));
    g.bench_function("rate", |b| {
        b.iter(|| rate(black_box(&bundle), &model, as_of()))
    });
    g.bench_function("score_only", |b| {
        b.iter(|| score_of(black_box(&bundle), &model, as_of()))
    });
    // The reference in the same run: the first model (soft counts, no peril split).
    let v1 = RatingModel::builtin_v1();
    g.bench_function("rate_model_v1", |b| {
        b.iter(|| rate(black_box(&bundle), &v1, as_of()))
    });
    g.sample_size(20);
    g.bench_function("plan_top10", |b| {
        b.iter(|| plan(black_box(&bundle), &model, as_of(), 10))
    });
    g.finish();
}

fn batch(c: &mut Criterion) {
    let model = RatingModel::builtin();
    let bundles: Vec<_> = (0..1000).map(|i| synthetic_bundle(100, 1_000, i)).collect();
    let mut g = c.benchmark_group("batch_1000_orgs_x_1000_findings");
    g.sample_size(10);
    g.throughput(Throughput::Elements(1000));
    g.bench_function("rate_many", |b| {
        b.iter(|| rate_many(black_box(&bundles), &model, as_of()))
    });
    g.finish();
}

criterion_group!(benches, large_organisation, batch);
criterion_main!(benches);
