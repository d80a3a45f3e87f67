//! Ratings: the live rating (stored if the inputs are unchanged and it is from today, else
//! computed and stored) and the re-rating job that keeps stored ratings current when inputs or
//! feeds change.

use cyrisk_store::{Claim, RawRating};
use serde::Serialize;

use crate::error::{AppError, Result};
use crate::{App, today};

/// What a re-rating job did (stored as the job's result).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RerateOutcome {
    pub org_id: String,
    /// The stored rating that is current after the job (new, or the one already current).
    pub rating_id: String,
    pub score_before: Option<i64>,
    pub score: i64,
    pub grade: String,
    /// False when the latest stored rating was already from the same inputs, day, feeds and
    /// model: nothing new was stored.
    pub computed: bool,
    /// The alerts monitoring raised on this rating (ids).
    pub alerts: Vec<String>,
}

impl App {
    /// The current rating of an organisation: the stored one if the inputs are unchanged and
    /// it is from today, else computed (on the blocking pool) and stored. `NotFound` when
    /// there is no such organisation. (Authorisation is the caller's.)
    pub async fn live_rating(&self, org_id: &str) -> Result<RawRating> {
        // Hot path: one query, and the stored rating document passed through unparsed.
        let Some(cur) = self.store.current_rating_raw(org_id).await? else {
            return Err(AppError::NotFound {
                what: "organization",
            });
        };
        if let Some(latest) = cur.latest
            && latest.inputs_version == cur.inputs_version
            && latest.as_of == today().to_string()
        {
            if !cur.rerate_pending {
                return Ok(latest);
            }
            // A re-rating is queued (a feed changed under it): the stored rating still serves
            // if it already used the current feeds and model — else compute now rather than
            // serve, or price, the rating from before the feed.
            let feeds = self.current_feeds().await?;
            if self.is_current(&latest, &feeds.label) {
                return Ok(latest);
            }
        }
        Ok(self.compute_rating(org_id).await?.into())
    }

    /// Whether a stored rating used these feeds and this build's rating model.
    fn is_current(&self, r: &RawRating, feeds_label: &str) -> bool {
        let model = &self.models.rating;
        r.feeds.as_deref() == Some(feeds_label)
            && r.model_id == model.id
            && r.model_version == model.version
    }

    /// Computes an organisation's rating now from its stored inputs and the current feeds, and
    /// stores it.
    pub async fn compute_rating(&self, org_id: &str) -> Result<cyrisk_store::StoredRating> {
        let feeds = self.current_feeds().await?;
        let (rating, version) = self.rate_now(org_id, &feeds).await?;
        Ok(self
            .store
            .insert_rating(org_id, &rating, version, Some(&feeds.label))
            .await?)
    }

    /// The rating of the stored inputs as of today with `feeds`, with the inputs version it
    /// was computed from.
    async fn rate_now(
        &self,
        org_id: &str,
        feeds: &crate::feeds::Feeds,
    ) -> Result<(cyrisk_core::Rating, i64)> {
        let (_, rating, version) = self.rate_bundle(org_id, feeds).await?;
        Ok((rating, version))
    }

    /// What an organisation is rated on as of `today`, with the inputs version: its stored
    /// bundle, enriched with `feeds`, and its remediation record as a verified patch-cadence
    /// result (verified closures move the rating).
    pub(crate) async fn inputs(
        &self,
        org_id: &str,
        feeds: &crate::feeds::Feeds,
        today: chrono::NaiveDate,
    ) -> Result<(cyrisk_core::Bundle, i64)> {
        let (stored, version) = self.store.bundle_versioned(org_id).await?;
        let mut bundle = stored.validate().map_err(AppError::internal)?;
        feeds.apply(&mut bundle);
        if let Some(c) = self.record_control(org_id, today, &bundle).await? {
            bundle.push_control(c);
        }
        Ok((bundle, version))
    }

    /// [`App::rate_now`] with the enriched bundle the rating was computed from.
    pub(crate) async fn rate_bundle(
        &self,
        org_id: &str,
        feeds: &crate::feeds::Feeds,
    ) -> Result<(cyrisk_core::Bundle, cyrisk_core::Rating, i64)> {
        let today = today();
        let (bundle, version) = self.inputs(org_id, feeds, today).await?;
        let model = self.models.rating.clone();
        let (bundle, rating) = tokio::task::spawn_blocking(move || {
            let rating = cyrisk_core::rate(&bundle, &model, today);
            (bundle, rating)
        })
        .await?;
        metrics::counter!("cyrisk_ratings_computed_total").increment(1);
        Ok((bundle, rating, version))
    }

    /// The re-rating job: computes the organisation's rating and stores it, with the alerts
    /// monitoring raises on it (`crate::monitoring`), in the same transaction that marks the
    /// job done (fenced by its lease), so a job's rating and alerts are stored exactly once
    /// however often the job runs. Does nothing when the latest stored rating is already from
    /// the same inputs, day, feeds and model and every audience's monitoring has evaluated it.
    pub async fn rerate(&self, claim: &Claim) -> Result<RerateOutcome> {
        let org_id = claim
            .job
            .org_id
            .as_deref()
            .ok_or_else(|| AppError::Invalid("a rerate job names no organisation".into()))?;
        let Some(cur) = self.store.current_rating_raw(org_id).await? else {
            return Err(AppError::NotFound {
                what: "organization",
            });
        };
        let latest = cur.latest;
        let feeds = self.current_feeds().await?;
        let audiences = self.audiences(org_id).await?;
        let states = self.store.monitor_states(org_id).await?;
        let current = latest.as_ref().filter(|l| {
            l.inputs_version == cur.inputs_version
                && l.as_of == today().to_string()
                && self.is_current(l, &feeds.label)
        });
        if let Some(l) = current {
            let rating_of = |state: &str| {
                serde_json::from_str::<serde_json::Value>(state)
                    .ok()
                    .and_then(|v| v["rating_id"].as_str().map(str::to_owned))
            };
            let all_seen = audiences.iter().all(|a| {
                states.iter().any(|(aud, state, _)| {
                    *aud == a.audience && rating_of(state).as_deref() == Some(l.id.as_str())
                })
            });
            if all_seen {
                let outcome = RerateOutcome {
                    org_id: org_id.to_owned(),
                    rating_id: l.id.clone(),
                    score_before: Some(l.score),
                    score: l.score,
                    grade: l.grade.clone(),
                    computed: false,
                    alerts: Vec::new(),
                };
                self.store.finish_job(claim, &json(&outcome)?).await?;
                return Ok(outcome);
            }
        }
        // The rating is computed even when the stored one is current (the same inputs, day,
        // feeds and model give the same rating) for monitoring, which needs it with its bundle.
        let (bundle, rating, version) = self.rate_bundle(org_id, &feeds).await?;
        let current = current.filter(|l| l.inputs_version == version);
        // Everything but the writes happens before the write transaction (on SQLite it holds
        // the one write lock): the new rating's id, the evaluations, the tickets to close.
        let rating_id = current.map_or_else(|| uuid::Uuid::new_v4().to_string(), |l| l.id.clone());
        // Tickets the re-scan verifies: their finding retired, their control now passing.
        let retired: Vec<String> = bundle
            .findings()
            .iter()
            .filter(|f| cyrisk_core::finding::FindingState::RETIRED.contains(&f.state))
            .map(|f| f.id.clone())
            .collect();
        let passing: Vec<(String, chrono::NaiveDate)> = bundle
            .controls()
            .iter()
            .filter(|c| c.outcome == cyrisk_core::control::Outcome::Pass && !c.self_declared)
            .filter(|c| c.scope.as_deref() != Some("remediation tickets"))
            .filter_map(|c| {
                let id = serde_json::to_value(c.control).ok()?.as_str()?.to_owned();
                Some((id, c.assessed_on?))
            })
            .collect();
        // Another job of the same organisation may store its evaluation between our reading
        // the states and our writing (its version fence then refuses ours): read the states
        // again and evaluate afresh, a few times, before leaving it to the queue's retry.
        let mut states = states;
        let mut attempt = 0;
        loop {
            attempt += 1;
            let planned =
                self.plan_monitoring(org_id, &rating_id, &bundle, &rating, &audiences, &states)?;
            match self
                .write_rerate(
                    claim,
                    org_id,
                    &rating_id,
                    &rating,
                    version,
                    current,
                    &feeds.label,
                    planned,
                    &retired,
                    &passing,
                    latest.as_ref(),
                )
                .await
            {
                Err(Retry::Monitoring(e)) if attempt < 4 => {
                    tracing::debug!(org = org_id, error = %e, "monitoring raced another job; evaluating again");
                    states = self.store.monitor_states(org_id).await?;
                }
                Err(Retry::Monitoring(e) | Retry::Other(e)) => return Err(e),
                Ok(outcome) => return Ok(outcome),
            }
        }
    }

    /// The re-rating job's write transaction: the rating (unless the stored one is current),
    /// the monitoring, the tickets the re-scan verifies, and the job's completion.
    #[allow(clippy::too_many_arguments)]
    async fn write_rerate(
        &self,
        claim: &Claim,
        org_id: &str,
        rating_id: &str,
        rating: &cyrisk_core::Rating,
        version: i64,
        current: Option<&cyrisk_store::RawRating>,
        feeds_label: &str,
        planned: Vec<crate::monitoring::PlannedMonitoring>,
        retired: &[String],
        passing: &[(String, chrono::NaiveDate)],
        latest: Option<&cyrisk_store::RawRating>,
    ) -> std::result::Result<RerateOutcome, Retry> {
        let other = |e: AppError| Retry::Other(e);
        let mut tx = self.store.write_tx().await.map_err(|e| other(e.into()))?;
        // Inputs written since they were read here: another job (queued by that write) rates
        // them; this attempt must not store an older rating or evaluation after a newer one.
        if tx
            .inputs_version(org_id)
            .await
            .map_err(|e| other(e.into()))?
            != version
        {
            return Err(other(AppError::Conflict(format!(
                "the inputs of {org_id} changed while it was being re-rated: retried"
            ))));
        }
        let (score, grade, computed) = match current {
            Some(l) => (l.score, l.grade.clone(), false),
            None => {
                let s = tx
                    .insert_rating_as(
                        rating_id,
                        org_id,
                        rating,
                        version,
                        Some(feeds_label),
                        Some(&claim.job.id),
                    )
                    .await
                    .map_err(|e| other(e.into()))?;
                (s.score, s.grade, true)
            }
        };
        let alerts = match self.write_monitoring(&mut tx, org_id, planned).await {
            Ok(a) => a,
            Err(e @ AppError::Conflict(_)) => return Err(Retry::Monitoring(e)),
            Err(e) => return Err(other(e)),
        };
        tx.close_tickets_verified_by_scan(org_id, retired, passing)
            .await
            .map_err(|e| other(e.into()))?;
        let outcome = RerateOutcome {
            org_id: org_id.to_owned(),
            rating_id: rating_id.to_owned(),
            score_before: latest.map(|l| l.score),
            score,
            grade,
            computed,
            alerts: alerts.into_iter().map(|a| a.id).collect(),
        };
        tx.finish_job(claim, &json(&outcome).map_err(other)?)
            .await
            .map_err(|e| other(e.into()))?;
        tx.commit().await.map_err(|e| other(e.into()))?;
        Ok(outcome)
    }
}

/// Why the re-rating's write transaction did not commit: a monitoring state another job
/// stored meanwhile (evaluate again), or anything else.
enum Retry {
    Monitoring(AppError),
    Other(AppError),
}

fn json<T: Serialize>(v: &T) -> Result<serde_json::Value> {
    serde_json::to_value(v).map_err(AppError::internal)
}
