//! The remediation plan of a stored organisation: candidate fixes with their score gain and,
//! priced for a layer, the expected annual loss and premium each removes.

use cyrisk_core::Plan;
use cyrisk_sim::money_plan::{PlanLayer, RankBy, money_plan};
use cyrisk_sim::terms::Layer;

use crate::error::{AppError, Result};
use crate::{App, today};

/// What to plan.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PlanRequest {
    /// How many fixes (1–1000).
    pub top: usize,
    pub by: RankBy,
    /// Price each fix (expected annual loss and premium removed).
    pub money: bool,
    /// The layer's per-occurrence deductible (needs `limit`).
    pub deductible: Option<f64>,
    /// The layer's per-occurrence limit [default: the standard primary layer for the
    /// organisation's size band].
    pub limit: Option<f64>,
}

impl PlanRequest {
    /// The rules across the fields: `Invalid` naming the rule that is broken.
    pub fn check(&self) -> Result<Option<Layer>> {
        if !(1..=1000).contains(&self.top) {
            return Err(AppError::Invalid(format!(
                "top must be 1 to 1000, got {}",
                self.top
            )));
        }
        if !self.money
            && (self.by == RankBy::Loss || self.limit.is_some() || self.deductible.is_some())
        {
            return Err(AppError::Invalid(
                "by=loss, limit and deductible need money=true".into(),
            ));
        }
        if self.deductible.is_some() && self.limit.is_none() {
            return Err(AppError::Invalid("deductible needs limit".into()));
        }
        self.limit
            .map(|limit| {
                Layer::new(
                    self.deductible.unwrap_or(0.0),
                    Some(limit),
                    None,
                    Default::default(),
                )
                .map_err(|e| AppError::Invalid(e.to_string()))
            })
            .transpose()
    }
}

impl App {
    /// The plan for an organisation's stored inputs with the current feeds, as of today.
    /// `Invalid` for a request that breaks a rule, or an organisation whose currency has no
    /// exchange rate in the severity model (its data, not a fault).
    pub async fn plan(&self, org_id: &str, req: PlanRequest) -> Result<Plan> {
        let requested = req.check()?;
        let today = today();
        let feeds = self.current_feeds().await?;
        let (bundle, _) = self.inputs(org_id, &feeds, today).await?;
        let model = self.models.rating.clone();
        let (severity, pricing) = (self.models.severity.clone(), self.models.pricing.clone());
        tokio::task::spawn_blocking(move || {
            if !req.money {
                return Ok(cyrisk_core::plan(&bundle, &model, today, req.top));
            }
            let layer = requested.map(|layer| PlanLayer {
                layer,
                source: "requested".to_owned(),
            });
            money_plan(
                &bundle, &model, today, &severity, &pricing, layer, req.by, req.top, 1,
            )
        })
        .await?
        .map_err(|e| AppError::Invalid(e.to_string()))
    }
}
