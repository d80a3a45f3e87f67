//! Recalibrating a rating model to observed incidents, structure kept.

use chrono::NaiveDate;
use cyrisk_core::model::RecalibrationRecord;
use cyrisk_core::{Bundle, ModelError, RatingModel, rate};
use rayon::prelude::*;

use crate::validation::{Observation, Recalibration, ValidationError, fit_recalibration};

/// Why a model could not be recalibrated.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum RecalibrationError {
    #[error(transparent)]
    Fit(#[from] ValidationError),
    #[error("the recalibrated model is not valid: {0}")]
    Model(#[from] ModelError),
}

/// `model` refitted to `observed` (each bundle with what happened to it; the observation's
/// own `predicted_rate` is ignored — the bundles are rated with `model` as of `as_of`).
///
/// Fits ln λ' = level + slope · ln λ by Poisson maximum likelihood (the slope only with
/// `fit_slope`) and builds the new model with [`RatingModel::recalibrated`]. Through the
/// model's structure the fit is not exact — the ceiling and floor and the history's
/// credibility weight are not linear in ln λ — so the bundles are re-rated with the new model
/// and its level corrected until the expected incidents match (at most three rounds). The
/// record keeps the level and slope the new model applies and its log-likelihood.
///
/// # Errors
/// No incidents (the level is not identifiable), no spread in ln λ when fitting a slope, or a
/// result the model's validation refuses.
pub fn recalibrate_on_bundles(
    model: &RatingModel,
    observed: &[(&Bundle, Observation)],
    as_of: NaiveDate,
    fit_slope: bool,
    version: &str,
    data: &str,
) -> Result<(RatingModel, Recalibration), RecalibrationError> {
    let with = |m: &RatingModel| -> Vec<Observation> {
        observed
            .par_iter()
            .map(|(b, o)| Observation {
                predicted_rate: rate(b, m, as_of).expected_incident_rate,
                contributions: Vec::new(),
                ..o.clone()
            })
            .collect()
    };
    let fit = fit_recalibration(&with(model), fit_slope)?;
    let mut record = RecalibrationRecord {
        parent: format!("{} {}", model.id, model.version),
        level: fit.level,
        slope: fit.slope,
        fitted_level: Some(fit.level),
        fitted_slope: Some(fit.slope),
        organizations: fit.organizations,
        incidents: fit.incidents,
        exposure_years: fit.exposure_years,
        log_likelihood_before: fit.log_likelihood_before,
        log_likelihood_after: fit.log_likelihood_after,
        data: data.to_owned(),
    };
    let mut new = model.recalibrated(record.level, record.slope, version, record.clone())?;
    for _ in 0..3 {
        let correction = fit_recalibration(&with(&new), false)?;
        record.log_likelihood_after = correction.log_likelihood_before;
        if correction.level.abs() < 1e-4 {
            break;
        }
        record.level += correction.level;
        record.log_likelihood_after = correction.log_likelihood_after;
        new = model.recalibrated(record.level, record.slope, version, record.clone())?;
    }
    new.recalibration = Some(record);
    Ok((new, fit))
}
