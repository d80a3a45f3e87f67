//! Turning an evaluation into the published rating: factor inputs, reasons in plain
//! language, the confidence band and warnings.

use chrono::NaiveDate;

use super::features::{self, FindingTerms, Totals};
use super::inputs::{
    AssetsInputs, AttackSurfaceInputs, CiioInputs, ControlInputs, DataHoldingsInputs,
    EndOfLifeInputs, ExploitationInputs, FactorInputs as I, HistoryInputs, MlpsInputs,
    ObligationsInputs, OverdueInputs, PerimeterInputs, ShadowAssetsInputs,
};
use super::{
    Baseline, Confidence, ConfidenceLevel, Evaluation, FactorResult, InputSummary, ModelRef,
    PerilRate, Prepared, Rating, Reason, Warning, peril_shares,
};
use crate::bundle::Bundle;
use crate::cvss::Severity;
use crate::factor::{FactorId, PerFactor};
use crate::model::RatingModel;
use crate::peril::Peril;
use crate::units::Probability;

/// How many examples (asset or finding ids) a factor's inputs list.
const EXAMPLES: usize = 5;
/// How many reasons a rating gives.
const REASONS: usize = 5;

/// Per-bundle facts gathered in the same pass that sums the totals.
#[derive(Debug, Default)]
pub(crate) struct Stats {
    pub unresolved: usize,
    pub kev_unresolved: usize,
    pub kev_internet: usize,
    pub without_epss: usize,
    pub overdue_by_severity: [usize; 5],
    pub oldest_overdue_days: i64,
    /// (hazard, finding index), largest first.
    pub top_hazard: Vec<(f64, usize)>,
    pub future_findings: usize,
    pub cvss_mismatch: Vec<(usize, f64, f64)>,
    pub latest_finding: Option<NaiveDate>,
}

fn sev_index(s: Severity) -> usize {
    s as usize
}

pub(crate) fn collect(bundle: &Bundle, model: &RatingModel, as_of: NaiveDate) -> (Totals, Stats) {
    let mut tot = Totals::default();
    let mut st = Stats::default();
    let assets = bundle.assets();
    for a in assets {
        tot.add_asset(&features::asset_terms(a, model, as_of));
    }
    let mut log_survival = vec![0.0; assets.len()];
    for (i, f) in bundle.findings().iter().enumerate() {
        let ai = bundle.finding_asset(i);
        let a = &assets[ai];
        if let (Some(v), Some(s)) = (&f.cvss_vector, f.cvss_score)
            && (v.base_score() - s.get()).abs() > 0.05
        {
            st.cvss_mismatch.push((i, s.get(), v.base_score()));
        }
        if f.first_seen > as_of {
            st.future_findings += 1;
            continue;
        }
        st.latest_finding = st.latest_finding.max(Some(f.first_seen));
        let t: FindingTerms = features::finding_terms(f, a.internet_facing, a, model, as_of);
        tot.add_finding(&t);
        log_survival[ai] += t.log_survival;
        if t.unresolved {
            st.unresolved += 1;
            if f.kev {
                st.kev_unresolved += 1;
                if a.internet_facing {
                    st.kev_internet += 1;
                }
            }
            if f.epss.is_none() {
                st.without_epss += 1;
            }
        }
        if t.overdue_flag && t.overdue > 0.0 {
            st.overdue_by_severity[sev_index(features::finding_severity(f))] += 1;
            st.oldest_overdue_days = st
                .oldest_overdue_days
                .max((as_of - f.first_seen).num_days());
        }
        if t.hazard > 0.0
            && (st.top_hazard.len() < EXAMPLES || t.hazard > st.top_hazard[EXAMPLES - 1].0)
        {
            let pos = st.top_hazard.partition_point(|&(h, _)| h >= t.hazard);
            st.top_hazard.insert(pos, (t.hazard, i));
            st.top_hazard.truncate(EXAMPLES);
        }
    }
    tot.hazard_pow = assets
        .iter()
        .zip(&log_survival)
        .map(|(a, &l)| {
            features::asset_hazard_pow(
                l,
                features::exploit_weight(a, a.internet_facing, model),
                model,
            )
        })
        .sum();
    (tot, st)
}

fn examples<'a>(ids: impl Iterator<Item = &'a str>) -> Vec<String> {
    ids.take(EXAMPLES).map(str::to_owned).collect()
}

fn round_to(v: f64, digits: i32) -> f64 {
    let f = 10f64.powi(digits);
    (v * f).round() / f
}

pub(crate) fn build(
    bundle: &Bundle,
    model: &RatingModel,
    as_of: NaiveDate,
    prep: &Prepared,
    ev: &Evaluation,
    st: &Stats,
) -> Rating {
    let assets = bundle.assets();
    let findings = bundle.findings();
    let terms: Vec<_> = assets
        .iter()
        .map(|a| features::asset_terms(a, model, as_of))
        .collect();
    let ids_where = |pred: &dyn Fn(&features::AssetTerms) -> bool| {
        examples(
            assets
                .iter()
                .zip(&terms)
                .filter(|(_, t)| pred(t))
                .map(|(a, _)| a.id.as_str()),
        )
    };
    let count_where =
        |pred: &dyn Fn(&features::AssetTerms) -> bool| terms.iter().filter(|t| pred(t)).count();
    let required_mlps = features::required_mlps_level(bundle);
    let profile = bundle.profile();
    let control = |id: FactorId| {
        let ids = id.spec().source.controls().unwrap_or_default();
        match features::control_evidence(bundle.controls(), ids, required_mlps, model, as_of) {
            None => ControlInputs::Unknown,
            Some(e) if e.not_applicable => ControlInputs::NotApplicable { results: e.results },
            Some(e) => ControlInputs::Assessed {
                results: e.results,
                quality: round_to(e.quality, 4),
                evidence_weight: round_to(e.weight, 4),
            },
        }
    };

    let inputs = PerFactor::from_fn(|id| match id {
        FactorId::RemoteAccess => I::RemoteAccess(AssetsInputs {
            assets: count_where(&|t| t.remote_access > 0.0),
            examples: ids_where(&|t| t.remote_access > 0.0),
        }),
        FactorId::DatabaseExposed => I::DatabaseExposed(AssetsInputs {
            assets: count_where(&|t| t.database > 0.0),
            examples: ids_where(&|t| t.database > 0.0),
        }),
        FactorId::PerimeterAppliance => I::PerimeterAppliance(PerimeterInputs {
            appliances: count_where(&|t| t.perimeter > 0.0),
            examples: ids_where(&|t| t.perimeter > 0.0),
            with_kev_history: count_where(&|t| t.perimeter >= 1.0),
        }),
        FactorId::EndOfLife => I::EndOfLife(EndOfLifeInputs {
            examples: ids_where(&|t| t.end_of_life > 0.0),
            internal: assets
                .iter()
                .filter(|a| a.end_of_life && !a.internet_facing)
                .count(),
            internet_facing: assets
                .iter()
                .filter(|a| a.end_of_life && a.internet_facing)
                .count(),
        }),
        FactorId::AttackSurface => I::AttackSurface(AttackSurfaceInputs {
            internet_facing_assets: count_where(&|t| t.internet > 0.0),
        }),
        FactorId::ShadowAssets => I::ShadowAssets(ShadowAssetsInputs {
            examples: ids_where(&|t| t.shadow > 0.0),
            shadow_or_zombie: count_where(&|t| t.shadow > 0.0),
            unknown: assets.iter().filter(|a| !a.declared).count(),
        }),
        FactorId::DataHoldings => I::DataHoldings(match &profile.data {
            Some(d) => DataHoldingsInputs::Given {
                personal_records: d.personal_records,
                sensitive_personal_records: d.sensitive_personal_records,
            },
            None => DataHoldingsInputs::Unknown,
        }),
        FactorId::Ciio => I::Ciio(CiioInputs { ciio: profile.ciio }),
        FactorId::ExploitationPressure => I::ExploitationPressure(ExploitationInputs {
            kev_internet_facing: st.kev_internet,
            kev_unresolved: st.kev_unresolved,
            top_findings: examples(st.top_hazard.iter().map(|&(_, i)| findings[i].id.as_str())),
            unresolved_findings: st.unresolved,
            without_epss: st.without_epss,
        }),
        FactorId::OverdueFindings => {
            let by_sev = st.overdue_by_severity;
            I::OverdueFindings(OverdueInputs {
                critical: by_sev[4],
                high: by_sev[3],
                low: by_sev[1],
                medium: by_sev[2],
                oldest_overdue_days: st.oldest_overdue_days,
                overdue: by_sev.iter().sum::<usize>(),
            })
        }
        FactorId::Mfa => I::Mfa(control(id)),
        FactorId::Edr => I::Edr(control(id)),
        FactorId::OfflineBackups => I::OfflineBackups(control(id)),
        FactorId::PrivilegedAccess => I::PrivilegedAccess(control(id)),
        FactorId::LogRetention => I::LogRetention(control(id)),
        FactorId::IncidentResponse => I::IncidentResponse(control(id)),
        FactorId::SecurityAwareness => I::SecurityAwareness(control(id)),
        FactorId::EmailAuthentication => I::EmailAuthentication(control(id)),
        FactorId::PatchCadence => I::PatchCadence(control(id)),
        FactorId::Hardening => I::Hardening(control(id)),
        FactorId::Mlps => I::Mlps(MlpsInputs {
            control: control(id),
            required_level: required_mlps,
            assessed_levels: bundle.controls().iter().filter_map(|c| c.level).collect(),
        }),
        FactorId::RegulatoryObligations => I::RegulatoryObligations(ObligationsInputs {
            cross_border_requirement: features::cross_border_requirement(bundle),
            obligations: features::obligations(bundle, model, as_of, prep.window_start),
        }),
        FactorId::IncidentHistory => {
            let h = &model.history;
            let detection = h.min_detection
                + (1.0 - h.min_detection)
                    * 0.5
                    * (ev.x[FactorId::Edr] + ev.x[FactorId::LogRetention]).clamp(0.0, 2.0);
            I::IncidentHistory(HistoryInputs {
                detection_coverage: round_to(detection, 4),
                incidents_in_window: bundle
                    .incidents()
                    .iter()
                    .filter(|i| i.started >= prep.window_start && i.started <= as_of)
                    .count(),
                weighted_incidents: round_to(prep.weighted_incidents, 4),
                window_years: round_to(prep.window_years, 3),
            })
        }
    });

    let points = ev.points(model);
    let factors: Vec<FactorResult> = inputs
        .into_iter()
        .map(|(id, inputs)| {
            let p = model.factors.get(id);
            FactorResult {
                name: id.name(),
                family: id.family().as_str(),
                value: round_to(ev.x[id], 6),
                reference: p.reference,
                beta: p.beta,
                multiplier: round_to(ev.c[id].exp(), 6),
                points: round_to(points[id], 2),
                inputs,
            }
        })
        .collect();

    let mut order: Vec<FactorId> = FactorId::ALL
        .into_iter()
        .filter(|&id| points[id].abs() >= 0.5)
        .collect();
    order.sort_by(|&a, &b| {
        points[b]
            .abs()
            .total_cmp(&points[a].abs())
            .then(a.index().cmp(&b.index()))
    });
    let reasons = order
        .into_iter()
        .take(REASONS)
        .map(|id| {
            let f = &factors[id.index()];
            Reason {
                factor: f.name,
                points: f.points,
                text: reason_text(f, points[id]),
            }
        })
        .collect();

    let latest_scan = [
        bundle.raw().scan_date,
        assets.iter().filter_map(|a| a.last_seen).max(),
        st.latest_finding,
    ]
    .into_iter()
    .flatten()
    .filter(|d| *d <= as_of)
    .max();
    let evidence_dates: Vec<NaiveDate> = bundle
        .controls()
        .iter()
        .filter_map(|c| c.assessed_on)
        .filter(|d| *d <= as_of)
        .collect();

    let (confidence, mut warnings) = confidence(bundle, model, as_of, ev, latest_scan);
    warnings.extend(input_warnings(bundle, model, as_of, st, &evidence_dates));
    if let Some(message) = &prep.currency_warning {
        warnings.push(Warning {
            code: "no_exchange_rate",
            message: message.clone(),
        });
    }
    let reference_x = PerFactor::from_fn(|id| model.factors.get(id).reference);
    let perils = match (ev.peril_rates, peril_shares(model, &reference_x)) {
        (Some(rates), Some(reference)) => {
            let total: f64 = rates.iter().sum();
            Peril::ALL
                .iter()
                .map(|&p| PerilRate {
                    peril: p,
                    share: round_to(rates[p.index()] / total, 6),
                    reference_share: round_to(reference[p.index()], 6),
                    expected_incident_rate: round_to(rates[p.index()], 8),
                })
                .collect()
        }
        _ => Vec::new(),
    };

    let score = ev.score_exact.round() as i32;
    Rating {
        organization: profile.name.clone(),
        as_of,
        score,
        grade: model.grade(f64::from(score)).to_owned(),
        annual_incident_probability: Probability::saturating(round_to(-(-ev.lambda).exp_m1(), 8)),
        expected_incident_rate: round_to(ev.lambda, 8),
        baseline: Baseline {
            industry: prep.industry,
            size_band: prep.size_band,
            expected_incident_rate: round_to(
                model.apply_bounds(ev.ln_base_rate, ev.ln_base_rate).exp(),
                8,
            ),
            score: round_to(ev.baseline_score, 2),
        },
        factors,
        reasons,
        confidence,
        perils,
        warnings,
        inputs: InputSummary {
            assets: assets.len(),
            findings: findings.len(),
            findings_unresolved: st.unresolved,
            controls: bundle.controls().len(),
            incidents: bundle.incidents().len(),
            latest_scan,
            oldest_control_evidence: evidence_dates.iter().min().copied(),
            newest_control_evidence: evidence_dates.iter().max().copied(),
        },
        model: ModelRef {
            id: model.id.clone(),
            version: model.version.clone(),
        },
    }
}

fn plural(n: u64, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// One sentence on what drives a factor and by how many points.
fn reason_text(f: &FactorResult, points: f64) -> String {
    let worse = f.value > f.reference;
    let all_clear = || {
        f.inputs
            .factor()
            .spec()
            .all_clear
            .unwrap_or_default()
            .to_owned()
    };
    let what = match &f.inputs {
        I::RemoteAccess(a) if a.assets > 0 => format!(
            "Remote access (RDP, VNC, SMB, Telnet, WinRM) is exposed to the internet on {} ({})",
            plural(a.assets as u64, "asset", "assets"),
            a.examples.join(", ")
        ),
        I::DatabaseExposed(a) if a.assets > 0 => format!(
            "Databases or caches answer on the internet on {} ({})",
            plural(a.assets as u64, "asset", "assets"),
            a.examples.join(", ")
        ),
        I::PerimeterAppliance(p) if p.appliances > 0 => format!(
            "{} internet-facing perimeter appliance(s), {} of a product with known-exploited vulnerabilities ({})",
            p.appliances,
            p.with_kev_history,
            p.examples.join(", ")
        ),
        I::EndOfLife(e) if worse => format!(
            "End-of-life software runs on {} internet-facing and {} internal assets ({})",
            e.internet_facing,
            e.internal,
            e.examples.join(", ")
        ),
        I::RemoteAccess(_) | I::DatabaseExposed(_) | I::PerimeterAppliance(_) | I::EndOfLife(_) => {
            all_clear()
        }
        I::AttackSurface(a) => format!(
            "{} internet-facing",
            plural(a.internet_facing_assets as u64, "asset is", "assets are")
        ),
        I::ShadowAssets(s) => format!(
            "{} unknown or zombie (long unseen) assets",
            s.shadow_or_zombie
        ),
        I::DataHoldings(DataHoldingsInputs::Unknown) => "Data volumes not given".to_owned(),
        I::DataHoldings(DataHoldingsInputs::Given {
            personal_records,
            sensitive_personal_records,
        }) => format!(
            "Holds personal information of {personal_records} people ({sensitive_personal_records} sensitive)"
        ),
        I::Ciio(_) if worse => "Operates critical information infrastructure".to_owned(),
        I::Ciio(_) => all_clear(),
        I::ExploitationPressure(e) => format!(
            "{} unresolved findings, {} KEV-listed ({} on internet-facing assets); exploitation pressure {:.0} %",
            e.unresolved_findings,
            e.kev_unresolved,
            e.kev_internet_facing,
            f.value * 100.0
        ),
        I::OverdueFindings(o) => format!(
            "{} past their remediation SLA ({} critical, {} high; oldest {} days open)",
            plural(o.overdue as u64, "finding is", "findings are"),
            o.critical,
            o.high,
            o.oldest_overdue_days
        ),
        I::RegulatoryObligations(r) => {
            let unmet = r
                .obligations
                .iter()
                .filter(|o| o.unmet > 0.0)
                .map(|o| o.name)
                .collect::<Vec<_>>()
                .join(", ");
            if unmet.is_empty() {
                all_clear()
            } else {
                format!("Data-security obligations unmet or unevidenced: {unmet}")
            }
        }
        I::IncidentHistory(h) => format!(
            "{} in the last {:.1} years (detection coverage {:.0} %)",
            plural(h.incidents_in_window as u64, "incident", "incidents"),
            h.window_years,
            h.detection_coverage * 100.0
        ),
        I::Mfa(c)
        | I::Edr(c)
        | I::OfflineBackups(c)
        | I::PrivilegedAccess(c)
        | I::LogRetention(c)
        | I::IncidentResponse(c)
        | I::SecurityAwareness(c)
        | I::EmailAuthentication(c)
        | I::PatchCadence(c)
        | I::Hardening(c)
        | I::Mlps(MlpsInputs { control: c, .. }) => {
            let label = f.name.replace('_', " ");
            match c {
                ControlInputs::Assessed { .. } if f.value >= f.reference => {
                    format!("{label}: in place")
                }
                ControlInputs::Assessed { .. } => format!("{label}: missing or weak"),
                ControlInputs::Unknown | ControlInputs::NotApplicable { .. } => {
                    format!("{label}: no evidence")
                }
            }
        }
    };
    let n = points.abs().round();
    if points >= 0.0 {
        format!("{what} — raises the score by {n} points")
    } else {
        format!("{what} — lowers the score by {n} points")
    }
}

fn confidence(
    bundle: &Bundle,
    model: &RatingModel,
    as_of: NaiveDate,
    ev: &Evaluation,
    latest_scan: Option<NaiveDate>,
) -> (Confidence, Vec<Warning>) {
    let c = &model.confidence;
    let mut missing = Vec::new();
    let mut warnings = Vec::new();
    let has_assets = !bundle.assets().is_empty();
    let has_scan = latest_scan.is_some();
    if !has_assets {
        missing.push("asset inventory".to_owned());
    }
    if !has_scan {
        missing.push("scan results (scan_date, asset last_seen or findings)".to_owned());
    }
    let unknown_controls: Vec<&str> = features::control_factors()
        .filter(|(_, ids)| {
            features::control_evidence(bundle.controls(), ids, 0, model, as_of).is_none()
        })
        .map(|(id, _)| id.name())
        .collect();
    if !unknown_controls.is_empty() {
        missing.push(format!("control evidence: {}", unknown_controls.join(", ")));
    }
    if bundle.profile().data.is_none() {
        missing.push("data volumes (profile.data)".to_owned());
    }
    let history_known =
        bundle.profile().incident_history_since.is_some() || !bundle.incidents().is_empty();
    if !history_known {
        missing.push("incident history period (profile.incident_history_since)".to_owned());
    }
    // What is known of the controls, weighed as the rating weighs it: the rated
    // organisation's own statements (a "not applicable" among them) count at
    // `self_declared_weight`, so declaring answers cannot buy a narrower band or, through it,
    // a smaller parameter-risk load on the premium.
    let required = features::required_mlps_level(bundle);
    let known: f64 = features::control_factors()
        .map(|(_, ids)| {
            match features::control_evidence(bundle.controls(), ids, required, model, as_of) {
                None => 0.0,
                Some(e) if e.self_declared => model.evidence.self_declared_weight,
                Some(_) => 1.0,
            }
        })
        .sum();
    let control_share = known / features::control_factors().count() as f64;
    let completeness = 0.25 * f64::from(u8::from(has_assets))
        + 0.25 * f64::from(u8::from(has_scan))
        + 0.3 * control_share
        + 0.2 * f64::from(u8::from(history_known));
    let freshness = match latest_scan {
        None => 0.0,
        Some(d) => {
            let age = features::days_between(d, as_of);
            let excess = (age - f64::from(c.scan_fresh_days)).max(0.0);
            if excess > 0.0 {
                warnings.push(Warning {
                    code: "stale_scan",
                    message: format!("the newest scan evidence is {age:.0} days old ({d})"),
                });
            }
            0.5f64.powf(excess / f64::from(c.scan_half_life_days))
        }
    };
    let value = completeness * (0.5 + 0.5 * freshness);
    let level = if value >= 0.7 {
        ConfidenceLevel::High
    } else if value >= 0.4 {
        ConfidenceLevel::Medium
    } else {
        ConfidenceLevel::Low
    };
    let sigma = c.sigma_min + (c.sigma_max - c.sigma_min) * (1.0 - value);
    let z = 1.6449 * sigma;
    let conf = Confidence {
        level,
        value: round_to(value, 4),
        completeness: round_to(completeness, 4),
        freshness: round_to(freshness, 4),
        log_rate_sigma: round_to(sigma, 4),
        score_low: model.score_of_rate(ev.lambda * z.exp()).round() as i32,
        score_high: model.score_of_rate(ev.lambda * (-z).exp()).round() as i32,
        missing,
    };
    (conf, warnings)
}

fn input_warnings(
    bundle: &Bundle,
    model: &RatingModel,
    as_of: NaiveDate,
    st: &Stats,
    evidence_dates: &[NaiveDate],
) -> Vec<Warning> {
    let mut w = Vec::new();
    let findings = bundle.findings();
    if bundle.assets().is_empty() && bundle.raw().scan_date.is_none() {
        w.push(Warning {
            code: "no_scan_data",
            message: "no assets and no scan: exposure and vulnerabilities are taken at the industry reference"
                .to_owned(),
        });
    }
    if !st.cvss_mismatch.is_empty() {
        let ex: Vec<String> = st
            .cvss_mismatch
            .iter()
            .take(EXAMPLES)
            .map(|&(i, given, vector)| {
                format!("{} (score {given}, vector {vector})", findings[i].id)
            })
            .collect();
        w.push(Warning {
            code: "cvss_score_mismatch",
            message: format!(
                "{} with a CVSS score that disagrees with its vector; the vector was used: {}",
                plural(st.cvss_mismatch.len() as u64, "finding", "findings"),
                ex.join(", ")
            ),
        });
    }
    if st.future_findings > 0 {
        w.push(Warning {
            code: "findings_after_as_of",
            message: format!(
                "{} first seen after {as_of} left out",
                plural(st.future_findings as u64, "finding", "findings")
            ),
        });
    }
    let future_evidence = bundle
        .controls()
        .iter()
        .filter(|c| c.assessed_on.is_some_and(|d| d > as_of))
        .count();
    if future_evidence > 0 {
        w.push(Warning {
            code: "evidence_after_as_of",
            message: format!("{future_evidence} control result(s) dated after {as_of} left out"),
        });
    }
    let stale_after = as_of - chrono::Duration::days(i64::from(model.evidence.fresh_days));
    let stale = evidence_dates.iter().filter(|d| **d < stale_after).count();
    if stale > 0 {
        w.push(Warning {
            code: "stale_control_evidence",
            message: format!(
                "{stale} control result(s) older than {} days count for less",
                model.evidence.fresh_days
            ),
        });
    }
    if st.without_epss > 0 {
        w.push(Warning {
            code: "epss_missing",
            message: format!(
                "{} without an EPSS probability use a CVSS-based prior",
                plural(
                    st.without_epss as u64,
                    "unresolved finding",
                    "unresolved findings"
                )
            ),
        });
    }
    w
}
