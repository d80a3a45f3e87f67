//! Turning an evaluation into the published rating: factor inputs, reasons in plain
//! language, the confidence band and warnings.

use chrono::NaiveDate;
use serde_json::{Map, Value, json};

use super::features::{self, FindingTerms, Totals, ix};
use super::{
    Baseline, Confidence, ConfidenceLevel, Evaluation, FactorResult, InputSummary, ModelRef,
    PerilRate, Prepared, Rating, Reason, Warning, peril_shares,
};
use crate::bundle::Bundle;
use crate::cvss::Severity;
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

fn examples<'a>(ids: impl Iterator<Item = &'a str>) -> Value {
    json!(ids.take(EXAMPLES).collect::<Vec<_>>())
}

fn obj(v: Value) -> Map<String, Value> {
    match v {
        Value::Object(m) => m,
        _ => Map::new(),
    }
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

    let mut inputs: Vec<Map<String, Value>> = vec![Map::new(); ix::COUNT];
    inputs[ix::REMOTE_ACCESS] = obj(json!({
        "assets": count_where(&|t| t.remote_access > 0.0),
        "examples": ids_where(&|t| t.remote_access > 0.0),
    }));
    inputs[ix::DATABASE_EXPOSED] = obj(json!({
        "assets": count_where(&|t| t.database > 0.0),
        "examples": ids_where(&|t| t.database > 0.0),
    }));
    inputs[ix::PERIMETER_APPLIANCE] = obj(json!({
        "appliances": count_where(&|t| t.perimeter > 0.0),
        "with_kev_history": count_where(&|t| t.perimeter >= 1.0),
        "examples": ids_where(&|t| t.perimeter > 0.0),
    }));
    inputs[ix::END_OF_LIFE] = obj(json!({
        "internet_facing": assets.iter().filter(|a| a.end_of_life && a.internet_facing).count(),
        "internal": assets.iter().filter(|a| a.end_of_life && !a.internet_facing).count(),
        "examples": ids_where(&|t| t.end_of_life > 0.0),
    }));
    inputs[ix::ATTACK_SURFACE] =
        obj(json!({ "internet_facing_assets": count_where(&|t| t.internet > 0.0) }));
    inputs[ix::SHADOW_ASSETS] = obj(json!({
        "unknown": assets.iter().filter(|a| !a.declared).count(),
        "shadow_or_zombie": count_where(&|t| t.shadow > 0.0),
        "examples": ids_where(&|t| t.shadow > 0.0),
    }));
    inputs[ix::DATA_HOLDINGS] = match &profile.data {
        Some(d) => obj(json!({
            "personal_records": d.personal_records,
            "sensitive_personal_records": d.sensitive_personal_records,
        })),
        None => obj(json!({ "status": "unknown" })),
    };
    inputs[ix::CIIO] = obj(json!({ "ciio": profile.ciio }));
    inputs[ix::EXPLOITATION_PRESSURE] = obj(json!({
        "unresolved_findings": st.unresolved,
        "kev_unresolved": st.kev_unresolved,
        "kev_internet_facing": st.kev_internet,
        "without_epss": st.without_epss,
        "top_findings": examples(st.top_hazard.iter().map(|&(_, i)| findings[i].id.as_str())),
    }));
    let by_sev = st.overdue_by_severity;
    inputs[ix::OVERDUE_FINDINGS] = obj(json!({
        "overdue": by_sev.iter().sum::<usize>(),
        "critical": by_sev[4], "high": by_sev[3], "medium": by_sev[2], "low": by_sev[1],
        "oldest_overdue_days": st.oldest_overdue_days,
    }));
    let params: Vec<_> = model.factors.iter().collect();
    for (i, ids) in features::CONTROL_FACTORS {
        let ev = features::control_evidence(bundle.controls(), ids, required_mlps, model, as_of);
        let mut m = match ev {
            None => obj(json!({ "status": "unknown" })),
            Some(e) if e.not_applicable => {
                obj(json!({ "status": "not_applicable", "results": e.results }))
            }
            Some(e) => obj(json!({
                "status": "assessed",
                "results": e.results,
                "quality": round_to(e.quality, 4),
                "evidence_weight": round_to(e.weight, 4),
            })),
        };
        if i == ix::MLPS {
            m.insert("required_level".into(), json!(required_mlps));
            let levels: Vec<u8> = bundle.controls().iter().filter_map(|c| c.level).collect();
            m.insert("assessed_levels".into(), json!(levels));
        }
        inputs[i] = m;
    }
    let obligations = features::obligations(bundle, model, as_of, prep.window_start);
    inputs[ix::REGULATORY_OBLIGATIONS] = obj(json!({
        "cross_border_requirement": features::cross_border_requirement(bundle).as_str(),
        "obligations": obligations.iter().map(|o| json!({
            "name": o.name, "unmet": o.unmet, "known": o.known,
        })).collect::<Vec<_>>(),
    }));
    let h = &model.history;
    let detection = h.min_detection
        + (1.0 - h.min_detection) * 0.5 * (ev.x[ix::EDR] + ev.x[ix::LOG_RETENTION]).clamp(0.0, 2.0);
    let in_window = bundle
        .incidents()
        .iter()
        .filter(|i| i.started >= prep.window_start && i.started <= as_of)
        .count();
    inputs[ix::INCIDENT_HISTORY] = obj(json!({
        "incidents_in_window": in_window,
        "weighted_incidents": round_to(prep.weighted_incidents, 4),
        "window_years": round_to(prep.window_years, 3),
        "detection_coverage": round_to(detection, 4),
    }));

    let points = ev.points(model);
    let factors: Vec<FactorResult> = params
        .iter()
        .enumerate()
        .map(|(i, (name, p))| FactorResult {
            name,
            family: features::family(i),
            value: round_to(ev.x[i], 6),
            reference: p.reference,
            beta: p.beta,
            multiplier: round_to(ev.c[i].exp(), 6),
            points: round_to(points[i], 2),
            inputs: std::mem::take(&mut inputs[i]),
        })
        .collect();

    let mut order: Vec<usize> = (0..ix::COUNT).filter(|&i| points[i].abs() >= 0.5).collect();
    order.sort_by(|&a, &b| points[b].abs().total_cmp(&points[a].abs()).then(a.cmp(&b)));
    let reasons = order
        .into_iter()
        .take(REASONS)
        .map(|i| Reason {
            factor: factors[i].name,
            points: factors[i].points,
            text: reason_text(&factors[i], points[i]),
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
    let reference_x: [f64; ix::COUNT] = std::array::from_fn(|i| params[i].1.reference);
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

fn num(m: &Map<String, Value>, key: &str) -> u64 {
    m.get(key).and_then(Value::as_u64).unwrap_or(0)
}

fn list(m: &Map<String, Value>, key: &str) -> String {
    m.get(key)
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .collect::<Vec<_>>()
                .join(", ")
        })
        .unwrap_or_default()
}

fn plural(n: u64, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// One sentence on what drives a factor and by how many points.
fn reason_text(f: &FactorResult, points: f64) -> String {
    let m = &f.inputs;
    let worse = f.value > f.reference;
    let what = match f.name {
        "remote_access" if num(m, "assets") > 0 => format!(
            "Remote access (RDP, VNC, SMB, Telnet, WinRM) is exposed to the internet on {} ({})",
            plural(num(m, "assets"), "asset", "assets"),
            list(m, "examples")
        ),
        "remote_access" => "No remote-access service is exposed to the internet".to_owned(),
        "database_exposed" if num(m, "assets") > 0 => format!(
            "Databases or caches answer on the internet on {} ({})",
            plural(num(m, "assets"), "asset", "assets"),
            list(m, "examples")
        ),
        "database_exposed" => "No database is exposed to the internet".to_owned(),
        "perimeter_appliance" if num(m, "appliances") > 0 => format!(
            "{} internet-facing perimeter appliance(s), {} of a product with known-exploited vulnerabilities ({})",
            num(m, "appliances"),
            num(m, "with_kev_history"),
            list(m, "examples")
        ),
        "perimeter_appliance" => "No internet-facing perimeter appliance was found".to_owned(),
        "end_of_life" if worse => format!(
            "End-of-life software runs on {} internet-facing and {} internal assets ({})",
            num(m, "internet_facing"),
            num(m, "internal"),
            list(m, "examples")
        ),
        "end_of_life" => "Little or no end-of-life software".to_owned(),
        "attack_surface" => format!(
            "{} internet-facing",
            plural(num(m, "internet_facing_assets"), "asset is", "assets are")
        ),
        "shadow_assets" => format!(
            "{} unknown or zombie (long unseen) assets",
            num(m, "shadow_or_zombie")
        ),
        "data_holdings" if m.get("status").is_some() => "Data volumes not given".to_owned(),
        "data_holdings" => format!(
            "Holds personal information of {} people ({} sensitive)",
            num(m, "personal_records"),
            num(m, "sensitive_personal_records")
        ),
        "ciio" if worse => "Operates critical information infrastructure".to_owned(),
        "ciio" => "Not a critical-information-infrastructure operator".to_owned(),
        "exploitation_pressure" => format!(
            "{} unresolved findings, {} KEV-listed ({} on internet-facing assets); exploitation pressure {:.0} %",
            num(m, "unresolved_findings"),
            num(m, "kev_unresolved"),
            num(m, "kev_internet_facing"),
            f.value * 100.0
        ),
        "overdue_findings" => format!(
            "{} past their remediation SLA ({} critical, {} high; oldest {} days open)",
            plural(num(m, "overdue"), "finding is", "findings are"),
            num(m, "critical"),
            num(m, "high"),
            num(m, "oldest_overdue_days")
        ),
        "regulatory_obligations" => {
            let unmet = m
                .get("obligations")
                .and_then(Value::as_array)
                .map(|a| {
                    a.iter()
                        .filter(|o| o.get("unmet").and_then(Value::as_f64).unwrap_or(0.0) > 0.0)
                        .filter_map(|o| o.get("name").and_then(Value::as_str))
                        .collect::<Vec<_>>()
                        .join(", ")
                })
                .unwrap_or_default();
            if unmet.is_empty() {
                "Applicable data-security obligations are met".to_owned()
            } else {
                format!("Data-security obligations unmet or unevidenced: {unmet}")
            }
        }
        "incident_history" => format!(
            "{} in the last {:.1} years (detection coverage {:.0} %)",
            plural(num(m, "incidents_in_window"), "incident", "incidents"),
            m.get("window_years").and_then(Value::as_f64).unwrap_or(0.0),
            m.get("detection_coverage")
                .and_then(Value::as_f64)
                .unwrap_or(0.0)
                * 100.0
        ),
        control => {
            let label = control.replace('_', " ");
            match m.get("status").and_then(Value::as_str) {
                Some("assessed") if f.value >= f.reference => format!("{label}: in place"),
                Some("assessed") => format!("{label}: missing or weak"),
                _ => format!("{label}: no evidence"),
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
    let unknown_controls: Vec<&str> = features::CONTROL_FACTORS
        .iter()
        .filter(|(_, ids)| {
            features::control_evidence(bundle.controls(), ids, 0, model, as_of).is_none()
        })
        .map(|(i, _)| crate::model::FACTOR_NAMES[*i])
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
    let known: f64 = features::CONTROL_FACTORS
        .iter()
        .map(|(_, ids)| {
            match features::control_evidence(bundle.controls(), ids, required, model, as_of) {
                None => 0.0,
                Some(e) if e.self_declared => model.evidence.self_declared_weight,
                Some(_) => 1.0,
            }
        })
        .sum();
    let control_share = known / features::CONTROL_FACTORS.len() as f64;
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
