//! Underwriting rules as data: an insurer's conditions for writing a risk, evaluated against
//! an applicant's (enriched) bundle and its rating, each with its outcome explained, and a
//! decision — `accept`, `refer` (to an underwriter) or `decline` — that is the worst outcome of
//! any rule. Pure: the caller gives the bundle, the rating and the date.
//!
//! The built-in rule set is `models/underwriting-v1.toml`; every threshold there is a
//! judgement, stated with the market practice it follows.

use std::collections::HashSet;

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use crate::Rating;
use crate::bundle::Bundle;
use crate::control::{ControlId, Outcome};

/// What a failed rule means for the application.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OnFail {
    /// An underwriter decides.
    Refer,
    /// The risk is not written.
    Decline,
}

/// A rule's outcome, and the application's decision (the worst rule outcome).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Decision {
    Accept,
    Refer,
    Decline,
}

impl From<OnFail> for Decision {
    fn from(o: OnFail) -> Self {
        match o {
            OnFail::Refer => Self::Refer,
            OnFail::Decline => Self::Decline,
        }
    }
}

/// Score thresholds: below `decline_below` the risk is declined, below `refer_below` referred.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScoreRule {
    pub decline_below: Option<i32>,
    pub refer_below: Option<i32>,
}

/// A rule that is on or off, with what its failure means.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FlagRule {
    pub on_fail: OnFail,
}

/// A rule with a numeric limit.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LimitRule<T> {
    pub limit: T,
    pub on_fail: OnFail,
}

/// Controls that must pass.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ControlsRule {
    pub controls: Vec<ControlId>,
    pub on_fail: OnFail,
}

/// An insurer's underwriting rules (TOML). A rule that is absent is not applied.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UnderwritingRules {
    pub id: String,
    pub version: String,
    /// Minimum score.
    pub score: Option<ScoreRule>,
    /// No unresolved KEV-listed finding on an internet-facing asset.
    pub open_kev_internet_facing: Option<FlagRule>,
    /// A critical-information-infrastructure operator holds a passing MLPS assessment at
    /// least at this level.
    pub ciio_min_mlps_level: Option<LimitRule<u8>>,
    /// At most this many people's personal information held.
    pub max_records_held: Option<LimitRule<u64>>,
    /// These controls pass (a third party's result or the applicant's own answer).
    pub required_controls: Option<ControlsRule>,
    /// The rating's 90 % score band at most this many points wide (so little is known that
    /// the price is a guess).
    pub max_confidence_band: Option<LimitRule<i32>>,
}

/// A rules file that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("underwriting rules: {0}")]
pub struct RulesError(pub String);

impl UnderwritingRules {
    /// The built-in rule set (`models/underwriting-v1.toml`).
    pub fn builtin() -> Self {
        Self::from_toml(include_str!("../../../models/underwriting-v1.toml"))
            .expect("the built-in underwriting rules are validated by the test suite")
    }

    /// Parses and checks a rule set; the error names the field.
    pub fn from_toml(text: &str) -> Result<Self, RulesError> {
        let de = toml::Deserializer::parse(text).map_err(|e| RulesError(e.to_string()))?;
        let r: Self = serde_path_to_error::deserialize(de)
            .map_err(|e| RulesError(format!("{}: {}", e.path(), e.inner())))?;
        r.check()?;
        Ok(r)
    }

    /// The rules that make sense together: thresholds in order, levels 1–5.
    pub fn check(&self) -> Result<(), RulesError> {
        if let Some(s) = &self.score
            && let (Some(d), Some(r)) = (s.decline_below, s.refer_below)
            && d > r
        {
            return Err(RulesError(format!(
                "score: decline_below {d} is above refer_below {r}"
            )));
        }
        if let Some(m) = &self.ciio_min_mlps_level
            && !(1..=5).contains(&m.limit)
        {
            return Err(RulesError(format!(
                "ciio_min_mlps_level.limit: MLPS levels are 1 to 5, got {}",
                m.limit
            )));
        }
        if let Some(c) = &self.max_confidence_band
            && c.limit < 0
        {
            return Err(RulesError(
                "max_confidence_band.limit: must be at least 0".into(),
            ));
        }
        Ok(())
    }
}

/// One rule's outcome.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RuleOutcome {
    /// The rule's name in the rules file.
    pub rule: &'static str,
    pub outcome: Decision,
    /// What was found, in words.
    pub explanation: String,
}

/// The decision on an application, with every rule's outcome.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct UnderwritingDecision {
    pub decision: Decision,
    /// `id version` of the rule set applied.
    pub rules_version: String,
    pub rules: Vec<RuleOutcome>,
}

fn outcome(rule: &'static str, failed: Option<OnFail>, explanation: String) -> RuleOutcome {
    RuleOutcome {
        rule,
        outcome: failed.map_or(Decision::Accept, Decision::from),
        explanation,
    }
}

/// Applies `rules` to an applicant: its bundle (enriched with the KEV catalogue and EPSS the
/// rating used) and its rating, as of `as_of`.
pub fn evaluate(
    rules: &UnderwritingRules,
    bundle: &Bundle,
    rating: &Rating,
    as_of: NaiveDate,
) -> UnderwritingDecision {
    let mut out = Vec::new();
    if let Some(s) = &rules.score {
        let score = rating.score;
        let failed = match (s.decline_below, s.refer_below) {
            (Some(d), _) if score < d => Some((OnFail::Decline, d)),
            (_, Some(r)) if score < r => Some((OnFail::Refer, r)),
            _ => None,
        };
        out.push(outcome(
            "score",
            failed.map(|(o, _)| o),
            match failed {
                Some((_, t)) => format!("score {score} (grade {}) is below {t}", rating.grade),
                None => format!("score {score} (grade {}) meets the minimum", rating.grade),
            },
        ));
    }
    if let Some(r) = &rules.open_kev_internet_facing {
        let facing: HashSet<&str> = bundle
            .assets()
            .iter()
            .filter(|a| a.internet_facing)
            .map(|a| a.id.as_str())
            .collect();
        let open: Vec<String> = bundle
            .findings()
            .iter()
            .filter(|f| {
                f.kev
                    && facing.contains(f.asset.as_str())
                    && crate::rating::features::state_as_of(f, as_of).is_unresolved()
            })
            .map(|f| match f.cves().next() {
                Some(c) => format!("{} ({} on {})", f.id, c.as_str(), f.asset),
                None => format!("{} (on {})", f.id, f.asset),
            })
            .collect();
        out.push(outcome(
            "open_kev_internet_facing",
            (!open.is_empty()).then_some(r.on_fail),
            if open.is_empty() {
                "no unresolved known-exploited vulnerability on an internet-facing asset".into()
            } else {
                format!(
                    "{} unresolved known-exploited finding(s) on internet-facing assets: {}",
                    open.len(),
                    open.iter().take(5).cloned().collect::<Vec<_>>().join(", ")
                )
            },
        ));
    }
    if let Some(r) = &rules.ciio_min_mlps_level {
        let p = bundle.profile();
        let best = bundle
            .controls()
            .iter()
            .filter(|c| c.control == ControlId::Mlps && c.outcome == Outcome::Pass)
            .filter_map(|c| c.level)
            .max();
        let failed = p.ciio && best.is_none_or(|l| l < r.limit);
        out.push(outcome(
            "ciio_min_mlps_level",
            failed.then_some(r.on_fail),
            match (p.ciio, best) {
                (false, _) => "not a critical-information-infrastructure operator".into(),
                (true, Some(l)) if l >= r.limit => {
                    format!("a CIIO with a passing MLPS level-{l} assessment")
                }
                (true, Some(l)) => format!(
                    "a CIIO whose best passing MLPS assessment is level {l}, below {}",
                    r.limit
                ),
                (true, None) => format!(
                    "a CIIO with no passing MLPS assessment (level {} or above required)",
                    r.limit
                ),
            },
        ));
    }
    if let Some(r) = &rules.max_records_held {
        let held = bundle
            .profile()
            .data
            .as_ref()
            .map(|d| d.personal_records.max(d.sensitive_personal_records));
        out.push(outcome(
            "max_records_held",
            held.is_some_and(|h| h > r.limit).then_some(r.on_fail),
            match held {
                Some(h) => format!(
                    "personal information of {h} people held (at most {})",
                    r.limit
                ),
                None => format!(
                    "no data volumes given (at most {} people's personal information)",
                    r.limit
                ),
            },
        ));
    }
    if let Some(r) = &rules.required_controls {
        let mut missing = Vec::new();
        let mut declared = Vec::new();
        for want in &r.controls {
            let results: Vec<_> = bundle
                .controls()
                .iter()
                .filter(|c| c.control == *want)
                .collect();
            if !results.iter().any(|c| c.outcome == Outcome::Pass) {
                missing.push(want.as_str());
            } else if results
                .iter()
                .all(|c| c.outcome != Outcome::Pass || c.self_declared)
            {
                declared.push(want.as_str());
            }
        }
        let mut text = if missing.is_empty() {
            format!(
                "in place: {}",
                r.controls
                    .iter()
                    .map(|c| c.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        } else {
            format!("not in place: {}", missing.join(", "))
        };
        if !declared.is_empty() {
            text.push_str(&format!(
                " ({} on the applicant's word only)",
                declared.join(", ")
            ));
        }
        out.push(outcome(
            "required_controls",
            (!missing.is_empty()).then_some(r.on_fail),
            text,
        ));
    }
    if let Some(r) = &rules.max_confidence_band {
        let width = rating.confidence.score_high - rating.confidence.score_low;
        out.push(outcome(
            "max_confidence_band",
            (width > r.limit).then_some(r.on_fail),
            format!(
                "the score's 90 % band is {width} points wide ({}–{}; at most {}){}",
                rating.confidence.score_low,
                rating.confidence.score_high,
                r.limit,
                if width > r.limit && !rating.confidence.missing.is_empty() {
                    format!(
                        "; missing: {}",
                        rating
                            .confidence
                            .missing
                            .iter()
                            .take(4)
                            .cloned()
                            .collect::<Vec<_>>()
                            .join("; ")
                    )
                } else {
                    String::new()
                }
            ),
        ));
    }
    UnderwritingDecision {
        decision: out
            .iter()
            .map(|o| o.outcome)
            .max()
            .unwrap_or(Decision::Accept),
        rules_version: format!("{} {}", rules.id, rules.version),
        rules: out,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bundle(extra: serde_json::Value) -> Bundle {
        let mut v = serde_json::json!({
            "profile": { "name": "Applicant", "industry": "retail", "annual_revenue": 1e8,
                         "employees": 100, "region": "CN-BJ" },
            "assets": [
                { "id": "web", "kind": "host", "internet_facing": true },
                { "id": "db", "kind": "host" }
            ],
            "controls": [
                { "control": "mfa", "outcome": "pass" },
                { "control": "offline_backups", "outcome": "pass", "self_declared": true }
            ]
        });
        for (k, x) in extra.as_object().unwrap() {
            v[k] = x.clone();
        }
        Bundle::from_json(&v.to_string()).unwrap()
    }

    fn day() -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 11, 30).unwrap()
    }

    fn decide(b: &Bundle) -> UnderwritingDecision {
        let r = crate::rate(b, &crate::RatingModel::builtin(), day());
        evaluate(&UnderwritingRules::builtin(), b, &r, day())
    }

    fn rule<'a>(d: &'a UnderwritingDecision, name: &str) -> &'a RuleOutcome {
        d.rules.iter().find(|r| r.rule == name).unwrap()
    }

    #[test]
    fn the_builtin_rules_load_and_bad_files_name_the_field() {
        let r = UnderwritingRules::builtin();
        assert!(r.score.is_some() && r.required_controls.is_some());
        let e = UnderwritingRules::from_toml(
            "id = \"x\"\nversion = \"1\"\n[score]\ndecline_below = 700\nrefer_below = 600\n",
        )
        .unwrap_err();
        assert!(e.0.contains("decline_below 700"), "{e}");
        let e = UnderwritingRules::from_toml(
            "id = \"x\"\nversion = \"1\"\n[score]\nrefr_below = 600\n",
        )
        .unwrap_err();
        assert!(e.0.contains("score"), "{e}");
        let e = UnderwritingRules::from_toml(
            "id = \"x\"\nversion = \"1\"\n[ciio_min_mlps_level]\nlimit = 9\non_fail = \"refer\"\n",
        )
        .unwrap_err();
        assert!(e.0.contains("1 to 5"), "{e}");
    }

    #[test]
    fn a_known_exploited_finding_on_an_internet_facing_asset_fails_its_rule_until_fixed() {
        let finding = |state: &str| {
            serde_json::json!([{ "id": "F-1", "asset": "web", "cve": "CVE-2024-3400", "kev": true,
                "severity": "critical", "first_seen": "2026-10-01", "state": state }])
        };
        let open = decide(&bundle(serde_json::json!({ "findings": finding("open") })));
        let r = rule(&open, "open_kev_internet_facing");
        assert_eq!(r.outcome, Decision::Decline, "{r:?}");
        assert!(
            r.explanation.contains("F-1 (CVE-2024-3400 on web)"),
            "{r:?}"
        );
        assert_eq!(open.decision, Decision::Decline);
        // The same finding on an internal asset, or fixed, passes the rule.
        let mut internal = finding("open");
        internal[0]["asset"] = "db".into();
        let d = decide(&bundle(serde_json::json!({ "findings": internal })));
        assert_eq!(
            rule(&d, "open_kev_internet_facing").outcome,
            Decision::Accept
        );
        let d = decide(&bundle(
            serde_json::json!({ "findings": finding("closed") }),
        ));
        assert_eq!(
            rule(&d, "open_kev_internet_facing").outcome,
            Decision::Accept
        );
    }

    #[test]
    fn the_decision_is_the_worst_rule_outcome_and_each_is_explained() {
        // No EDR (required): refer, and the self-declared backups are said to be so.
        let d = decide(&bundle(serde_json::json!({})));
        let r = rule(&d, "required_controls");
        assert_eq!(r.outcome, Decision::Refer, "{r:?}");
        assert!(r.explanation.contains("not in place: edr"), "{r:?}");
        assert!(d.rules.iter().all(|r| !r.explanation.is_empty()));
        assert_eq!(d.decision, d.rules.iter().map(|r| r.outcome).max().unwrap());
        assert!(d.decision >= Decision::Refer);
        // A CIIO without a level-3 MLPS assessment is referred; with one, that rule passes.
        let mut ciio = serde_json::json!({ "controls": [
            { "control": "mfa", "outcome": "pass" }, { "control": "edr", "outcome": "pass" },
            { "control": "offline_backups", "outcome": "pass" },
            { "control": "mlps", "outcome": "pass", "level": 2 }
        ]});
        let mut b = serde_json::to_value(bundle(ciio.clone()).raw()).unwrap();
        b["profile"]["ciio"] = true.into();
        let d = decide(&Bundle::from_json(&b.to_string()).unwrap());
        let r = rule(&d, "ciio_min_mlps_level");
        assert_eq!(r.outcome, Decision::Refer, "{r:?}");
        assert!(r.explanation.contains("level 2, below 3"), "{r:?}");
        ciio["controls"][3]["level"] = 3.into();
        let mut b = serde_json::to_value(bundle(ciio).raw()).unwrap();
        b["profile"]["ciio"] = true.into();
        let d = decide(&Bundle::from_json(&b.to_string()).unwrap());
        assert_eq!(rule(&d, "ciio_min_mlps_level").outcome, Decision::Accept);
        assert_eq!(rule(&d, "required_controls").outcome, Decision::Accept);
    }

    #[test]
    fn an_empty_rule_set_accepts() {
        let rules = UnderwritingRules::from_toml("id = \"none\"\nversion = \"0\"\n").unwrap();
        let b = bundle(serde_json::json!({}));
        let r = crate::rate(&b, &crate::RatingModel::builtin(), day());
        let d = evaluate(&rules, &b, &r, day());
        assert_eq!((d.decision, d.rules.len()), (Decision::Accept, 0));
    }
}
