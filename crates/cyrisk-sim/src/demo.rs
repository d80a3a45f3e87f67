//! A seeded generator of synthetic books for demos and benches: each insured gets a small
//! synthetic assessment bundle, is rated by the real rating model, and carries the resulting
//! rate into the book. `cyrisk demo book --size N --seed S` writes one.

use chrono::{Duration, NaiveDate};
use cyrisk_core::asset::{Asset, AssetKind, Criticality, Service, Transport};
use cyrisk_core::bundle::AssessmentBundle;
use cyrisk_core::bundle::Bundle;
use cyrisk_core::control::{ControlId, ControlResult, Outcome};
use cyrisk_core::cvss::Severity;
use cyrisk_core::finding::{Finding, FindingState};
use cyrisk_core::profile::{DataVolumes, Industry, Profile};
use cyrisk_core::rating::Rating;
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

/// The book's mix by revenue band (share of policies, revenue range in CNY): SME-heavy, as
/// cyber books are (most of Coalition's policies are written for firms under USD 25M revenue,
/// Cyber Claims Report 2025). Judgement.
const BAND_MIX: [(f64, f64, f64); 5] = [
    (0.45, 5.0e6, 7.2e7),
    (0.30, 7.2e7, 7.2e8),
    (0.17, 7.2e8, 7.2e9),
    (0.06, 7.2e9, 7.2e10),
    (0.02, 7.2e10, 5.0e11),
];

/// Chance each control is in place (pass) for an organisation of average maturity, and
/// whether the book has evidence for it. Judgement informed by the adoption rates insurers
/// and surveys report: patching high-severity flaws within 7 days 24 % (Marsh McLennan,
/// "Using data to prioritize cybersecurity investments", 2023); MFA, EDR and backups are the
/// controls insurers have required since 2021 and are the most common.
const CONTROL_ADOPTION: [(ControlId, f64); 14] = [
    (ControlId::Mfa, 0.55),
    (ControlId::Edr, 0.45),
    (ControlId::OfflineBackups, 0.55),
    (ControlId::PrivilegedAccess, 0.30),
    (ControlId::LogRetention, 0.45),
    (ControlId::IncidentResponse, 0.35),
    (ControlId::SecurityAwareness, 0.45),
    (ControlId::EmailAuthentication, 0.45),
    (ControlId::PatchCadence, 0.20),
    (ControlId::HardeningNetwork, 0.35),
    (ControlId::HardeningOs, 0.35),
    (ControlId::HardeningDatabase, 0.35),
    (ControlId::HardeningMiddleware, 0.35),
    (ControlId::Mlps, 0.40),
];

fn pick<'a, T>(rng: &mut SimRng, items: &'a [T]) -> &'a T {
    &items[((uniform(rng) * items.len() as f64) as usize).min(items.len() - 1)]
}

fn chance(rng: &mut SimRng, p: f64) -> bool {
    uniform(rng) < p
}

fn normal(rng: &mut SimRng) -> f64 {
    // Box–Muller; one draw is enough here.
    let u1 = uniform(rng).max(1e-300);
    let u2 = uniform(rng);
    (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
}

fn poisson(rng: &mut SimRng, mean: f64) -> usize {
    // Inversion; means here are small (≤ ~30).
    let mut k = 0usize;
    let mut p = (-mean).exp();
    let mut cdf = p;
    let u = uniform(rng);
    while u > cdf && k < 500 {
        k += 1;
        p *= mean / k as f64;
        cdf += p;
    }
    k
}

fn logistic(x: f64) -> f64 {
    1.0 / (1.0 + (-x).exp())
}

fn logit(p: f64) -> f64 {
    (p / (1.0 - p)).ln()
}

/// A synthetic book of `size` insureds, rated by `model` as of `as_of`. Same inputs → same
/// book.
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
            let org = demo_organization(i, seed, kev, as_of);
            let rating = rate(&org.bundle, &model, as_of);
            progress(1);
            org.insured(&rating)
        })
        .collect();
    Book {
        currency: "CNY".into(),
        insureds,
    }
}

/// One synthetic organisation: its assessment bundle and what the book records about it.
#[derive(Debug, Clone)]
pub struct DemoOrganization {
    pub index: usize,
    pub bundle: Bundle,
    /// Security maturity drawn for it (standard normal; higher is better): the latent
    /// variable its controls and exposures were drawn from.
    pub maturity: f64,
    pub products: Vec<ProductRef>,
    pub providers: Vec<String>,
    pub region: String,
    pub policy: Policy,
}

impl DemoOrganization {
    /// The book entry for this organisation rated `rating`.
    pub fn insured(&self, rating: &Rating) -> Insured {
        let p = self.bundle.profile();
        Insured {
            id: format!("INS-{:05}", self.index),
            name: p.name.clone(),
            industry: p.industry,
            region: self.region.clone(),
            annual_revenue: p.annual_revenue.get(),
            personal_records: p.data.as_ref().map_or(0, |d| d.personal_records),
            expected_incident_rate: rating.expected_incident_rate,
            score: Some(rating.score),
            grade: Some(rating.grade.clone()),
            products: self.products.clone(),
            providers: self.providers.clone(),
            policy: self.policy.clone(),
        }
    }
}

fn host(id: String, internet_facing: bool, port: u16, last_seen: NaiveDate) -> Asset {
    Asset {
        id,
        kind: AssetKind::Host,
        hostname: None,
        aliases: Vec::new(),
        ip: None,
        internet_facing,
        services: vec![Service {
            port,
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
        declared: true,
        owner: None,
        first_seen: Some(last_seen - Duration::days(700)),
        last_seen: Some(last_seen),
        os: None,
        stale: false,
        facts: Vec::new(),
        self_declared: false,
    }
}

/// The synthetic organisation number `i` of the book seeded `seed`.
///
/// Prevalences (judgement unless cited, per organisation of average maturity): an
/// internet-facing VPN gateway or firewall 50 %; remote access (RDP, SMB) exposed to the
/// internet 8 % (for scale: 53 % of the Fortune 500 exposed RDP at least once in two weeks of
/// April 2019, Expanse with 451 Research — large estates; an SME-heavy book sits far lower);
/// a database answering on the internet 3 %; end-of-life software 25 % (for scale: 3 % of
/// enterprise endpoints still ran Windows XP and 13 % an unsupported Internet Explorer, Duo
/// Security Trusted Access Report 2017 — per endpoint, so per organisation far more);
/// undeclared internet-facing assets 25 %; about 1.5 findings per internet-facing asset,
/// EPSS mostly below 1 % (the EPSS v3 score distribution, FIRST 2023), a few KEV-listed.
/// Each organisation draws a maturity z ~ N(0, 1), a little higher for larger firms; controls
/// pass with probability logistic(logit(adoption) + 1.2 z), and exposures and findings fall
/// with z, so posture is correlated as it is in practice.
pub fn demo_organization(
    i: usize,
    seed: u64,
    kev: &KevCatalog,
    as_of: NaiveDate,
) -> DemoOrganization {
    let mut rng = batch_rng(seed, i as u64);
    let rng = &mut rng;
    let industry = *pick(rng, &Industry::ALL);
    let region = (*pick(rng, &REGIONS)).to_owned();
    let u = uniform(rng);
    let mut acc = 0.0;
    let (band, lo, hi) = BAND_MIX
        .iter()
        .enumerate()
        .find(|(_, (share, _, _))| {
            acc += share;
            u < acc
        })
        .map_or((4, BAND_MIX[4].1, BAND_MIX[4].2), |(b, &(_, lo, hi))| {
            (b, lo, hi)
        });
    let revenue = (lo.ln() + uniform(rng) * (hi.ln() - lo.ln())).exp().round();
    let employees = ((revenue / 1.4e6) * (0.5 + uniform(rng))).clamp(3.0, 400_000.0) as u32;
    let records = (revenue / 2000.0 * (0.1 + 2.0 * uniform(rng))).round() as u64;
    let maturity = normal(rng) + 0.15 * band as f64;
    let worse = (-0.5 * maturity).exp();

    let providers: Vec<String> = PROVIDERS
        .iter()
        .filter(|(_, p)| chance(rng, *p))
        .map(|(n, _)| (*n).to_owned())
        .collect();
    let day = |d: f64| as_of - Duration::days(d as i64);
    let scale = (revenue / 7.2e7).powf(0.35);
    let n_internet = (1 + poisson(rng, 2.0 * scale)).min(60);
    let n_internal = poisson(rng, 2.0 * n_internet as f64).min(150);

    let mut assets = Vec::new();
    let mut products = Vec::new();
    for k in 0..n_internet {
        assets.push(host(format!("web{k}"), true, 443, day(uniform(rng) * 20.0)));
    }
    for k in 0..n_internal {
        let mut a = host(format!("int{k}"), false, 445, day(uniform(rng) * 40.0));
        if chance(rng, 0.2) {
            a.criticality = Criticality::High;
        }
        assets.push(a);
    }
    // Products: a perimeter appliance and common internet-facing software.
    for (vendor, product, p) in PRODUCTS {
        if !chance(rng, p) {
            continue;
        }
        let perimeter = matches!(
            vendor,
            "Fortinet" | "Citrix" | "Ivanti" | "Palo Alto Networks"
        );
        products.push(ProductRef {
            vendor: vendor.into(),
            product: product.into(),
        });
        let mut a = host(
            format!("p{}", products.len()),
            product != "ESXi",
            443,
            day(uniform(rng) * 20.0),
        );
        a.kind = if perimeter {
            AssetKind::SecurityDevice
        } else {
            AssetKind::Host
        };
        a.criticality = if perimeter {
            Criticality::High
        } else {
            Criticality::Medium
        };
        a.vendor = Some(vendor.into());
        a.product = Some(product.into());
        assets.push(a);
    }
    if chance(rng, (0.08 * worse).min(1.0)) {
        let port = *pick(rng, &[3389u16, 3389, 445, 5900]);
        assets.push(host("rdp".into(), true, port, day(3.0)));
    }
    if chance(rng, (0.03 * worse).min(1.0)) {
        assets.push(host("db".into(), true, 3306, day(3.0)));
    }
    if chance(rng, (0.25 * worse).min(1.0)) {
        let internet = chance(rng, 0.3);
        let candidates: Vec<usize> = (0..assets.len())
            .filter(|&k| assets[k].internet_facing == internet)
            .collect();
        if !candidates.is_empty() {
            let k = *pick(rng, &candidates);
            assets[k].end_of_life = true;
        }
    }
    if chance(rng, (0.25 * worse).min(1.0)) {
        let mut a = host("unknown".into(), true, 8080, day(5.0));
        a.declared = false;
        assets.push(a);
    }

    // Findings on each asset.
    let mut findings = Vec::new();
    let finding_rate = 1.5 * (-0.4 * maturity).exp();
    for (ai, a) in assets.iter().enumerate() {
        let mean = if a.internet_facing {
            finding_rate
        } else {
            0.5 * finding_rate
        };
        let kev_cves = match (&a.vendor, &a.product) {
            (Some(v), Some(p)) => kev.cves_for(v, p),
            _ => Vec::new(),
        };
        for k in 0..poisson(rng, mean).min(30) {
            let u = uniform(rng);
            let severity = if u < 0.10 {
                Severity::Critical
            } else if u < 0.40 {
                Severity::High
            } else if u < 0.85 {
                Severity::Medium
            } else {
                Severity::Low
            };
            let v = uniform(rng);
            let epss = if v < 0.80 {
                (0.0004f64.ln() + uniform(rng) * (0.01f64.ln() - 0.0004f64.ln())).exp()
            } else if v < 0.95 {
                (0.01f64.ln() + uniform(rng) * (0.1f64.ln() - 0.01f64.ln())).exp()
            } else {
                0.1 + 0.87 * uniform(rng)
            };
            let cve = if !kev_cves.is_empty() && chance(rng, 0.15) {
                Some((*pick(rng, &kev_cves)).clone())
            } else {
                None
            };
            findings.push(Finding {
                id: format!("f{ai}-{k}"),
                asset: a.id.clone(),
                title: None,
                cve,
                additional_cves: Vec::new(),
                cvss_vector: None,
                cvss_score: None,
                severity: Some(severity),
                epss: Some(Probability::new(epss.min(0.97)).expect("in range")),
                kev: false,
                state: if chance(rng, 0.2) {
                    FindingState::RemediationRequested
                } else {
                    FindingState::Open
                },
                counts_as: None,
                first_seen: day(-(uniform(rng).max(1e-12)).ln() * 90.0 * (-0.3 * maturity).exp()),
                fixed_at: None,
                source: None,
                evidence: None,
            });
        }
    }

    let mut controls = Vec::new();
    let evidence = chance(rng, 0.85);
    for (control, adoption) in CONTROL_ADOPTION {
        if !evidence || !chance(rng, 0.85) {
            continue;
        }
        let q = logistic(logit(adoption) + 1.2 * maturity);
        let u = uniform(rng);
        let outcome = if u < q {
            Outcome::Pass
        } else if u < q + 0.3 * (1.0 - q) {
            Outcome::Partial
        } else {
            Outcome::Fail
        };
        controls.push(ControlResult {
            control,
            outcome,
            assessed_on: Some(day(uniform(rng) * 400.0)),
            evidence: None,
            level: (control == ControlId::Mlps).then_some(2 + u8::from(band >= 2)),
            scope: None,
            self_declared: false,
        });
    }
    let raw = AssessmentBundle {
        schema_version: 1,
        profile: Profile {
            name: format!("Insured {i:05}"),
            industry,
            annual_revenue: Money::new(revenue).expect("positive"),
            currency: Currency::cny(),
            employees,
            region: region.clone(),
            ciio: chance(rng, 0.03 * (1.0 + band as f64)),
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
    let mut bundle = raw.validate().expect("synthetic bundles are valid");
    bundle.apply_kev(kev);
    let limit = *LIMITS
        .iter()
        .rev()
        .find(|l| **l <= (revenue * 0.02).max(LIMITS[0]))
        .unwrap_or(&LIMITS[0]);
    DemoOrganization {
        index: i,
        bundle,
        maturity,
        products,
        providers,
        region,
        policy: Policy {
            deductible: (limit * 0.01).round(),
            limit,
            aggregate_limit: Some(limit),
        },
    }
}

/// Synthetic outcomes with a known hazard, for checking validation and recalibration: each
/// organisation `(id, λ)` is observed for `years` and has Poisson(years · e^level · λ^slope)
/// incidents, drawn from its own seeded stream. Returns `(id, years, incidents)`.
pub fn synthetic_outcomes(
    rates: &[(String, f64)],
    years: f64,
    level: f64,
    slope: f64,
    seed: u64,
) -> Vec<(String, f64, u32)> {
    rates
        .iter()
        .enumerate()
        .map(|(i, (id, lambda))| {
            let mut rng = batch_rng(seed ^ 0x5EED, i as u64);
            let mean = years * (level + slope * lambda.max(1e-12).ln()).exp();
            (id.clone(), years, poisson(&mut rng, mean.min(400.0)) as u32)
        })
        .collect()
}
