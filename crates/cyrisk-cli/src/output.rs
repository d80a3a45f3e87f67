//! Rendering ratings and plans as JSON and as text for a terminal.

use std::fmt::Write as _;

use cyrisk_core::Plan;
use cyrisk_core::rating::Rating;

use crate::commands::KevUse;

/// The rating as JSON, with the enrichment sources it used.
pub(crate) fn rating_json(rating: &Rating, kev: &Option<KevUse>) -> anyhow::Result<String> {
    let mut v = serde_json::to_value(rating)?;
    if let Some(obj) = v.as_object_mut() {
        obj.insert("sources".into(), serde_json::json!({ "kev": kev }));
    }
    Ok(serde_json::to_string_pretty(&v)? + "\n")
}

pub(crate) fn rating_text(r: &Rating, kev: &Option<KevUse>) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "{} — rating as of {} (model {} {})",
        r.organization, r.as_of, r.model.id, r.model.version
    );
    let _ = writeln!(
        s,
        "Score {}  grade {}  (90 % band {}–{}, confidence {})",
        r.score,
        r.grade,
        r.confidence.score_low,
        r.confidence.score_high,
        serde_json::to_value(r.confidence.level)
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default()
    );
    let _ = writeln!(
        s,
        "Annual incident probability {:.2} %  (expected incidents a year {:.4}; {} {} baseline {:.0})",
        r.annual_incident_probability.get() * 100.0,
        r.expected_incident_rate,
        r.baseline.industry.as_str(),
        r.baseline.size_band.as_str(),
        r.baseline.score
    );
    if !r.reasons.is_empty() {
        let _ = writeln!(s, "\nWhy:");
        for reason in &r.reasons {
            let _ = writeln!(s, "  {:+7.1}  {}", reason.points, reason.text);
        }
    }
    if !r.perils.is_empty() {
        let _ = writeln!(
            s,
            "\nBy peril (expected incidents a year; share, reference organisation's share):"
        );
        for p in &r.perils {
            let _ = writeln!(
                s,
                "  {:<22} {:.4}  ({:.0} %, reference {:.0} %)",
                p.peril.as_str().replace('_', " "),
                p.expected_incident_rate,
                p.share * 100.0,
                p.reference_share * 100.0
            );
        }
    }
    let _ = writeln!(s, "\nFactors (points relative to the baseline):");
    for f in &r.factors {
        let _ = writeln!(
            s,
            "  {:<16} {:<24} {:+7.1}   value {:.3} (reference {:.3})",
            f.family, f.name, f.points, f.value, f.reference
        );
    }
    if !r.confidence.missing.is_empty() {
        let _ = writeln!(s, "\nMissing data:");
        for m in &r.confidence.missing {
            let _ = writeln!(s, "  - {m}");
        }
    }
    if !r.warnings.is_empty() {
        let _ = writeln!(s, "\nWarnings:");
        for w in &r.warnings {
            let _ = writeln!(s, "  - [{}] {}", w.code, w.message);
        }
    }
    if let Some(k) = kev {
        let _ = writeln!(
            s,
            "\nKEV catalogue {} ({}): {} finding(s) marked",
            k.catalog_version, k.source, k.findings_marked
        );
    }
    s
}

pub(crate) fn plan_text(p: &Plan) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "{} — remediation plan as of {} (score now {:.1})",
        p.organization, p.as_of, p.score
    );
    if p.items.is_empty() {
        let _ = writeln!(s, "No candidate fix would raise the score.");
    }
    if let Some(m) = &p.money {
        let premium = m.premium.map_or(String::new(), |v| {
            format!(", premium {}", crate::money::money(v))
        });
        let _ = writeln!(
            s,
            "Expected annual loss {} {}{premium} for {} xs {} ({}); ranked by {}",
            crate::money::money(m.expected_annual_loss),
            m.currency,
            crate::money::money(m.limit),
            crate::money::money(m.deductible),
            m.layer_source.replace('_', " "),
            m.ranked_by
        );
        let _ = writeln!(
            s,
            "{:>4} {:>7} {:>6}  {:>14} {:>12}  fix",
            "rank", "points", "score", "loss removed", "premium −"
        );
    }
    for item in &p.items {
        match &item.money {
            Some(m) => {
                let _ = writeln!(
                    s,
                    "{:>3}. {:+7.1} {:>6.0}  {:>14} {:>12}  {}",
                    item.rank,
                    item.score_gain,
                    item.new_score,
                    crate::money::money(m.loss_reduction),
                    m.premium_reduction
                        .map_or("n/a".to_owned(), crate::money::money),
                    item.description
                );
            }
            None => {
                let _ = writeln!(
                    s,
                    "{:>3}. {:+6.1} → {:.0}  {}",
                    item.rank, item.score_gain, item.new_score, item.description
                );
            }
        }
    }
    let _ = writeln!(
        s,
        "({} candidate fixes considered)",
        p.candidates_considered
    );
    s
}
