//! A seeded generator of synthetic books for demos and benches: each insured gets a small
//! synthetic assessment bundle, is rated by the real rating model, and carries the resulting
//! rate into the book. `cyrisk demo book --size N --seed S` writes one.

use chrono::{Duration, NaiveDate};
use cyrisk_core::asset::{Asset, AssetKind, Criticality, Service, Transport};
use cyrisk_core::bundle::AssessmentBundle;
use cyrisk_core::control::{ControlId, ControlResult, Outcome};
use cyrisk_core::cvss::Severity;
use cyrisk_core::finding::{Finding, FindingState};
use cyrisk_core::profile::{DataVolumes, Industry, Profile};
use cyrisk_core::units::{Currency, Money, Probability};
use cyrisk_core::{KevCatalog, RatingModel, rate};
use rayon::prelude::*;

use crate::portfolio::{Book, Insured, Policy, ProductRef};
use crate::severity::uniform;
use crate::simulate::{SimRng, batch_rng};

/// Internet-facing products and how common they are in the synthetic book.
const PRODUCTS: [(&str, &str, f64); 8] = [
    ("Fortinet", "FortiOS", 0.30),
    ("Citrix", "NetScaler ADC", 0.12),
    ("Ivanti", "Connect Secure", 0.10),
    ("Palo Alto Networks", "PAN-OS", 0.12),
    ("Microsoft", "Exchange Server", 0.25),
    ("Progress", "MOVEit Transfer", 0.04),
    ("VMware", "ESXi", 0.35),
    ("Apache", "HTTP Server", 0.30),
];
const PROVIDERS: [(&str, f64); 3] = [
    ("aliyun", 0.40),
    ("tencent_cloud", 0.20),
    ("huawei_cloud", 0.15),
];
const REGIONS: [&str; 10] = [
    "CN-BJ", "CN-SH", "CN-GD", "CN-JS", "CN-ZJ", "CN-HB", "CN-SC", "CN-SD", "CN-HE", "CN-FJ",
];
const LIMITS: [f64; 6] = [1.0e6, 2.0e6, 5.0e6, 1.0e7, 2.0e7, 5.0e7];

fn pick<'a, T>(rng: &mut SimRng, items: &'a [T]) -> &'a T {
    &items[((uniform(rng) * items.len() as f64) as usize).min(items.len() - 1)]
}

fn chance(rng: &mut SimRng, p: f64) -> bool {
    uniform(rng) < p
}

/// A synthetic book of `size` insureds, rated as of `as_of`. Same inputs → same book.
pub fn demo_book(
    size: usize,
    seed: u64,
    kev: &KevCatalog,
    as_of: NaiveDate,
    progress: &(dyn Fn(u64) + Sync),
) -> Book {
    let model = RatingModel::builtin();
    let insureds = (0..size)
        .into_par_iter()
        .map(|i| {
            let ins = insured(i, seed, kev, &model, as_of);
            progress(1);
            ins
        })
        .collect();
    Book {
        currency: "CNY".into(),
        insureds,
    }
}

fn insured(
    i: usize,
    seed: u64,
    kev: &KevCatalog,
    model: &RatingModel,
    as_of: NaiveDate,
) -> Insured {
    let mut rng = batch_rng(seed, i as u64);
    let rng = &mut rng;
    let industry = *pick(rng, &Industry::ALL);
    let region = (*pick(rng, &REGIONS)).to_owned();
    let revenue = (uniform(rng) * (5.0e10f64.ln() - 5.0e6f64.ln()) + 5.0e6f64.ln())
        .exp()
        .round();
    let employees = ((revenue / 1.5e6) * (0.5 + uniform(rng))).clamp(5.0, 200_000.0) as u32;
    let records = (revenue / 500.0 * (0.1 + 2.0 * uniform(rng))).round() as u64;
    let products: Vec<ProductRef> = PRODUCTS
        .iter()
        .filter(|(_, _, p)| chance(rng, *p))
        .map(|(v, p, _)| ProductRef {
            vendor: (*v).into(),
            product: (*p).into(),
        })
        .collect();
    let providers: Vec<String> = PROVIDERS
        .iter()
        .filter(|(_, p)| chance(rng, *p))
        .map(|(n, _)| (*n).to_owned())
        .collect();

    let day = |d: f64| as_of - Duration::days(d as i64);
    let mut assets = Vec::new();
    let mut findings = Vec::new();
    for (k, p) in products.iter().enumerate() {
        let perimeter = matches!(
            p.vendor.as_str(),
            "Fortinet" | "Citrix" | "Ivanti" | "Palo Alto Networks"
        );
        let id = format!("a{k}");
        assets.push(Asset {
            id: id.clone(),
            kind: if perimeter {
                AssetKind::SecurityDevice
            } else {
                AssetKind::Host
            },
            hostname: None,
            aliases: Vec::new(),
            ip: None,
            internet_facing: perimeter || p.product != "ESXi",
            services: vec![Service {
                port: 443,
                protocol: Transport::Tcp,
                name: Some("https".into()),
                product: None,
                version: None,
                cpe: None,
            }],
            vendor: Some(p.vendor.clone()),
            product: Some(p.product.clone()),
            version: None,
            cpe: None,
            end_of_life: chance(rng, 0.05),
            kev_product: false,
            criticality: if perimeter {
                Criticality::High
            } else {
                Criticality::Medium
            },
            data_classes: vec![],
            declared: true,
            owner: None,
            first_seen: Some(day(1500.0)),
            last_seen: Some(day(uniform(rng) * 20.0)),
            os: None,
            stale: false,
            facts: Vec::new(),
            self_declared: false,
        });
        let cves = kev.cves_for(&p.vendor, &p.product);
        if !cves.is_empty() && chance(rng, 0.15) {
            findings.push(Finding {
                id: format!("f{k}"),
                asset: id,
                title: None,
                cve: Some((*pick(rng, &cves)).clone()),
                additional_cves: Vec::new(),
                cvss_vector: None,
                cvss_score: None,
                severity: Some(Severity::Critical),
                epss: Some(Probability::new(0.5 + 0.49 * uniform(rng)).expect("in range")),
                kev: false,
                state: if chance(rng, 0.3) {
                    FindingState::RemediationRequested
                } else {
                    FindingState::Open
                },
                counts_as: None,
                first_seen: day(uniform(rng) * 200.0),
                fixed_at: None,
                source: None,
                evidence: None,
            });
        }
    }
    if chance(rng, 0.12) {
        assets.push(Asset {
            id: "rdp".into(),
            kind: AssetKind::Host,
            hostname: None,
            aliases: Vec::new(),
            ip: None,
            internet_facing: true,
            services: vec![Service {
                port: 3389,
                protocol: Transport::Tcp,
                name: None,
                product: None,
                version: None,
                cpe: None,
            }],
            vendor: None,
            product: None,
            version: None,
            cpe: None,
            end_of_life: false,
            kev_product: false,
            criticality: Criticality::Medium,
            data_classes: vec![],
            declared: chance(rng, 0.5),
            owner: None,
            first_seen: Some(day(300.0)),
            last_seen: Some(day(3.0)),
            os: None,
            stale: false,
            facts: Vec::new(),
            self_declared: false,
        });
    }
    let mut controls = Vec::new();
    for control in [
        ControlId::Mfa,
        ControlId::Edr,
        ControlId::OfflineBackups,
        ControlId::PatchCadence,
        ControlId::SecurityAwareness,
    ] {
        if chance(rng, 0.8) {
            controls.push(ControlResult {
                control,
                outcome: *pick(
                    rng,
                    &[
                        Outcome::Pass,
                        Outcome::Pass,
                        Outcome::Partial,
                        Outcome::Fail,
                    ],
                ),
                assessed_on: Some(day(uniform(rng) * 500.0)),
                evidence: None,
                level: None,
                scope: None,
                self_declared: false,
            });
        }
    }
    let bundle = AssessmentBundle {
        schema_version: 1,
        profile: Profile {
            name: format!("Insured {i:05}"),
            industry,
            annual_revenue: Money::new(revenue).expect("positive"),
            currency: Currency::cny(),
            employees,
            region: region.clone(),
            ciio: chance(rng, 0.03),
            data: Some(DataVolumes {
                personal_records: records,
                ..Default::default()
            }),
            incident_history_since: Some(day(1095.0)),
        },
        assets,
        findings,
        controls,
        incidents: vec![],
        scan_date: Some(day(uniform(rng) * 30.0)),
    };
    let mut bundle = bundle.validate().expect("synthetic bundles are valid");
    bundle.apply_kev(kev);
    let rating = rate(&bundle, model, as_of);
    let limit = *LIMITS
        .iter()
        .rev()
        .find(|l| **l <= (revenue * 0.02).max(LIMITS[0]))
        .unwrap_or(&LIMITS[0]);
    Insured {
        id: format!("INS-{i:05}"),
        name: format!("Insured {i:05}"),
        industry,
        region,
        annual_revenue: revenue,
        personal_records: records,
        expected_incident_rate: rating.expected_incident_rate,
        score: Some(rating.score),
        grade: Some(rating.grade),
        products,
        providers,
        policy: Policy {
            deductible: (limit * 0.02).round(),
            limit,
            aggregate_limit: Some(limit),
        },
    }
}
