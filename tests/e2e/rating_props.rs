//! Property tests of the rating's invariants on generated bundles.

use chrono::{Duration, NaiveDate};
use cyrisk_core::asset::{Asset, AssetKind, Criticality, Service, Transport};
use cyrisk_core::bundle::AssessmentBundle;
use cyrisk_core::control::{ControlId, ControlResult, Outcome};
use cyrisk_core::cvss::Severity;
use cyrisk_core::finding::{Cve, Finding, FindingState};
use cyrisk_core::incident::{Impact, Incident, IncidentType};
use cyrisk_core::profile::{DataVolumes, Industry, Profile};
use cyrisk_core::units::{Currency, Money, Probability};
use cyrisk_core::{Bundle, RatingModel, rate, rate_many, score_of};
use proptest::prelude::*;

use crate::support::as_of;

fn day(offset: i64) -> NaiveDate {
    as_of() - Duration::days(offset)
}

fn arb_profile() -> impl Strategy<Value = Profile> {
    (
        prop::sample::select(Industry::ALL.to_vec()),
        0.0..5.0e10f64,
        0u32..50_000,
        any::<bool>(),
        prop::option::of((
            0u64..20_000_000,
            0u64..100_000,
            any::<bool>(),
            0u64..2_000_000,
        )),
        prop::option::of(0i64..3000),
    )
        .prop_map(
            |(industry, revenue, employees, ciio, data, since)| Profile {
                name: "Generated Co.".into(),
                industry,
                annual_revenue: Money::new(revenue).unwrap(),
                currency: Currency::cny(),
                employees,
                region: "CN-HB".into(),
                ciio,
                data: data.map(|(personal, sensitive, important, xb)| DataVolumes {
                    personal_records: personal.max(sensitive),
                    sensitive_personal_records: sensitive,
                    important_data: important,
                    cross_border_personal_records: xb,
                    cross_border_sensitive_records: 0,
                }),
                incident_history_since: since.map(day),
            },
        )
}

fn arb_asset(i: usize) -> impl Strategy<Value = Asset> {
    (
        prop::sample::select(vec![
            AssetKind::Host,
            AssetKind::WebApplication,
            AssetKind::NetworkDevice,
            AssetKind::SecurityDevice,
            AssetKind::Endpoint,
            AssetKind::OtDevice,
        ]),
        any::<bool>(),
        prop::collection::vec(
            prop::sample::select(vec![22u16, 80, 443, 445, 3389, 3306, 6379, 5900]),
            0..3,
        ),
        any::<bool>(),
        prop::sample::select(vec![
            Criticality::Low,
            Criticality::Medium,
            Criticality::High,
            Criticality::Critical,
        ]),
        any::<bool>(),
        any::<bool>(),
        prop::option::of(0i64..400),
    )
        .prop_map(
            move |(kind, internet, ports, eol, criticality, declared, kev_product, seen)| Asset {
                id: format!("a{i}"),
                kind,
                hostname: None,
                aliases: Vec::new(),
                ip: None,
                internet_facing: internet,
                services: ports
                    .into_iter()
                    .map(|port| Service {
                        port,
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
                end_of_life: eol,
                kev_product,
                criticality,
                data_classes: vec![],
                declared,
                owner: None,
                first_seen: seen.map(|s| day(s + 100)),
                last_seen: seen.map(day),
                os: None,
                stale: false,
                facts: Vec::new(),
                self_declared: false,
            },
        )
}

fn arb_finding(i: usize, assets: usize) -> impl Strategy<Value = Finding> {
    (
        0..assets,
        prop::option::of(0.0..10.0f64),
        prop::sample::select(vec![
            Severity::Low,
            Severity::Medium,
            Severity::High,
            Severity::Critical,
        ]),
        prop::option::of(0.0..1.0f64),
        any::<bool>(),
        prop::sample::select(FindingState::ALL.to_vec()),
        -30i64..1500,
        prop::option::of(0i64..400),
    )
        .prop_map(
            move |(asset, score, severity, epss, kev, state, age, fixed_after)| {
                let first_seen = day(age);
                Finding {
                    id: format!("f{i}"),
                    asset: format!("a{asset}"),
                    title: None,
                    cve: Some(Cve::parse(&format!("CVE-2024-{:05}", 10000 + i)).unwrap()),
                    additional_cves: Vec::new(),
                    cvss_vector: None,
                    cvss_score: score.map(|s| s.try_into().unwrap()),
                    severity: Some(severity),
                    epss: epss.map(|p| Probability::new(p).unwrap()),
                    kev,
                    state,
                    counts_as: None,
                    first_seen,
                    fixed_at: fixed_after.map(|d| first_seen + Duration::days(d)),
                    source: None,
                    evidence: None,
                }
            },
        )
}

const CONTROLS: [ControlId; 14] = [
    ControlId::Mfa,
    ControlId::Edr,
    ControlId::OfflineBackups,
    ControlId::PrivilegedAccess,
    ControlId::LogRetention,
    ControlId::IncidentResponse,
    ControlId::SecurityAwareness,
    ControlId::EmailAuthentication,
    ControlId::PatchCadence,
    ControlId::HardeningOs,
    ControlId::HardeningNetwork,
    ControlId::Mlps,
    ControlId::CrossBorderTransfer,
    ControlId::DataRiskAssessment,
];

fn arb_control() -> impl Strategy<Value = ControlResult> {
    (
        prop::sample::select(CONTROLS.to_vec()),
        prop::sample::select(vec![
            Outcome::Pass,
            Outcome::Partial,
            Outcome::Fail,
            Outcome::NotApplicable,
        ]),
        prop::option::of(-10i64..1200),
        1u8..=5,
    )
        .prop_map(|(control, outcome, age, level)| ControlResult {
            control,
            outcome,
            assessed_on: age.map(day),
            evidence: None,
            level: (control == ControlId::Mlps).then_some(level),
            scope: None,
            self_declared: false,
        })
}

fn arb_incident(i: usize) -> impl Strategy<Value = Incident> {
    (
        prop::sample::select(vec![
            IncidentType::Ransomware,
            IncidentType::DataBreach,
            IncidentType::Bec,
        ]),
        prop::sample::select(vec![
            Impact::Minor,
            Impact::Moderate,
            Impact::Major,
            Impact::Severe,
        ]),
        0i64..2500,
        any::<bool>(),
        prop::option::of(any::<bool>()),
    )
        .prop_map(move |(kind, impact, age, verified, reported)| Incident {
            id: format!("i{i}"),
            kind,
            impact,
            started: day(age),
            detected: None,
            contained: None,
            recovered: None,
            records_affected: 0,
            downtime_hours: 0.0,
            loss: None,
            root_cause: None,
            reported_in_time: reported,
            corrective_actions_verified: verified,
            self_declared: false,
        })
}

fn arb_bundle() -> impl Strategy<Value = AssessmentBundle> {
    (
        arb_profile(),
        0usize..12,
        0usize..30,
        prop::collection::vec(arb_control(), 0..12),
        0usize..4,
        any::<bool>(),
    )
        .prop_flat_map(
            |(profile, n_assets, n_findings, controls, n_incidents, scan)| {
                let assets: Vec<_> = (0..n_assets).map(arb_asset).collect();
                let findings: Vec<_> = if n_assets == 0 {
                    vec![]
                } else {
                    (0..n_findings).map(|i| arb_finding(i, n_assets)).collect()
                };
                let incidents: Vec<_> = (0..n_incidents).map(arb_incident).collect();
                (
                    Just(profile),
                    assets,
                    findings,
                    Just(controls),
                    incidents,
                    Just(scan),
                )
            },
        )
        .prop_map(
            |(profile, assets, findings, controls, incidents, scan)| AssessmentBundle {
                schema_version: 1,
                profile,
                assets,
                findings,
                controls,
                incidents,
                scan_date: scan.then(|| day(5)),
            },
        )
}

fn valid(b: AssessmentBundle) -> Bundle {
    b.validate().expect("generated bundles are valid")
}

/// The properties hold for every shipped model: v2 (the default) and v1 (kept so stored
/// ratings reproduce).
fn model(v1: bool) -> RatingModel {
    if v1 {
        RatingModel::builtin_v1()
    } else {
        RatingModel::builtin()
    }
}

/// Float noise allowed between mathematically equal or ordered scores.
const EPS: f64 = 1e-6;

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn fixing_or_closing_a_finding_never_lowers_the_score(v1 in any::<bool>(), b in arb_bundle(), pick in any::<prop::sample::Index>(), close in any::<bool>()) {
        prop_assume!(!b.findings.is_empty());
        let m = model(v1);
        // Fixing moves a finding forward from an unresolved state; start from one.
        let mut b = b;
        let i = pick.index(b.findings.len());
        if !b.findings[i].state.is_unresolved() || b.findings[i].fixed_at.is_some() {
            b.findings[i].state = FindingState::Open;
            b.findings[i].fixed_at = None;
        }
        let before = score_of(&valid(b.clone()), &m, as_of());
        let before_perils = rate(&valid(b.clone()), &m, as_of()).perils;
        let mut fixed = b;
        let f = &mut fixed.findings[i];
        f.state = if close { FindingState::Closed } else { FindingState::FixedPendingVerification };
        if f.first_seen <= as_of() {
            f.fixed_at = Some(as_of());
        }
        let after_perils = rate(&valid(fixed.clone()), &m, as_of()).perils;
        let after = score_of(&valid(fixed), &m, as_of());
        prop_assert!(after >= before - EPS, "score fell from {before} to {after}");
        for (x, y) in before_perils.iter().zip(&after_perils) {
            prop_assert!(
                y.expected_incident_rate <= x.expected_incident_rate + 1e-8,
                "{:?} rose from {} to {}", x.peril, x.expected_incident_rate, y.expected_incident_rate
            );
        }
    }

    #[test]
    fn adding_an_open_kev_finding_on_an_internet_facing_asset_never_raises_the_score(
        v1 in any::<bool>(), b in arb_bundle(), age in 0i64..1000, epss in prop::option::of(0.0..1.0f64),
    ) {
        let m = model(v1);
        let mut b = b;
        if b.assets.is_empty() {
            return Ok(());
        }
        b.assets[0].internet_facing = true;
        let before = score_of(&valid(b.clone()), &m, as_of());
        b.findings.push(Finding {
            id: "new-kev".into(),
            asset: b.assets[0].id.clone(),
            title: None,
            cve: Some(Cve::parse("CVE-2024-3400").unwrap()),
            additional_cves: Vec::new(),
            cvss_vector: None,
            cvss_score: None,
            severity: Some(Severity::Critical),
            epss: epss.map(|p| Probability::new(p).unwrap()),
            kev: true,
            state: FindingState::Open,
            counts_as: None,
            first_seen: day(age),
            fixed_at: None,
            source: None,
            evidence: None,
        });
        let after = score_of(&valid(b), &m, as_of());
        prop_assert!(after <= before + EPS, "score rose from {before} to {after}");
    }

    #[test]
    fn points_add_up_and_score_stays_in_range(v1 in any::<bool>(), b in arb_bundle()) {
        let r = rate(&valid(b), &model(v1), as_of());
        prop_assert!((250..=900).contains(&r.score), "score {}", r.score);
        let sum: f64 = r.factors.iter().map(|f| f.points).sum();
        let expected = f64::from(r.score) - r.baseline.score;
        // Score rounds to 1, baseline and each factor's points to 0.01.
        let tolerance = 0.5 + 0.005 + 0.005 * r.factors.len() as f64;
        prop_assert!((sum - expected).abs() <= tolerance, "points {sum} vs score − baseline {expected}");
        prop_assert!(r.confidence.score_low <= r.score && r.score <= r.confidence.score_high);
        let p = r.annual_incident_probability.get();
        prop_assert!((p - (1.0 - (-r.expected_incident_rate).exp())).abs() < 1e-6);
    }

    #[test]
    fn same_input_and_date_give_identical_output(v1 in any::<bool>(), b in arb_bundle()) {
        let m = model(v1);
        let bundle = valid(b);
        let one = serde_json::to_string(&rate(&bundle, &m, as_of())).unwrap();
        let two = serde_json::to_string(&rate(&bundle.clone(), &m, as_of())).unwrap();
        prop_assert_eq!(&one, &two);
        let batch = rate_many(&[bundle.clone(), bundle], &m, as_of());
        prop_assert_eq!(&one, &serde_json::to_string(&batch[1]).unwrap());
    }

    #[test]
    fn passing_a_control_never_lowers_the_score(v1 in any::<bool>(), b in arb_bundle(), pick in 0usize..11) {
        let m = model(v1);
        let before_rating = rate(&valid(b.clone()), &m, as_of());
        let before = score_of(&valid(b.clone()), &m, as_of());
        let control = CONTROLS[pick];
        let mut b = b;
        b.controls.retain(|c| c.control != control);
        b.controls.push(ControlResult {
            control,
            outcome: Outcome::Pass,
            assessed_on: Some(as_of()),
            evidence: None,
            level: (control == ControlId::Mlps).then_some(5),
            scope: None,
            self_declared: false,
        });
        let after_rating = rate(&valid(b.clone()), &m, as_of());
        let after = score_of(&valid(b.clone()), &m, as_of());
        prop_assert!(after >= before - EPS, "score fell from {before} to {after}");
        // Nor does it raise any peril's rate: the split moves within the betas, and the floor
        // and ceiling bound each peril's rate.
        for (x, y) in before_rating.perils.iter().zip(&after_rating.perils) {
            prop_assert!(
                y.expected_incident_rate <= x.expected_incident_rate + 1e-8,
                "{:?} rose from {} to {}", x.peril, x.expected_incident_rate, y.expected_incident_rate
            );
        }
    }
}

#[test]
fn rating_ignores_the_wall_clock() {
    // Rating the same bundle as of two dates differs only through age, never through "now".
    let text =
        std::fs::read_to_string(crate::support::root().join("examples/manufacturer.json")).unwrap();
    let b = Bundle::from_json(&text).unwrap();
    let m = model(false);
    let d = NaiveDate::from_ymd_opt(2026, 1, 1).unwrap();
    assert_eq!(rate(&b, &m, d), rate(&b, &m, d));
    assert_ne!(rate(&b, &m, d).score, rate(&b, &m, as_of()).score);
}

/// Self-declared evidence weighs less than the same evidence from a third party, and a third
/// party's result on a factor is not diluted by the rated organisation's own statements; the
/// same holds for the regulatory obligations (here the important-data risk assessment of the
/// example power utility).
#[test]
fn self_declared_evidence_counts_less_and_never_outvotes() {
    let text = std::fs::read_to_string(crate::support::root().join("examples/power-utility.json"))
        .unwrap();
    let base: AssessmentBundle = serde_json::from_str(&text).unwrap();
    let as_of = crate::support::as_of();
    let score = |b: &AssessmentBundle| {
        cyrisk_core::rate(&b.clone().validate().unwrap(), &model(false), as_of).score
    };
    let with = |outcome: &str, self_declared: bool| {
        let mut b = base.clone();
        for c in &mut b.controls {
            if c.control == ControlId::DataRiskAssessment {
                c.outcome = serde_json::from_value(serde_json::json!(outcome)).unwrap();
                c.self_declared = self_declared;
            }
        }
        b
    };
    let (fail, declared, verified) = (
        score(&with("fail", false)),
        score(&with("pass", true)),
        score(&with("pass", false)),
    );
    assert!(
        fail < declared && declared < verified,
        "fail {fail}, self-declared pass {declared}, verified pass {verified}"
    );
    // The verified hardening results stand whatever the organisation adds about hardening.
    let mut diluted = base.clone();
    for control in [
        ControlId::HardeningMiddleware,
        ControlId::HardeningOs,
        ControlId::HardeningNetwork,
    ] {
        for _ in 0..5 {
            diluted.controls.push(ControlResult {
                control,
                outcome: Outcome::Pass,
                assessed_on: Some(as_of),
                evidence: None,
                level: None,
                scope: Some("own".into()),
                self_declared: true,
            });
        }
    }
    assert_eq!(score(&diluted), score(&base));
}

/// Size enters once (rating v2): the same posture on an estate three times as large —
/// every asset and finding repeated — gives every posture factor the same value, and a
/// larger revenue changes the base rate, not the posture.
#[test]
fn the_same_posture_on_a_larger_estate_rates_the_same() {
    let m = model(false);
    for name in ["manufacturer", "power-utility", "sme-external-scan"] {
        let text =
            std::fs::read_to_string(crate::support::root().join(format!("examples/{name}.json")))
                .unwrap();
        let base: AssessmentBundle = serde_json::from_str(&text).unwrap();
        let mut big = base.clone();
        for k in 1..3 {
            for a in &base.assets {
                let mut a = a.clone();
                a.id = format!("{}-copy{k}", a.id);
                a.ip = None;
                a.hostname = None;
                a.aliases.clear();
                big.assets.push(a);
            }
            for f in &base.findings {
                let mut f = f.clone();
                f.id = format!("{}-copy{k}", f.id);
                f.asset = format!("{}-copy{k}", f.asset);
                big.findings.push(f);
            }
        }
        let mut richer = big.clone();
        richer.profile.annual_revenue =
            Money::new(base.profile.annual_revenue.get() * 40.0).unwrap();
        let r0 = rate(&valid(base), &m, as_of());
        let r1 = rate(&valid(big), &m, as_of());
        let r2 = rate(&valid(richer), &m, as_of());
        assert_ne!(r0.baseline.size_band, r2.baseline.size_band, "{name}");
        for ((a, b), c) in r0.factors.iter().zip(&r1.factors).zip(&r2.factors) {
            if a.name == "attack_surface" || a.name == "incident_history" {
                // The count of internet-facing assets is shown (β 0 in v2); the history's
                // credibility weight depends on the base rate by construction.
                assert_eq!(a.beta == 0.0, a.name == "attack_surface");
                continue;
            }
            assert!(
                (a.value - b.value).abs() < 1e-9,
                "{name}: {} {} vs {}",
                a.name,
                a.value,
                b.value
            );
            assert!(
                (a.value - c.value).abs() < 1e-9,
                "{name}: {} {} vs {}",
                a.name,
                a.value,
                c.value
            );
        }
        assert!(
            (r0.expected_incident_rate - r1.expected_incident_rate).abs() <= 1e-8,
            "{name}"
        );
        assert!(
            r2.expected_incident_rate > r1.expected_incident_rate,
            "{name}: frequency rises with size"
        );
    }
}

/// The rated organisation cannot dilute a third party's findings by declaring clean assets
/// of its own: self-declared assets add risk, never lower the shares or the per-asset rates.
#[test]
fn self_declared_clean_assets_do_not_dilute_exposure() {
    let m = model(false);
    let text =
        std::fs::read_to_string(crate::support::root().join("examples/manufacturer.json")).unwrap();
    let base: AssessmentBundle = serde_json::from_str(&text).unwrap();
    let mut padded = base.clone();
    let template = base
        .assets
        .iter()
        .find(|a| a.internet_facing)
        .unwrap()
        .clone();
    for k in 0..500 {
        let mut a = template.clone();
        a.id = format!("clean-{k}");
        a.ip = None;
        a.hostname = None;
        a.aliases.clear();
        a.services.clear();
        a.end_of_life = false;
        a.vendor = None;
        a.product = None;
        a.kind = AssetKind::Host;
        a.self_declared = true;
        padded.assets.push(a);
    }
    let before = score_of(&valid(base), &m, as_of());
    let after = score_of(&valid(padded), &m, as_of());
    assert!(
        after <= before + EPS,
        "declaring 500 clean assets raised the score from {before} to {after}"
    );
}

/// The rated organisation's own answers narrow the confidence band only as far as they are
/// believed: eleven self-declared "not applicable" results buy half of what the same answers
/// from a third party would, so declaring cannot buy a smaller parameter-risk load.
#[test]
fn self_declared_answers_narrow_the_band_only_at_their_weight() {
    let m = model(false);
    let text =
        std::fs::read_to_string(crate::support::root().join("examples/sme-external-scan.json"))
            .unwrap();
    let base: AssessmentBundle = serde_json::from_str(&text).unwrap();
    let answered = |self_declared: bool| {
        let mut b = base.clone();
        b.controls.clear();
        for control in CONTROLS {
            b.controls.push(ControlResult {
                control,
                outcome: Outcome::NotApplicable,
                assessed_on: Some(as_of()),
                evidence: None,
                level: (control == ControlId::Mlps).then_some(2),
                scope: None,
                self_declared,
            });
        }
        rate(&valid(b), &m, as_of()).confidence.log_rate_sigma
    };
    let none = rate(&valid(base.clone()), &m, as_of())
        .confidence
        .log_rate_sigma;
    let (declared, assessed) = (answered(true), answered(false));
    assert!(
        assessed < declared && declared < none,
        "{none} {declared} {assessed}"
    );
    let ratio = (none - declared) / (none - assessed);
    assert!(
        (ratio - m.evidence.self_declared_weight).abs() < 0.02,
        "ratio {ratio}"
    );
}
