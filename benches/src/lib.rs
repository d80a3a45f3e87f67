//! Synthetic, seeded assessment bundles for the benches.

use chrono::{Duration, NaiveDate};
use cyrisk_core::Bundle;
use cyrisk_core::asset::{Asset, AssetKind, Criticality, Service, Transport};
use cyrisk_core::bundle::AssessmentBundle;
use cyrisk_core::control::{ControlId, ControlResult, Outcome};
use cyrisk_core::cvss::Severity;
use cyrisk_core::finding::{Cve, Finding, FindingState};
use cyrisk_core::profile::{DataVolumes, Industry, Profile};
use cyrisk_core::units::{Currency, Money, Probability};

/// SplitMix64: a tiny, well-known deterministic generator, enough for synthetic data.
#[derive(Debug, Clone)]
pub struct SplitMix(u64);

impl SplitMix {
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }
}

/// The date the benches rate as of.
pub fn as_of() -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 11, 21).expect("valid date")
}

/// An organisation with `assets` assets and `findings` findings spread over them.
pub fn synthetic_bundle(assets: usize, findings: usize, seed: u64) -> Bundle {
    let mut rng = SplitMix::new(seed);
    let today = as_of();
    let ports = [22u16, 80, 443, 445, 3389, 3306, 8080, 5900];
    let assets: Vec<Asset> = (0..assets)
        .map(|i| {
            let internet = rng.unit() < 0.1;
            Asset {
                id: format!("asset-{i}"),
                kind: [
                    AssetKind::Host,
                    AssetKind::Endpoint,
                    AssetKind::WebApplication,
                    AssetKind::NetworkDevice,
                ][rng.below(4) as usize],
                hostname: None,
                aliases: Vec::new(),
                ip: None,
                internet_facing: internet,
                services: (0..rng.below(3))
                    .map(|_| Service {
                        port: ports[rng.below(ports.len() as u64) as usize],
                        protocol: Transport::Tcp,
                        name: None,
                        product: None,
                        version: None,
                        cpe: None,
                    })
                    .collect(),
                vendor: None,
                product: None,
                version: None,
                cpe: None,
                end_of_life: rng.unit() < 0.02,
                kev_product: rng.unit() < 0.3,
                criticality: [
                    Criticality::Low,
                    Criticality::Medium,
                    Criticality::High,
                    Criticality::Critical,
                ][rng.below(4) as usize],
                data_classes: vec![],
                declared: rng.unit() > 0.03,
                owner: None,
                first_seen: Some(today - Duration::days(900)),
                last_seen: Some(today - Duration::days(rng.below(250) as i64)),
                os: None,
                stale: false,
                facts: Vec::new(),
                self_declared: false,
            }
        })
        .collect();
    let states = FindingState::ALL;
    let findings: Vec<Finding> = (0..findings)
        .map(|i| {
            let first_seen = today - Duration::days(rng.below(900) as i64);
            let state = states[rng.below(states.len() as u64) as usize];
            let fixed_at = matches!(
                state,
                FindingState::Closed | FindingState::FixedPendingVerification
            )
            .then(|| first_seen + Duration::days(rng.below(60) as i64))
            .filter(|d| *d <= today);
            Finding {
                id: format!("finding-{i}"),
                asset: format!("asset-{}", rng.below(assets.len() as u64)),
                title: None,
                cve: Some(
                    Cve::parse(&format!("CVE-2024-{:05}", 10000 + (i % 90000))).expect("valid CVE"),
                ),
                additional_cves: Vec::new(),
                cvss_vector: None,
                cvss_score: Some((rng.unit() * 10.0).try_into().expect("in range")),
                severity: Some(Severity::Medium),
                epss: (rng.unit() < 0.8)
                    .then(|| Probability::new(rng.unit().powi(4)).expect("in range")),
                kev: rng.unit() < 0.01,
                state,
                counts_as: None,
                first_seen,
                fixed_at,
                source: None,
                evidence: None,
            }
        })
        .collect();
    let controls = [
        ControlId::Mfa,
        ControlId::Edr,
        ControlId::OfflineBackups,
        ControlId::PatchCadence,
    ]
    .into_iter()
    .map(|control| ControlResult {
        control,
        outcome: [Outcome::Pass, Outcome::Partial, Outcome::Fail][rng.below(3) as usize],
        assessed_on: Some(today - Duration::days(rng.below(500) as i64)),
        evidence: None,
        level: None,
        scope: None,
        self_declared: false,
    })
    .collect();
    AssessmentBundle {
        schema_version: 1,
        profile: Profile {
            name: format!("Synthetic {seed}"),
            industry: Industry::ALL[rng.below(Industry::ALL.len() as u64) as usize],
            annual_revenue: Money::new(1.0e7 * (1.0 + rng.unit() * 1000.0)).expect("positive"),
            currency: Currency::cny(),
            employees: 50 + rng.below(20_000) as u32,
            region: "CN-HB".into(),
            ciio: rng.unit() < 0.05,
            data: Some(DataVolumes {
                personal_records: rng.below(5_000_000),
                ..Default::default()
            }),
            incident_history_since: Some(today - Duration::days(1500)),
        },
        assets,
        findings,
        controls,
        incidents: vec![],
        scan_date: Some(today - Duration::days(3)),
    }
    .validate()
    .expect("synthetic bundles are valid")
}

/// The issue-3 bench model: Poisson(0.3) × lognormal on the 90 % interval (50k, 5M).
pub mod sim_model {
    use cyrisk_sim::lognormal::LogNormal;
    use cyrisk_sim::severity::{Coverage, EventModel, EventType};
    use cyrisk_sim::terms::Layer;

    pub const LAMBDA: f64 = 0.3;
    pub const LO: f64 = 50_000.0;
    pub const HI: f64 = 5_000_000.0;
    pub const DEDUCTIBLE: f64 = 100_000.0;
    pub const LIMIT: f64 = 2_000_000.0;

    pub fn events() -> EventModel {
        EventModel::single(
            LogNormal::from_interval(LO, HI),
            Coverage::BusinessInterruption,
            EventType::Other,
        )
    }

    pub fn layer() -> Layer {
        Layer::new(DEDUCTIBLE, Some(LIMIT), None, Default::default()).expect("valid layer")
    }
}

/// Peak resident set size of this process so far, in KiB (Linux `VmHWM`).
pub fn peak_rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
}

/// The API's state over a store: built-in models and the bundled KEV snapshot.
pub fn app_state(store: cyrisk_store::Store) -> cyrisk_api::AppState {
    cyrisk_api::AppState::new(cyrisk_app::App::builtin(store).expect("built-in models"))
}
