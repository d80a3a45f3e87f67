//! Rating integrity: who may change which input of a rating.
//!
//! The rated party (an enterprise key) must not be able to improve its own rating by
//! assertion — the moral hazard an insurer cannot price. The rules follow how rating
//! providers and insurers handle an insured's objections: a claim with evidence, reviewed by
//! someone other than the rated party.
//!
//! - **Finding states** ([`ruling`]): the enterprise may acknowledge a finding (`verified`),
//!   request remediation, reopen it, and declare a fix (`fixed_pending_verification`, which
//!   keeps counting as the state it left — [`Finding::counts_as`] — until a verifying re-scan
//!   or a third party confirms it). `closed` comes only from a verifying re-scan (an import by
//!   an assessor, the insurer or an admin) or from their attestation. `false_positive`,
//!   `risk_accepted` and `unfixed_mitigated` proposed by the enterprise are **disputes**:
//!   stored with reason and evidence, without effect until an assessor, the insurer or an
//!   admin accepts them.
//! - **Provenance** ([`apply`]): every stored asset, finding, control result and incident
//!   records the role that recorded it. What a third party recorded, the rated party cannot
//!   rewrite or remove (it can change a finding's state by the table above, and dispute);
//!   control results and incidents the rated party records are marked `self_declared`, and
//!   the rating weighs them as such.
//!
//! Everything here is pure: the store calls it inside the write transaction, with what is
//! stored, before anything is written.

use std::collections::HashMap;

use cyrisk_core::asset::Asset;
use cyrisk_core::control::ControlResult;
use cyrisk_core::finding::{Finding, FindingState};
use cyrisk_core::incident::Incident;

use crate::inputs::InputsBatch;
use crate::{Role, StoreError};

/// What happens when a key of some role asks to move a finding to a state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ruling {
    /// The change applies; the rating counts the finding as `counts_as` (`None`: as its
    /// new state).
    Apply { counts_as: Option<FindingState> },
    /// The rated party's proposal: stored as a dispute, no effect until reviewed.
    Dispute,
    /// Never, for this role; `code` is the problem code, `reason` says what to do instead.
    Refuse {
        code: &'static str,
        reason: &'static str,
    },
}

/// States that, set by hand, are an attestation by the one who sets them: a reason is
/// required.
pub fn is_attestation(state: FindingState) -> bool {
    matches!(
        state,
        FindingState::Closed
            | FindingState::FalsePositive
            | FindingState::RiskAccepted
            | FindingState::UnfixedMitigated
    )
}

/// The state × role table. `current` is the stored (state, counts_as), `None` for a finding
/// not stored yet.
pub fn ruling(
    role: Role,
    current: Option<(FindingState, Option<FindingState>)>,
    to: FindingState,
) -> Ruling {
    use FindingState::*;
    if let Some((state, counts_as)) = current
        && state == to
    {
        return Ruling::Apply { counts_as };
    }
    if !role.is_rated_party() {
        return Ruling::Apply { counts_as: None };
    }
    match to {
        Open | Verified | RemediationRequested => Ruling::Apply { counts_as: None },
        FixedPendingVerification => {
            // A declared fix counts as whatever the finding counted as before.
            let before = current.map_or(Open, |(s, c)| c.unwrap_or(s));
            Ruling::Apply {
                counts_as: (before != to).then_some(before),
            }
        }
        Closed => Ruling::Refuse {
            code: "verification_required",
            reason: "the rated party cannot close a finding: declare the fix \
                     (fixed_pending_verification); it is closed by a verifying re-scan imported \
                     by an assessor, the insurer or an admin, or by their attestation",
        },
        FalsePositive | RiskAccepted | UnfixedMitigated => Ruling::Dispute,
    }
}

/// Who recorded an item: the role's name (`None` for rows stored before provenance was kept,
/// which count as recorded by a third party).
pub(crate) type RecordedBy = Option<String>;

fn by_rated_party(by: &RecordedBy) -> bool {
    by.as_deref() == Some(Role::Enterprise.as_str())
}

fn recorder(by: &RecordedBy) -> &str {
    by.as_deref().unwrap_or("the operator")
}

/// What is stored for an organisation, with who recorded each item.
#[derive(Debug, Default)]
pub(crate) struct Stored {
    pub assets: HashMap<String, (Asset, RecordedBy)>,
    /// Findings by id: (state, counts_as, recorded_by, the finding when the writer is the
    /// rated party — others need only the lifecycle).
    pub findings: HashMap<String, StoredFinding>,
    /// In stored order.
    pub controls: Vec<(ControlResult, RecordedBy)>,
    pub incidents: HashMap<String, (Option<Incident>, RecordedBy)>,
}

#[derive(Debug)]
pub(crate) struct StoredFinding {
    pub state: FindingState,
    pub counts_as: Option<FindingState>,
    pub recorded_by: RecordedBy,
    pub finding: Option<Finding>,
}

/// How a batch's control results combine with the stored ones.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ControlsMode {
    /// A result replaces the stored one with the same control and scope; others stay.
    Merge,
    /// The batch's results are the organisation's results (a whole bundle).
    Replace,
}

/// Who recorded each item the batch writes, aligned with the batch's items, and the control
/// results to store (in order) when they change.
#[derive(Debug, Default)]
pub(crate) struct Provenance {
    pub assets: Vec<String>,
    pub findings: Vec<String>,
    pub incidents: Vec<String>,
    pub controls: Option<Vec<(ControlResult, String)>>,
}

fn refuse(code: &'static str, message: String) -> StoreError {
    StoreError::Forbidden { code, message }
}

/// A finding with its lifecycle state cleared: what "the same finding" means when only its
/// state may change (its fix date is data: the rated party does not set it on a third
/// party's finding).
fn data_of(f: &Finding) -> Finding {
    let mut d = f.clone();
    d.state = FindingState::Open;
    d.counts_as = None;
    d
}

/// Applies the rules to a batch `role` writes, against what is `stored`: sets each finding's
/// `counts_as`, marks the rated party's control results and incidents `self_declared`, and
/// refuses (nothing written) what the role may not do, naming the item as `assets[i]`,
/// `findings[i]`, `controls[i]` or `incidents[i]` of the batch.
pub(crate) fn apply(
    role: Role,
    stored: &Stored,
    batch: &mut InputsBatch,
    controls: ControlsMode,
) -> Result<Provenance, StoreError> {
    let rated = role.is_rated_party();
    let me = role.as_str().to_owned();
    let mut out = Provenance::default();

    for (i, a) in batch.assets.iter_mut().enumerate() {
        out.assets.push(match stored.assets.get(&a.id) {
            Some((s, by)) if rated && !by_rated_party(by) => {
                if s != a {
                    return Err(refuse(
                        "recorded_by_third_party",
                        format!(
                            "assets[{i}]: asset {:?} was recorded by {}; the rated party cannot change it",
                            a.id,
                            recorder(by)
                        ),
                    ));
                }
                by.clone().unwrap_or_default()
            }
            Some((s, _)) if rated => {
                // Its own asset: it may add to what is known, not take away.
                a.self_declared = true;
                if let Some(field) = lowers_exposure(s, a) {
                    return Err(refuse(
                        "lowers_own_record",
                        format!(
                            "assets[{i}].{field}: the rated party may add to what is known about its asset {:?}, not take away from it",
                            a.id
                        ),
                    ));
                }
                me.clone()
            }
            _ => {
                if rated {
                    a.self_declared = true;
                }
                me.clone()
            }
        });
    }

    for (i, f) in batch.findings.iter_mut().enumerate() {
        let existing = stored.findings.get(&f.id);
        let mut recorded_by = me.clone();
        // Once recorded, a finding's data is fixed for the rated party — a third party's and
        // its own alike (else it could report a finding, then tone it down or date it away):
        // it changes only the state, by the table.
        if rated && let Some(s) = existing {
            // A reopened finding (unresolved, no fix date) may drop the fix date it had.
            let same = s.finding.as_ref().is_some_and(|g| {
                let mut g = g.clone();
                if f.state.is_unresolved() && f.fixed_at.is_none() {
                    g.fixed_at = None;
                }
                data_of(&g) == data_of(f)
            });
            if !same {
                let (code, who) = if by_rated_party(&s.recorded_by) {
                    ("lowers_own_record", "the rated party itself")
                } else {
                    ("recorded_by_third_party", recorder(&s.recorded_by))
                };
                return Err(refuse(
                    code,
                    format!(
                        "findings[{i}]: finding {:?} was recorded by {who}; the rated party may change only its state",
                        f.id
                    ),
                ));
            }
            recorded_by = s.recorded_by.clone().unwrap_or_default();
        }
        match ruling(role, existing.map(|s| (s.state, s.counts_as)), f.state) {
            Ruling::Apply { counts_as } => f.counts_as = counts_as,
            Ruling::Dispute => {
                return Err(refuse(
                    "dispute_required",
                    format!(
                        "findings[{i}].state: {} proposed by the rated party is a dispute: PATCH the finding with a reason and evidence, and an assessor, the insurer or an admin reviews it",
                        f.state.as_str()
                    ),
                ));
            }
            Ruling::Refuse { code, reason } => {
                return Err(refuse(code, format!("findings[{i}].state: {reason}")));
            }
        }
        out.findings.push(recorded_by);
    }

    for (i, inc) in batch.incidents.iter_mut().enumerate() {
        out.incidents.push(match stored.incidents.get(&inc.id) {
            Some((s, by)) if rated && !by_rated_party(by) => {
                let Some(s) = s.as_ref().filter(|s| {
                    let mut mine = inc.clone();
                    mine.self_declared = s.self_declared;
                    **s == mine
                }) else {
                    return Err(refuse(
                        "recorded_by_third_party",
                        format!(
                            "incidents[{i}]: incident {:?} was recorded by {}; the rated party cannot change it",
                            inc.id,
                            recorder(by)
                        ),
                    ));
                };
                *inc = s.clone();
                by.clone().unwrap_or_default()
            }
            Some((s, _)) if rated => {
                // Its own incident: what it reported stands (else it could report an incident,
                // then tone it down or move it out of the window).
                let mut mine = inc.clone();
                mine.self_declared = true;
                if s.as_ref() != Some(&mine) {
                    return Err(refuse(
                        "lowers_own_record",
                        format!(
                            "incidents[{i}]: incident {:?} was recorded by the rated party itself; it stands as recorded",
                            inc.id
                        ),
                    ));
                }
                *inc = mine;
                me.clone()
            }
            _ => {
                if rated {
                    inc.self_declared = true;
                }
                me.clone()
            }
        });
    }

    if controls == ControlsMode::Merge && batch.controls.is_empty() {
        return Ok(out);
    }
    let key = |c: &ControlResult| (c.control, c.scope.clone());
    let mut result: Vec<(ControlResult, String)> = match controls {
        ControlsMode::Merge => stored
            .controls
            .iter()
            .map(|(c, by)| (c.clone(), by.clone().unwrap_or_default()))
            .collect(),
        ControlsMode::Replace => Vec::new(),
    };
    // In a whole bundle from the rated party, each of a third party's stored results may be
    // given back once (as stored); a repeat counts as the rated party's own statement.
    let mut unclaimed: Vec<bool> = vec![true; stored.controls.len()];
    // A third party's stored results by content (ignoring the self-declared mark), so that
    // matching a whole bundle's results is linear.
    let content = |c: &ControlResult| {
        let mut c = c.clone();
        c.self_declared = false;
        serde_json::to_string(&c).unwrap_or_default()
    };
    let mut by_content: HashMap<String, std::collections::VecDeque<usize>> = HashMap::new();
    if rated && controls == ControlsMode::Replace {
        for (j, (s, by)) in stored.controls.iter().enumerate() {
            if !by_rated_party(by) {
                by_content.entry(content(s)).or_default().push_back(j);
            }
        }
    }
    for (i, c) in batch.controls.iter_mut().enumerate() {
        let before = if rated && controls == ControlsMode::Replace {
            let found = by_content.get_mut(&content(c)).and_then(|q| q.pop_front());
            found.map(|j| {
                unclaimed[j] = false;
                &stored.controls[j]
            })
        } else {
            stored.controls.iter().find(|(s, _)| key(s) == key(c))
        };
        let entry = match before {
            Some((s, by)) if rated && !by_rated_party(by) => {
                let mut mine = c.clone();
                mine.self_declared = s.self_declared;
                if *s != mine {
                    return Err(refuse(
                        "recorded_by_third_party",
                        format!(
                            "controls[{i}]: the {} result{} was recorded by {}; the rated party cannot replace it",
                            c.control.as_str(),
                            c.scope
                                .as_deref()
                                .map(|s| format!(" for {s:?}"))
                                .unwrap_or_default(),
                            recorder(by)
                        ),
                    ));
                }
                *c = s.clone();
                (s.clone(), by.clone().unwrap_or_default())
            }
            _ => {
                if rated {
                    c.self_declared = true;
                }
                (c.clone(), me.clone())
            }
        };
        // Merging replaces the stored result of the same control and scope; a whole bundle's
        // results are kept as given.
        match result.iter_mut().find(|(r, _)| key(r) == key(c)) {
            Some(slot) if controls == ControlsMode::Merge => *slot = entry,
            _ => result.push(entry),
        }
    }
    if rated && controls == ControlsMode::Replace {
        for ((s, by), open) in stored.controls.iter().zip(&unclaimed) {
            if !by_rated_party(by) && *open {
                return Err(refuse(
                    "recorded_by_third_party",
                    format!(
                        "controls: the bundle drops the {} result{} recorded by {}; the rated party cannot remove it",
                        s.control.as_str(),
                        s.scope
                            .as_deref()
                            .map(|x| format!(" for {x:?}"))
                            .unwrap_or_default(),
                        recorder(by)
                    ),
                ));
            }
        }
    }
    out.controls = Some(result);
    Ok(out)
}

/// The first risk-bearing field of its own asset that the rated party's new version lowers
/// (exposure, criticality, services and what answers on them, end of life, KEV product,
/// inventory, staleness and the dates it is judged on, identity of the product, data held),
/// if any. Linear in the number of services.
fn lowers_exposure(old: &Asset, new: &Asset) -> Option<&'static str> {
    let ports: std::collections::HashMap<(u16, u8), Option<&str>> = new
        .services
        .iter()
        .map(|s| ((s.port, s.protocol as u8), s.name.as_deref()))
        .collect();
    let dropped_service = old.services.iter().any(|s| {
        match ports.get(&(s.port, s.protocol as u8)) {
            None => true,
            // A service's name decides its risk class (remote access, database, …).
            Some(name) => s.name.is_some() && *name != s.name.as_deref(),
        }
    });
    let changed = |a: &Option<String>, b: &Option<String>| a.is_some() && a != b;
    let data_classes: std::collections::HashSet<_> = new.data_classes.iter().collect();
    [
        (old.kind != new.kind, "kind"),
        (
            old.internet_facing && !new.internet_facing,
            "internet_facing",
        ),
        (new.criticality < old.criticality, "criticality"),
        (dropped_service, "services"),
        (old.end_of_life && !new.end_of_life, "end_of_life"),
        (old.kev_product && !new.kev_product, "kev_product"),
        (!old.declared && new.declared, "declared"),
        (old.stale && !new.stale, "stale"),
        (old.first_seen != new.first_seen, "first_seen"),
        (old.last_seen != new.last_seen, "last_seen"),
        (changed(&old.vendor, &new.vendor), "vendor"),
        (changed(&old.product, &new.product), "product"),
        (changed(&old.version, &new.version), "version"),
        (changed(&old.cpe, &new.cpe), "cpe"),
        (
            old.data_classes.iter().any(|d| !data_classes.contains(d)),
            "data_classes",
        ),
    ]
    .into_iter()
    .find_map(|(lowered, field)| lowered.then_some(field))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every role × every target state, from an open finding: the table README publishes.
    #[test]
    fn state_by_role_table() {
        use FindingState::*;
        let apply = |c: Option<FindingState>| Ruling::Apply { counts_as: c };
        for to in FindingState::ALL {
            for role in Role::ALL {
                let got = ruling(role, Some((Open, None)), to);
                let want = match (role, to) {
                    (Role::Enterprise, FixedPendingVerification) => apply(Some(Open)),
                    (Role::Enterprise, Closed) => Ruling::Refuse {
                        code: "verification_required",
                        reason: "",
                    },
                    (Role::Enterprise, FalsePositive | RiskAccepted | UnfixedMitigated) => {
                        Ruling::Dispute
                    }
                    _ => apply(None),
                };
                match (got, want) {
                    (Ruling::Refuse { code: a, .. }, Ruling::Refuse { code: b, .. }) => {
                        assert_eq!(a, b, "{role:?} → {to:?}")
                    }
                    (g, w) => assert_eq!(g, w, "{role:?} → {to:?}"),
                }
            }
        }
    }

    #[test]
    fn a_declared_fix_keeps_counting_as_what_it_left() {
        use FindingState::*;
        let e = Role::Enterprise;
        assert_eq!(
            ruling(e, Some((UnfixedMitigated, None)), FixedPendingVerification),
            Ruling::Apply {
                counts_as: Some(UnfixedMitigated)
            }
        );
        // Declared twice: still the original.
        assert_eq!(
            ruling(
                e,
                Some((FixedPendingVerification, Some(Verified))),
                FixedPendingVerification
            ),
            Ruling::Apply {
                counts_as: Some(Verified)
            }
        );
        // A fix a scanner saw (pending, counted as pending) declared again changes nothing.
        assert_eq!(
            ruling(e, Some((Closed, None)), FixedPendingVerification),
            Ruling::Apply {
                counts_as: Some(Closed)
            }
        );
        // A new finding reported as fixed counts as open.
        assert_eq!(
            ruling(e, None, FixedPendingVerification),
            Ruling::Apply {
                counts_as: Some(Open)
            }
        );
        // A reviewer's change always counts as what it says.
        assert_eq!(
            ruling(
                Role::Assessor,
                Some((FixedPendingVerification, Some(Open))),
                Closed
            ),
            Ruling::Apply { counts_as: None }
        );
    }
}
