//! Policies: an insurer binds a layer on an organisation for a period. Binding links the
//! insurer to the organisation.

use chrono::NaiveDate;
use cyrisk_store::{NewPolicy, Policy, Principal, Role};

use crate::App;
use crate::access::{Action, authorize_role};
use crate::error::{AppError, Result};

/// A policy to bind.
#[derive(Debug, Clone, PartialEq)]
pub struct BindRequest {
    pub organization_id: String,
    /// The insurer key the policy belongs to: required for admin keys; an insurer key may
    /// only name itself (the default).
    pub insurer_key_id: Option<String>,
    /// The quote the policy was bound from.
    pub quote_id: Option<String>,
    pub starts_on: NaiveDate,
    pub ends_on: NaiveDate,
    /// ISO 4217 code [default: the organisation's currency].
    pub currency: Option<String>,
    pub deductible: f64,
    pub limit: f64,
    /// Annual premium.
    pub premium: f64,
}

impl App {
    /// Binds a policy for `p`: the role check, whose insurer it is, the object check, then
    /// the write. `Forbidden` when an insurer binds for another insurer.
    pub async fn bind_policy(&self, p: &Principal, req: BindRequest) -> Result<Policy> {
        authorize_role(p, Action::BindPolicy)?;
        let insurer = match (p.role, req.insurer_key_id) {
            (Role::Insurer, None) => p.key_id.clone(),
            (Role::Insurer, Some(k)) if k == p.key_id => k,
            (Role::Insurer, Some(_)) => {
                return Err(AppError::forbidden(
                    "an insurer key binds policies only for itself",
                ));
            }
            (_, Some(k)) => k,
            (_, None) => {
                return Err(AppError::Invalid(
                    "insurer_key_id: required when an admin key binds a policy".into(),
                ));
            }
        };
        self.authorize(p, &req.organization_id, Action::BindPolicy)
            .await?;
        let currency = match req.currency {
            Some(c) => c,
            None => self
                .store
                .bundle(&req.organization_id)
                .await?
                .profile
                .currency
                .as_str()
                .to_owned(),
        };
        Ok(self
            .store
            .create_policy(
                &NewPolicy {
                    org_id: req.organization_id,
                    insurer_key_id: insurer,
                    quote_id: req.quote_id,
                    starts_on: req.starts_on,
                    ends_on: req.ends_on,
                    currency,
                    deductible: req.deductible,
                    limit: req.limit,
                    premium: req.premium,
                },
                Some(&p.key_id),
            )
            .await?)
    }

    /// An organisation's policies as `p` may see them: an insurer only its own.
    pub async fn policies(&self, p: &Principal, org_id: &str) -> Result<Vec<Policy>> {
        self.authorize(p, org_id, Action::Read).await?;
        Ok(self
            .store
            .policies(org_id)
            .await?
            .into_iter()
            .filter(|x| p.role != Role::Insurer || x.insurer_key_id == p.key_id)
            .collect())
    }
}
