//! Mid-policy monitoring: alert rules as data, and their evaluation against an organisation's
//! new rating and (enriched) bundle. Pure: the caller gives the previous monitoring state, the
//! observation and the date, and stores the new state with the alerts in one transaction.
//!
//! Two kinds of alert:
//! - **events** — the grade changed, or the score fell by at least N points from its recent
//!   high (the highest score since the last drop alert or since monitoring began, so a slow
//!   slide alerts once it adds up to N, not only a single large step);
//! - **conditions** — something that holds while it holds: a known-exploited vulnerability
//!   open on an internet-facing asset (one condition per finding), findings past their
//!   remediation SLA, no scan for N days, an underwriting rule that fails. A condition alerts
//!   when it *starts* to hold; it must clear before it can alert again.
//!
//! The first evaluation for an audience only records the baseline: what was known when the
//! policy was bound (or monitoring began) is not news.
//!
//! The built-in rules are `models/alerts-v1.toml`; each threshold is a judgement stated there.

use std::collections::HashSet;

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use crate::RatingModel;
use crate::bundle::Bundle;
use crate::cvss::Severity;
use crate::rating::features::{finding_severity, state_as_of};
use crate::underwriting::{Decision, UnderwritingDecision};

/// How urgent an alert is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AlertSeverity {
    Info,
    Warning,
    Critical,
}

impl AlertSeverity {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Info => "info",
            Self::Warning => "warning",
            Self::Critical => "critical",
        }
    }
}

/// What an alert is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AlertKind {
    GradeChange,
    ScoreDrop,
    KevInternetFacing,
    PastSla,
    NoScan,
    UnderwritingRuleFailing,
}

impl AlertKind {
    pub const ALL: [Self; 6] = [
        Self::GradeChange,
        Self::ScoreDrop,
        Self::KevInternetFacing,
        Self::PastSla,
        Self::NoScan,
        Self::UnderwritingRuleFailing,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::GradeChange => "grade_change",
            Self::ScoreDrop => "score_drop",
            Self::KevInternetFacing => "kev_internet_facing",
            Self::PastSla => "past_sla",
            Self::NoScan => "no_scan",
            Self::UnderwritingRuleFailing => "underwriting_rule_failing",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

/// A rule with no parameters: present means on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct On {}

/// Grade changes: every change, or only downgrades.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GradeChangeRule {
    #[serde(default)]
    pub downgrades_only: bool,
}

/// A fall of at least `points` from the recent high.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScoreDropRule {
    pub points: i32,
}

/// Findings of at least `min_severity` open past the rating model's remediation SLA.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PastSlaRule {
    pub min_severity: Severity,
}

/// No scan evidence for more than `days` days.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NoScanRule {
    pub days: u32,
}

/// An insurer's alert rules; a rule left out is not applied.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AlertRules {
    pub id: String,
    pub version: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grade_change: Option<GradeChangeRule>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub score_drop: Option<ScoreDropRule>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kev_internet_facing: Option<On>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub past_sla: Option<PastSlaRule>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub no_scan: Option<NoScanRule>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub underwriting_rule_failing: Option<On>,
}

/// A rule set that does not hold together.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("alert rules: {0}")]
pub struct AlertRulesError(pub String);

impl AlertRules {
    /// `models/alerts-v1.toml`.
    pub fn builtin() -> Self {
        Self::from_toml(include_str!("../../../models/alerts-v1.toml"))
            .expect("the built-in alert rules are valid (tested)")
    }

    /// Parses and checks a rule set.
    pub fn from_toml(text: &str) -> Result<Self, AlertRulesError> {
        let r: Self = toml::from_str(text).map_err(|e| AlertRulesError(e.to_string()))?;
        r.check()?;
        Ok(r)
    }

    /// Thresholds in range: a drop of 1–650 points (the score's whole range), no scan for
    /// 1–3,650 days.
    pub fn check(&self) -> Result<(), AlertRulesError> {
        if self.id.trim().is_empty() || self.version.trim().is_empty() {
            return Err(AlertRulesError("id and version: must not be blank".into()));
        }
        if let Some(d) = &self.score_drop
            && !(1..=650).contains(&d.points)
        {
            return Err(AlertRulesError(format!(
                "score_drop.points: must be 1 to 650, got {}",
                d.points
            )));
        }
        if let Some(n) = &self.no_scan
            && !(1..=3650).contains(&n.days)
        {
            return Err(AlertRulesError(format!(
                "no_scan.days: must be 1 to 3650, got {}",
                n.days
            )));
        }
        Ok(())
    }
}

/// What monitoring remembers about one organisation for one audience between evaluations.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MonitorState {
    pub rating_id: String,
    pub score: i32,
    pub grade: String,
    /// The score a drop is measured from: the highest since the last drop alert or since
    /// monitoring began.
    pub reference_score: i32,
    /// The conditions that held, by key.
    pub conditions: Vec<String>,
}

/// What is evaluated: a stored rating of the organisation and the bundle it was computed
/// from (enriched with the feeds), as of a date.
#[derive(Debug, Clone, Copy)]
pub struct Observation<'a> {
    pub rating_id: &'a str,
    pub score: i32,
    pub grade: &'a str,
    pub bundle: &'a Bundle,
    pub model: &'a RatingModel,
    /// The newest scan evidence (the rating's `inputs.latest_scan`).
    pub latest_scan: Option<NaiveDate>,
    /// The audience's underwriting rules applied to the same bundle and rating.
    pub underwriting: Option<&'a UnderwritingDecision>,
    pub as_of: NaiveDate,
}

/// An alert to create.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AlertDraft {
    pub kind: AlertKind,
    /// Unique per organisation and audience: the condition's key, or the event's, with the
    /// rating it was raised on.
    pub dedupe_key: String,
    pub severity: AlertSeverity,
    pub title: String,
    pub detail: serde_json::Value,
}

/// The alerts an observation raises and the state to store with them.
#[derive(Debug, Clone, PartialEq)]
pub struct Evaluation {
    pub alerts: Vec<AlertDraft>,
    pub state: MonitorState,
}

struct Condition {
    key: String,
    kind: AlertKind,
    severity: AlertSeverity,
    title: String,
    detail: serde_json::Value,
}

fn conditions(rules: &AlertRules, o: &Observation<'_>) -> Vec<Condition> {
    let mut out = Vec::new();
    if rules.kev_internet_facing.is_some() {
        let facing: HashSet<&str> = o
            .bundle
            .assets()
            .iter()
            .filter(|a| a.internet_facing)
            .map(|a| a.id.as_str())
            .collect();
        for f in o.bundle.findings() {
            if f.kev && facing.contains(f.asset.as_str()) && state_as_of(f, o.as_of).is_unresolved()
            {
                let cves: Vec<&str> = f.cves().map(|c| c.as_str()).collect();
                out.push(Condition {
                    key: format!("kev:{}", f.id),
                    kind: AlertKind::KevInternetFacing,
                    severity: AlertSeverity::Critical,
                    title: format!(
                        "Known-exploited vulnerability {} open on internet-facing asset {}",
                        cves.first().copied().unwrap_or(f.id.as_str()),
                        f.asset
                    ),
                    detail: serde_json::json!({
                        "finding_id": f.id, "asset_id": f.asset, "cves": cves,
                        "first_seen": f.first_seen,
                    }),
                });
            }
        }
    }
    if let Some(r) = &rules.past_sla {
        let mut overdue = 0usize;
        let mut oldest: Option<(i64, &str)> = None;
        for f in o.bundle.findings() {
            let sev = finding_severity(f);
            if sev < r.min_severity
                || sev == Severity::Info
                || !state_as_of(f, o.as_of).is_unresolved()
            {
                continue;
            }
            let age = (o.as_of - f.first_seen).num_days();
            if age > i64::from(o.model.sla_days(sev, f.kev)) {
                overdue += 1;
                if oldest.is_none_or(|(a, _)| age > a) {
                    oldest = Some((age, f.id.as_str()));
                }
            }
        }
        if let Some((age, id)) = oldest {
            out.push(Condition {
                key: "past_sla".into(),
                kind: AlertKind::PastSla,
                severity: AlertSeverity::Warning,
                title: format!(
                    "{overdue} finding(s) past their remediation SLA (oldest open {age} days)"
                ),
                detail: serde_json::json!({
                    "findings": overdue, "oldest_finding_id": id, "oldest_age_days": age,
                    "min_severity": r.min_severity,
                }),
            });
        }
    }
    if let Some(r) = &rules.no_scan {
        let days = o.latest_scan.map(|d| (o.as_of - d).num_days());
        if days.is_none_or(|d| d > i64::from(r.days)) {
            out.push(Condition {
                key: "no_scan".into(),
                kind: AlertKind::NoScan,
                severity: AlertSeverity::Warning,
                title: match days {
                    Some(d) => format!("No scan for {d} days (more than {})", r.days),
                    None => "No scan evidence at all".into(),
                },
                detail: serde_json::json!({ "latest_scan": o.latest_scan, "days": days, "limit_days": r.days }),
            });
        }
    }
    if rules.underwriting_rule_failing.is_some()
        && let Some(d) = o.underwriting
    {
        for r in d.rules.iter().filter(|r| r.outcome != Decision::Accept) {
            out.push(Condition {
                key: format!("underwriting:{}", r.rule),
                kind: AlertKind::UnderwritingRuleFailing,
                severity: if r.outcome == Decision::Decline {
                    AlertSeverity::Critical
                } else {
                    AlertSeverity::Warning
                },
                title: format!("Underwriting rule {} now fails: {}", r.rule, r.explanation),
                detail: serde_json::json!({
                    "rule": r.rule, "outcome": r.outcome, "explanation": r.explanation,
                    "rules_version": d.rules_version,
                }),
            });
        }
    }
    out
}

/// Evaluates `rules` on `o` against the state left by the previous evaluation (`None` for the
/// first: the baseline, no alerts).
pub fn evaluate(
    rules: &AlertRules,
    previous: Option<&MonitorState>,
    o: &Observation<'_>,
) -> Evaluation {
    let conds = conditions(rules, o);
    let keys: Vec<String> = conds.iter().map(|c| c.key.clone()).collect();
    let Some(prev) = previous else {
        return Evaluation {
            alerts: Vec::new(),
            state: MonitorState {
                rating_id: o.rating_id.to_owned(),
                score: o.score,
                grade: o.grade.to_owned(),
                reference_score: o.score,
                conditions: keys,
            },
        };
    };
    let mut alerts = Vec::new();
    if let Some(r) = &rules.grade_change
        && prev.grade != o.grade
    {
        let down = o.score < prev.score;
        if down || !r.downgrades_only {
            alerts.push(AlertDraft {
                kind: AlertKind::GradeChange,
                dedupe_key: format!("grade:{}", o.rating_id),
                severity: if down {
                    AlertSeverity::Warning
                } else {
                    AlertSeverity::Info
                },
                title: format!(
                    "Grade {} from {} to {} (score {} → {})",
                    if down { "fell" } else { "rose" },
                    prev.grade,
                    o.grade,
                    prev.score,
                    o.score
                ),
                detail: serde_json::json!({
                    "from_grade": prev.grade, "to_grade": o.grade,
                    "from_score": prev.score, "to_score": o.score,
                    "from_rating_id": prev.rating_id, "rating_id": o.rating_id,
                }),
            });
        }
    }
    let mut reference = prev.reference_score.max(prev.score);
    if let Some(r) = &rules.score_drop {
        let drop = reference - o.score;
        if drop >= r.points {
            alerts.push(AlertDraft {
                kind: AlertKind::ScoreDrop,
                dedupe_key: format!("drop:{}", o.rating_id),
                severity: AlertSeverity::Warning,
                title: format!(
                    "Score fell {drop} points, from {reference} to {} (threshold {})",
                    o.score, r.points
                ),
                detail: serde_json::json!({
                    "from_score": reference, "to_score": o.score, "points": drop,
                    "threshold": r.points, "rating_id": o.rating_id,
                }),
            });
            reference = o.score;
        }
    }
    let reference_score = reference.max(o.score);
    let before: HashSet<&str> = prev.conditions.iter().map(String::as_str).collect();
    for c in conds {
        if !before.contains(c.key.as_str()) {
            alerts.push(AlertDraft {
                kind: c.kind,
                dedupe_key: format!("{}@{}", c.key, o.rating_id),
                severity: c.severity,
                title: c.title,
                detail: c.detail,
            });
        }
    }
    Evaluation {
        alerts,
        state: MonitorState {
            rating_id: o.rating_id.to_owned(),
            score: o.score,
            grade: o.grade.to_owned(),
            reference_score,
            conditions: keys,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_rules_load() {
        let r = AlertRules::builtin();
        assert_eq!(r.score_drop.as_ref().map(|d| d.points), Some(30));
        assert!(r.kev_internet_facing.is_some());
        assert!(
            AlertRules::from_toml("id = \"x\"\nversion = \"1\"\n[score_drop]\npoints = 0\n")
                .is_err()
        );
        assert!(AlertRules::from_toml("id = \"x\"\nversion = \"1\"\n[nope]\n").is_err());
    }
}
