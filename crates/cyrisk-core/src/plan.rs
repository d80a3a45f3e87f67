//! What-if remediation plan: candidate fixes ranked by the score they would gain.
//!
//! Each candidate is evaluated exactly, by swapping the affected asset's or finding's terms
//! in the rating's additive totals (or a control's value) and re-evaluating; [`apply`] turns
//! an action into the changed bundle, so a test can check a plan's numbers by re-rating.

use chrono::NaiveDate;
use serde::Serialize;

use crate::bundle::Bundle;
use crate::control::{ControlId, ControlResult, Outcome};
use crate::factor::FactorId;
use crate::finding::FindingState;
use crate::model::RatingModel;
use crate::rating::features::{self, FindingTerms};
use crate::rating::{ModelRef, evaluate, prepare};

/// A fix the plan can propose.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Action {
    /// Fix one finding and verify the fix.
    CloseFinding { finding: String },
    /// Fix every unresolved KEV-listed finding on one asset.
    CloseKevFindingsOnAsset { asset: String, findings: usize },
    /// Take an asset off the internet (behind VPN or firewall).
    RemoveFromInternet { asset: String },
    /// Put a control in place and collect current evidence of it.
    PassControl { control: &'static str },
}

#[derive(Debug, Clone, PartialEq, Serialize, schemars::JsonSchema)]
pub struct PlanItem {
    pub rank: usize,
    pub action: Action,
    pub description: String,
    /// Score points gained (unrounded score after − before).
    pub score_gain: f64,
    pub new_score: f64,
    pub new_expected_incident_rate: f64,
    /// What the fix is worth in money, when the plan was priced (`cyrisk plan --money`,
    /// `GET …/plan?money=true`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub money: Option<ItemMoney>,
}

/// A fix's effect on expected loss and premium, in the plan's currency.
#[derive(Debug, Clone, PartialEq, Serialize, schemars::JsonSchema)]
pub struct ItemMoney {
    /// Expected annual ground-up loss after the fix.
    pub expected_annual_loss: f64,
    /// Expected annual ground-up loss it removes.
    pub loss_reduction: f64,
    /// Technical premium for the plan's layer after the fix (`None` when the pricing model
    /// allocates stand-alone capital, which the plan does not simulate).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub premium: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub premium_reduction: Option<f64>,
}

/// The money the plan was priced in: the layer, today's expected loss and premium, and what
/// the items are ranked by.
#[derive(Debug, Clone, PartialEq, Serialize, schemars::JsonSchema)]
pub struct PlanMoney {
    /// ISO 4217 code of every amount.
    pub currency: String,
    pub deductible: f64,
    pub limit: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub aggregate_limit: Option<f64>,
    /// Where the layer came from: `requested` or `standard_for_size_band`.
    pub layer_source: String,
    pub expected_annual_loss: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub premium: Option<f64>,
    /// `score` or `loss` (expected annual loss removed).
    pub ranked_by: String,
    /// How the amounts were computed.
    pub method: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, schemars::JsonSchema)]
pub struct Plan {
    pub organization: String,
    pub as_of: NaiveDate,
    /// The current score, unrounded.
    pub score: f64,
    pub expected_incident_rate: f64,
    pub candidates_considered: usize,
    pub items: Vec<PlanItem>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub money: Option<PlanMoney>,
    pub model: ModelRef,
}

/// A fix to evaluate: the action, its description, the totals with the fix applied, and
/// for a control the factor and its new value.
type Candidate = (Action, String, features::Totals, Option<(FactorId, f64)>);

fn round_to(v: f64, digits: i32) -> f64 {
    let f = 10f64.powi(digits);
    (v * f).round() / f
}

/// Ranks candidate fixes by score gain and returns the best `top`.
pub fn plan(bundle: &Bundle, model: &RatingModel, as_of: NaiveDate, top: usize) -> Plan {
    let prep = prepare(bundle, model, as_of);
    let assets = bundle.assets();
    let findings = bundle.findings();

    let mut by_asset: Vec<Vec<usize>> = vec![Vec::new(); assets.len()];
    for i in 0..findings.len() {
        by_asset[bundle.finding_asset(i)].push(i);
    }
    let asset_terms: Vec<_> = assets
        .iter()
        .map(|a| features::asset_terms(a, model, as_of))
        .collect();
    let finding_terms: Vec<FindingTerms> = findings
        .iter()
        .enumerate()
        .map(|(i, f)| {
            let a = &assets[bundle.finding_asset(i)];
            features::finding_terms(f, a.internet_facing, a, model, as_of)
        })
        .collect();
    let mut base = features::Totals::default();
    asset_terms.iter().for_each(|t| base.add_asset(t));
    finding_terms.iter().for_each(|t| base.add_finding(t));
    // v2's exploitation term is per asset: each asset's log-survival and weight, so a fix
    // changes only its own asset's term.
    let log_survival: Vec<f64> = by_asset
        .iter()
        .map(|fs| fs.iter().map(|&i| finding_terms[i].log_survival).sum())
        .collect();
    let weight: Vec<f64> = assets
        .iter()
        .map(|a| features::exploit_weight(a, a.internet_facing, model))
        .collect();
    let term = |l: f64, w: f64| features::asset_hazard_pow(l, w, model);
    base.hazard_pow = (0..assets.len())
        .map(|a| term(log_survival[a], weight[a]))
        .sum();
    // Replaces asset `a`'s exploitation term (log-survival `l`, weight `w`) in `tot`.
    let swap = |tot: &mut features::Totals, a: usize, l: f64, w: f64| {
        tot.hazard_pow = (tot.hazard_pow - term(log_survival[a], weight[a]) + term(l, w)).max(0.0);
    };
    let current = evaluate(&prep, &base, model);

    let mut items: Vec<Candidate> = Vec::new();
    for (i, f) in findings.iter().enumerate() {
        let t = &finding_terms[i];
        if !t.unresolved || (t.hazard == 0.0 && t.overdue == 0.0) {
            continue;
        }
        let mut tot = base;
        tot.sub_finding(t);
        let ai = bundle.finding_asset(i);
        swap(
            &mut tot,
            ai,
            (log_survival[ai] - t.log_survival).min(0.0),
            weight[ai],
        );
        let asset = &assets[ai];
        let cve = f
            .cve
            .as_ref()
            .map_or(String::new(), |c| format!(" {}", c.as_str()));
        let kev = if f.kev { ", KEV-listed" } else { "" };
        let sev = features::finding_severity(f).as_str();
        items.push((
            Action::CloseFinding {
                finding: f.id.clone(),
            },
            format!("Fix finding {}{cve} ({sev}{kev}) on {}", f.id, asset.id),
            tot,
            None,
        ));
    }
    for (ai, asset) in assets.iter().enumerate() {
        let kev: Vec<usize> = by_asset[ai]
            .iter()
            .copied()
            .filter(|&i| finding_terms[i].unresolved && findings[i].kev)
            .collect();
        if kev.len() > 1 {
            let mut tot = base;
            kev.iter().for_each(|&i| tot.sub_finding(&finding_terms[i]));
            let removed: f64 = kev.iter().map(|&i| finding_terms[i].log_survival).sum();
            swap(
                &mut tot,
                ai,
                (log_survival[ai] - removed).min(0.0),
                weight[ai],
            );
            items.push((
                Action::CloseKevFindingsOnAsset {
                    asset: asset.id.clone(),
                    findings: kev.len(),
                },
                format!("Fix the {} KEV-listed findings on {}", kev.len(), asset.id),
                tot,
                None,
            ));
        }
        // A VPN gateway or firewall is the way in from the internet: taking it off is not a fix.
        if asset.internet_facing && !asset.is_perimeter_appliance() {
            let mut moved = asset.clone();
            moved.internet_facing = false;
            let mut tot = base;
            tot.sub_asset(&asset_terms[ai]);
            tot.add_asset(&features::asset_terms(&moved, model, as_of));
            for &i in &by_asset[ai] {
                tot.sub_finding(&finding_terms[i]);
                tot.add_finding(&features::finding_terms(
                    &findings[i],
                    false,
                    asset,
                    model,
                    as_of,
                ));
            }
            swap(
                &mut tot,
                ai,
                log_survival[ai],
                features::exploit_weight(asset, false, model),
            );
            items.push((
                Action::RemoveFromInternet {
                    asset: asset.id.clone(),
                },
                format!(
                    "Take {} off the internet (put it behind a VPN or firewall)",
                    asset.id
                ),
                tot,
                None,
            ));
        }
    }
    for (id, _) in features::control_factors() {
        if prep.fixed[id] < 1.0 {
            let name = id.name();
            items.push((
                Action::PassControl { control: name },
                format!(
                    "Put {} in place and keep current evidence of it",
                    name.replace('_', " ")
                ),
                base,
                Some((id, 1.0)),
            ));
        }
    }

    let considered = items.len();
    let mut scored: Vec<PlanItem> = items
        .into_iter()
        .filter_map(|(action, description, tot, control)| {
            let ev = match control {
                None => evaluate(&prep, &tot, model),
                Some((id, v)) => {
                    let mut p = prep.clone();
                    p.fixed[id] = v;
                    evaluate(&p, &tot, model)
                }
            };
            let gain = ev.score_exact - current.score_exact;
            // A gain that rounds to nothing at the published precision is no fix.
            (gain >= 5e-5).then_some(PlanItem {
                rank: 0,
                action,
                description,
                score_gain: gain,
                new_score: ev.score_exact,
                new_expected_incident_rate: ev.lambda,
                money: None,
            })
        })
        .collect();
    scored.sort_by(|a, b| {
        b.score_gain
            .total_cmp(&a.score_gain)
            .then_with(|| a.description.cmp(&b.description))
    });
    scored.truncate(top);
    for (r, item) in scored.iter_mut().enumerate() {
        item.rank = r + 1;
        item.score_gain = round_to(item.score_gain, 4);
        item.new_score = round_to(item.new_score, 4);
        item.new_expected_incident_rate = round_to(item.new_expected_incident_rate, 8);
    }
    Plan {
        organization: bundle.profile().name.clone(),
        as_of,
        score: round_to(current.score_exact, 4),
        expected_incident_rate: round_to(current.lambda, 8),
        candidates_considered: considered,
        items: scored,
        money: None,
        model: ModelRef {
            id: model.id.clone(),
            version: model.version.clone(),
        },
    }
}

/// The bundle with an action carried out as of a date (the fix verified that day).
pub fn apply(bundle: &Bundle, action: &Action, as_of: NaiveDate) -> Bundle {
    let mut b = bundle.clone();
    let close = |f: &mut crate::finding::Finding| {
        f.state = FindingState::Closed;
        f.counts_as = None;
        if f.first_seen <= as_of {
            f.fixed_at = Some(as_of);
        }
    };
    match action {
        Action::CloseFinding { finding } => {
            if let Some(f) = b.findings_mut().iter_mut().find(|f| &f.id == finding) {
                close(f);
            }
        }
        Action::CloseKevFindingsOnAsset { asset, .. } => {
            for f in b
                .findings_mut()
                .iter_mut()
                .filter(|f| &f.asset == asset && f.kev)
            {
                if features::state_as_of(f, as_of).is_unresolved() {
                    close(f);
                }
            }
        }
        Action::RemoveFromInternet { asset } => {
            if let Some(a) = b.assets_mut().iter_mut().find(|a| &a.id == asset) {
                a.internet_facing = false;
            }
        }
        Action::PassControl { control } => {
            let required = features::required_mlps_level(bundle);
            let Some(ids) = FactorId::from_name(control).and_then(|id| id.spec().source.controls())
            else {
                return b;
            };
            let controls = b.controls_mut();
            controls.retain(|c| !ids.contains(&c.control));
            for &id in ids {
                controls.push(ControlResult {
                    control: id,
                    outcome: Outcome::Pass,
                    assessed_on: Some(as_of),
                    evidence: Some("what-if".to_owned()),
                    level: (id == ControlId::Mlps).then_some(required),
                    scope: None,
                    self_declared: false,
                });
            }
        }
    }
    b
}
