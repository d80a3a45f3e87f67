//! Who may do what, in one place: every use case names its [`Action`] and calls
//! [`authorize`] (or [`authorize_role`] for actions on no particular organisation) before it
//! reads or writes anything.
//!
//! Two checks, always in this order:
//! 1. **The role** (function level): may a key of this role ever take this action? If not,
//!    `Forbidden` — the answer does not depend on the organisation, so it reveals nothing
//!    about it.
//! 2. **The object** (OWASP API Security Top 10 2023, API1 "broken object level
//!    authorization"): may this key see this organisation? If not, `NotFound` — the caller
//!    may not learn that it exists.
//!
//! Writes that create-or-update by name never match an organisation the caller cannot see:
//! the store looks the name up only among those (`cyrisk_store::LoadTarget::ByName`). What the
//! rated party may change once authorised (the finding-state table, disputes, declarations)
//! is enforced by the store inside the write transaction (`cyrisk_store::integrity`).

use cyrisk_store::{Principal, Role};

use crate::App;
use crate::error::{AppError, Result};

/// Everything a caller can do to an organisation or the service.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Read an organisation's inputs, ratings, plan, quotes, policies, disputes.
    Read,
    /// Create an organisation, or update one it can see by name.
    CreateOrganization,
    /// Load a bundle into, upsert inputs of, or import a file into an organisation.
    WriteInputs,
    /// Change a finding's lifecycle state (which states, per role: the store's table).
    ChangeFindingState,
    /// Accept or reject a dispute the rated party filed.
    DecideDispute,
    /// Price a layer.
    Quote,
    /// Bind a policy.
    BindPolicy,
    /// Load a threat-intelligence feed snapshot (service-wide).
    LoadFeed,
    /// See and retry background jobs (service-wide).
    ManageJobs,
    /// List and acknowledge the alerts meant for the caller, see its alert rules.
    ReadAlerts,
    /// Replace an insurer's alert rules.
    ManageAlertRules,
    /// Register, list and disable webhooks for the caller's alerts, read their delivery log.
    ManageWebhooks,
    /// Open, move, comment on and verify remediation tickets (who may verify: the store).
    WorkTickets,
}

impl Action {
    /// Whether a key of `role` may ever take this action; the reason when not.
    pub fn allowed(self, role: Role) -> std::result::Result<(), &'static str> {
        use Role::{Admin, Assessor, Enterprise, Insurer};
        match (self, role) {
            (_, Admin) => Ok(()),
            (Self::Read | Self::WriteInputs | Self::ChangeFindingState, _) => Ok(()),
            (Self::CreateOrganization, Insurer) => Ok(()),
            (Self::CreateOrganization, Enterprise | Assessor) => Err(
                "only admin and insurer keys create organisations; use /organizations/{id}/bundle",
            ),
            (Self::DecideDispute, Insurer | Assessor) => Ok(()),
            (Self::DecideDispute, Enterprise) => Err(
                "the rated party does not decide its own disputes: an assessor, the insurer or an admin does",
            ),
            (Self::Quote, Insurer) => Ok(()),
            (Self::Quote, Enterprise | Assessor) => {
                Err("only admin and insurer keys request quotes")
            }
            (Self::BindPolicy, Insurer) => Ok(()),
            (Self::BindPolicy, Enterprise | Assessor) => {
                Err("only admin and insurer keys bind policies")
            }
            (Self::LoadFeed, _) => Err("only admin keys load threat-intelligence feeds"),
            (Self::ManageJobs, _) => Err("only admin keys see and retry background jobs"),
            (Self::ReadAlerts | Self::WorkTickets, _) => Ok(()),
            (Self::ManageAlertRules, Insurer) => Ok(()),
            (Self::ManageAlertRules, Enterprise | Assessor) => {
                Err("only insurer keys set alert rules")
            }
            (Self::ManageWebhooks, Insurer | Enterprise) => Ok(()),
            (Self::ManageWebhooks, Assessor) => Err(
                "webhooks receive an insurer's or the insured's alerts: an assessor key registers none",
            ),
        }
    }
}

/// The role check alone, for actions on no particular organisation (`Forbidden` when
/// refused).
pub fn authorize_role(p: &Principal, action: Action) -> Result<()> {
    action.allowed(p.role).map_err(AppError::forbidden)
}

impl App {
    /// The role check, then the object check: `Forbidden` if the role may never take
    /// `action`, `NotFound` if the caller may not see `org_id`.
    pub async fn authorize(&self, p: &Principal, org_id: &str, action: Action) -> Result<()> {
        authorize_role(p, action)?;
        if self.store.can_see(p, org_id).await? {
            Ok(())
        } else {
            Err(AppError::NotFound {
                what: "organization",
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The role table as README documents it; a change here is a change of policy.
    #[test]
    fn role_table() {
        use Action::*;
        let rows = [
            (Read, [true, true, true, true]),
            (CreateOrganization, [true, true, false, false]),
            (WriteInputs, [true, true, true, true]),
            (ChangeFindingState, [true, true, true, true]),
            (DecideDispute, [true, true, false, true]),
            (Quote, [true, true, false, false]),
            (BindPolicy, [true, true, false, false]),
            (LoadFeed, [true, false, false, false]),
            (ManageJobs, [true, false, false, false]),
            (ReadAlerts, [true, true, true, true]),
            (ManageAlertRules, [true, true, false, false]),
            (ManageWebhooks, [true, true, true, false]),
            (WorkTickets, [true, true, true, true]),
        ];
        for (action, allowed) in rows {
            for (role, want) in Role::ALL.into_iter().zip(allowed) {
                assert_eq!(action.allowed(role).is_ok(), want, "{action:?} as {role:?}");
            }
        }
    }
}
