//! Mid-policy monitoring: after each re-rating, the alert rules of every audience watching
//! the organisation — each insurer with a policy in force on it (its own rules, else the
//! defaults) and the organisation itself (`insured`, the defaults) — are evaluated
//! (`cyrisk_core::monitoring`) before the re-rating job's write transaction, against the states
//! read before it; the transaction then stores each state fenced by the version read, the
//! alerts (each once: a unique dedupe key) and their webhook deliveries, with the rating and
//! the job's completion. A concurrent evaluation makes the fence fail and the job retry.
//! Alerts are listed and acknowledged by those they are for.

use std::sync::Arc;

use cyrisk_core::monitoring::{AlertRules, MonitorState, Observation, evaluate};
use cyrisk_core::underwriting::UnderwritingRules;
use cyrisk_core::{Bundle, Rating};
use cyrisk_store::monitoring::INSURED;
use cyrisk_store::{Alert, AlertFilter, NewAlert, Principal, Role, WriteTx};

use crate::access::{Action, authorize_role};
use crate::error::{AppError, Result};
use crate::{App, today};

/// The rules one audience is monitored with.
#[derive(Debug, Clone)]
pub(crate) struct AudienceRules {
    pub audience: String,
    pub alerts: Arc<AlertRules>,
    pub underwriting: Arc<UnderwritingRules>,
}

/// What monitoring will store for one audience.
#[derive(Debug, Clone)]
pub(crate) struct PlannedMonitoring {
    pub audience: String,
    pub state: String,
    pub read_version: Option<i64>,
    pub alerts: Vec<NewAlert>,
}

/// The metric label of an alert kind (a fixed set).
fn kind_label(kind: &str) -> &'static str {
    cyrisk_core::monitoring::AlertKind::parse(kind).map_or("other", |k| k.as_str())
}

/// Parsed rule sets by their TOML text (insurers' own rules are read with every evaluation;
/// parsing them each time would cost more than the query).
#[derive(Debug)]
pub(crate) struct RuleCache {
    alerts: std::sync::Mutex<lru::LruCache<String, Arc<AlertRules>>>,
    underwriting: std::sync::Mutex<lru::LruCache<String, Arc<UnderwritingRules>>>,
}

/// Rule sets kept parsed.
const RULE_CACHE: std::num::NonZeroUsize = match std::num::NonZeroUsize::new(64) {
    Some(n) => n,
    None => unreachable!(),
};

impl RuleCache {
    pub(crate) fn new() -> Self {
        Self {
            alerts: std::sync::Mutex::new(lru::LruCache::new(RULE_CACHE)),
            underwriting: std::sync::Mutex::new(lru::LruCache::new(RULE_CACHE)),
        }
    }

    pub(crate) fn alerts(&self, text: &str) -> std::result::Result<Arc<AlertRules>, String> {
        let mut c = self
            .alerts
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(r) = c.get(text) {
            return Ok(r.clone());
        }
        let r = Arc::new(AlertRules::from_toml(text).map_err(|e| e.to_string())?);
        c.put(text.to_owned(), r.clone());
        Ok(r)
    }

    pub(crate) fn underwriting(
        &self,
        text: &str,
    ) -> std::result::Result<Arc<UnderwritingRules>, String> {
        let mut c = self
            .underwriting
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(r) = c.get(text) {
            return Ok(r.clone());
        }
        let r = Arc::new(UnderwritingRules::from_toml(text).map_err(|e| e.0.clone())?);
        c.put(text.to_owned(), r.clone());
        Ok(r)
    }
}

/// The built-in alert rules' TOML (`models/alerts-v1.toml`).
pub const BUILTIN_ALERT_RULES: &str = include_str!("../../../models/alerts-v1.toml");

impl App {
    /// Who watches `org_id` today, with their rules: the organisation itself first, then each
    /// insurer with a policy in force or bound to start (its own rules, else the defaults).
    /// One query; parsed rule sets are cached by their text.
    pub(crate) async fn audiences(&self, org_id: &str) -> Result<Vec<AudienceRules>> {
        let mut out = vec![AudienceRules {
            audience: INSURED.to_owned(),
            alerts: self.models.alerts.clone(),
            underwriting: self.models.underwriting.clone(),
        }];
        for (key, alert_text, uw_text) in self.store.monitoring_rules(org_id, today()).await? {
            let alerts = match alert_text {
                Some(t) => self
                    .rules
                    .alerts(&t)
                    .map_err(|e| AppError::internal(format!("stored alert rules of {key}: {e}")))?,
                None => self.models.alerts.clone(),
            };
            let underwriting = match uw_text {
                Some(t) => self.rules.underwriting(&t).map_err(|e| {
                    AppError::internal(format!("stored underwriting rules of {key}: {e}"))
                })?,
                None => self.models.underwriting.clone(),
            };
            out.push(AudienceRules {
                audience: key,
                alerts,
                underwriting,
            });
        }
        Ok(out)
    }

    /// An insurer key's underwriting rules: its own, else the defaults.
    pub(crate) async fn underwriting_rules_of(
        &self,
        key_id: &str,
    ) -> Result<Arc<UnderwritingRules>> {
        match self.store.underwriting_rules(key_id).await? {
            Some(text) => self.rules.underwriting(&text).map_err(|e| {
                AppError::internal(format!("stored underwriting rules of {key_id}: {e}"))
            }),
            None => Ok(self.models.underwriting.clone()),
        }
    }

    /// Evaluates every audience's rules on a rating and the bundle it came from, against the
    /// states read before (`states`: audience, state JSON, version): what to store and raise.
    /// CPU only; [`App::write_monitoring`] stores it.
    pub(crate) fn plan_monitoring(
        &self,
        org_id: &str,
        rating_id: &str,
        bundle: &Bundle,
        rating: &Rating,
        audiences: &[AudienceRules],
        states: &[(String, String, i64)],
    ) -> Result<Vec<PlannedMonitoring>> {
        let as_of = rating.as_of;
        let mut out = Vec::with_capacity(audiences.len());
        for a in audiences {
            let previous = states.iter().find(|(aud, _, _)| *aud == a.audience);
            let prev_state: Option<MonitorState> = previous
                .map(|(_, s, _)| serde_json::from_str(s))
                .transpose()
                .map_err(|e| AppError::internal(format!("stored monitor state: {e}")))?;
            let uw = (a.alerts.underwriting_rule_failing.is_some()).then(|| {
                cyrisk_core::underwriting::evaluate(&a.underwriting, bundle, rating, as_of)
            });
            let obs = Observation {
                rating_id,
                score: rating.score,
                grade: &rating.grade,
                bundle,
                model: &self.models.rating,
                latest_scan: rating.inputs.latest_scan,
                underwriting: uw.as_ref(),
                as_of,
            };
            let eval = evaluate(&a.alerts, prev_state.as_ref(), &obs);
            out.push(PlannedMonitoring {
                audience: a.audience.clone(),
                state: serde_json::to_string(&eval.state).map_err(AppError::internal)?,
                read_version: previous.map(|(_, _, v)| *v),
                alerts: eval
                    .alerts
                    .into_iter()
                    .map(|d| NewAlert {
                        org_id: org_id.to_owned(),
                        audience: a.audience.clone(),
                        kind: d.kind.as_str().to_owned(),
                        severity: d.severity.as_str().to_owned(),
                        dedupe_key: d.dedupe_key,
                        title: d.title,
                        detail: d.detail,
                        rating_id: Some(rating_id.to_owned()),
                    })
                    .collect(),
            });
        }
        Ok(out)
    }

    /// Stores planned monitoring in `tx`: each audience's new state, fenced by the version
    /// read (a concurrent evaluation makes this `Conflict`, and the job retries, so no alert is
    /// raised twice), and the alerts with their webhook deliveries. Returns the alerts raised.
    pub(crate) async fn write_monitoring(
        &self,
        tx: &mut WriteTx,
        org_id: &str,
        planned: Vec<PlannedMonitoring>,
    ) -> Result<Vec<Alert>> {
        let mut alerts = Vec::new();
        for p in planned {
            tx.put_monitor_state(org_id, &p.audience, &p.state, p.read_version)
                .await?;
            alerts.extend(p.alerts);
        }
        let raised = tx.insert_alerts(&alerts).await?;
        for (a, _) in &raised {
            metrics::counter!("cyrisk_alerts_raised_total", "kind" => kind_label(&a.kind))
                .increment(1);
        }
        Ok(raised.into_iter().map(|(a, _)| a).collect())
    }

    /// Starts `audience`'s monitoring of `org_id` from the stored rating `rating_id` (the
    /// rating at a policy's inception) unless it is monitored already: the state holds what is
    /// known now, so only what changes afterwards raises an alert.
    pub(crate) async fn start_monitoring(
        &self,
        org_id: &str,
        audience: &str,
        rating_id: &str,
    ) -> Result<()> {
        let feeds = self.current_feeds().await?;
        let (bundle, rating, _) = self.rate_bundle(org_id, &feeds).await?;
        // A policy that ended before today (bound back-dated for the record) is monitored by
        // no one: nothing to start.
        let Some(rules) = self
            .audiences(org_id)
            .await?
            .into_iter()
            .find(|a| a.audience == audience)
        else {
            return Ok(());
        };
        let uw = cyrisk_core::underwriting::evaluate(
            &rules.underwriting,
            &bundle,
            &rating,
            rating.as_of,
        );
        let obs = Observation {
            rating_id,
            score: rating.score,
            grade: &rating.grade,
            bundle: &bundle,
            model: &self.models.rating,
            latest_scan: rating.inputs.latest_scan,
            underwriting: Some(&uw),
            as_of: rating.as_of,
        };
        let state = evaluate(&rules.alerts, None, &obs).state;
        let state = serde_json::to_string(&state).map_err(AppError::internal)?;
        let mut tx = self.store.write_tx().await?;
        if tx.monitor_state(org_id, audience).await?.is_some() {
            return Ok(());
        }
        match tx.put_monitor_state(org_id, audience, &state, None).await {
            Ok(()) => Ok(tx.commit().await?),
            // Started meanwhile by a re-rating: that baseline stands.
            Err(cyrisk_store::StoreError::Conflict(_)) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    /// The schedule: queues a re-rating (deduplicated) of every organisation under a policy
    /// in force today that has no rating from today, so time-driven alerts (findings past
    /// their SLA, no scan for N days) are raised even when no input changes. Returns how many
    /// were queued. Run by every worker's housekeeping; the dedupe makes replicas harmless.
    pub async fn schedule_monitoring(&self) -> Result<usize> {
        let orgs = self.store.monitored_orgs_stale(today()).await?;
        if orgs.is_empty() {
            return Ok(0);
        }
        let mut tx = self.store.write_tx().await?;
        for org in &orgs {
            tx.enqueue(&cyrisk_store::NewJob::rerate(org, "schedule"))
                .await?;
        }
        tx.commit().await?;
        Ok(orgs.len())
    }

    /// Alerts `p` may see, newest first: an insurer those for its key, an enterprise or
    /// assessor its organisation's own, an admin any (filtered by `audience` if given).
    pub async fn alerts(
        &self,
        p: &Principal,
        org_id: Option<&str>,
        audience: Option<&str>,
        unacknowledged: bool,
        limit: i64,
        offset: i64,
    ) -> Result<Vec<Alert>> {
        authorize_role(p, Action::ReadAlerts)?;
        let (audience, org) = scope(p, org_id, audience)?;
        Ok(self
            .store
            .alerts(&AlertFilter {
                audience,
                org_id: org,
                unacknowledged,
                limit,
                offset,
            })
            .await?)
    }

    /// One alert `p` may see (`NotFound` otherwise).
    pub async fn alert(&self, p: &Principal, id: &str) -> Result<Alert> {
        authorize_role(p, Action::ReadAlerts)?;
        let a = self.store.alert(id).await?;
        if sees(p, &a) {
            Ok(a)
        } else {
            Err(AppError::NotFound { what: "alert" })
        }
    }

    /// Acknowledges an alert `p` may see; `Conflict` if it already was.
    pub async fn ack_alert(&self, p: &Principal, id: &str) -> Result<Alert> {
        self.alert(p, id).await?;
        if p.role == Role::Assessor {
            return Err(AppError::forbidden(
                "the insured (or an admin) acknowledges its own alerts, not an assessor",
            ));
        }
        Ok(self.store.ack_alert(id, &p.key_id).await?)
    }

    /// The alert rules `p` monitors with (insurer keys: its own or the defaults; others: the
    /// defaults), which they are (`own` or `default`) and their TOML.
    pub async fn alert_rules_for(&self, p: &Principal) -> Result<(&'static str, String)> {
        authorize_role(p, Action::ReadAlerts)?;
        if p.role == Role::Insurer
            && let Some(text) = self.store.alert_rules(&p.key_id).await?
        {
            return Ok(("own", text));
        }
        Ok(("default", BUILTIN_ALERT_RULES.to_owned()))
    }

    /// Replaces an insurer's own alert rules; `Invalid` naming the field if they do not load.
    pub async fn set_alert_rules(&self, p: &Principal, text: &str) -> Result<()> {
        authorize_role(p, Action::ManageAlertRules)?;
        if p.role != Role::Insurer {
            return Err(AppError::forbidden(
                "alert rules belong to an insurer key: set them with that key",
            ));
        }
        AlertRules::from_toml(text).map_err(|e| AppError::Invalid(format!("rules: {}", e.0)))?;
        Ok(self
            .store
            .set_alert_rules(&p.key_id, text, &p.key_id)
            .await?)
    }
}

/// Whether `p` may see `a`.
pub(crate) fn sees(p: &Principal, a: &Alert) -> bool {
    match p.role {
        Role::Admin => true,
        Role::Insurer => a.audience == p.key_id,
        Role::Enterprise | Role::Assessor => {
            a.audience == INSURED && p.org_id.as_deref() == Some(a.org_id.as_str())
        }
    }
}

/// The audience and organisation filter of `p`'s alert list.
fn scope(
    p: &Principal,
    org_id: Option<&str>,
    audience: Option<&str>,
) -> Result<(Option<String>, Option<String>)> {
    let org = org_id.map(str::to_owned);
    match p.role {
        Role::Admin => Ok((audience.map(str::to_owned), org)),
        Role::Insurer => {
            if audience.is_some_and(|a| a != p.key_id) {
                return Err(AppError::forbidden(
                    "an insurer key sees only its own alerts",
                ));
            }
            Ok((Some(p.key_id.clone()), org))
        }
        Role::Enterprise | Role::Assessor => {
            if audience.is_some_and(|a| a != INSURED) {
                return Err(AppError::forbidden(
                    "an enterprise or assessor key sees only its organisation's own alerts",
                ));
            }
            let own = p.org_id.clone();
            if org.is_some() && org != own {
                return Err(AppError::NotFound {
                    what: "organization",
                });
            }
            Ok((Some(INSURED.to_owned()), own.or(Some(String::new()))))
        }
    }
}

/// A page of an organisation's timeline.
#[derive(Debug, Clone, serde::Serialize)]
pub struct TimelinePage {
    pub entries: Vec<cyrisk_store::TimelineEntry>,
    /// Pass as `before` for the next (older) page; absent on the last page.
    pub next: Option<String>,
}

impl App {
    /// An organisation's timeline as `p` may see it: its ratings, ticket transitions,
    /// imports and disputes; the alerts meant for `p` (an insurer's own, the insured's own,
    /// all for an admin); the policies and claims of `p` (an insurer's own; all for the
    /// insured and an admin). Newest first, `limit` entries before the cursor `before`.
    pub async fn timeline(
        &self,
        p: &Principal,
        org_id: &str,
        before: Option<&str>,
        limit: i64,
    ) -> Result<TimelinePage> {
        self.authorize(p, org_id, Action::Read).await?;
        let scope = match p.role {
            Role::Admin => cyrisk_store::TimelineScope::default(),
            Role::Insurer => cyrisk_store::TimelineScope {
                alert_audience: Some(p.key_id.clone()),
                insurer_key_id: Some(p.key_id.clone()),
                hide_insurance: false,
            },
            Role::Enterprise => cyrisk_store::TimelineScope {
                alert_audience: Some(INSURED.to_owned()),
                ..Default::default()
            },
            // Not party to the insurance: no policies, claims, or tickets an insurer opened
            // ("" matches no insurer key).
            Role::Assessor => cyrisk_store::TimelineScope {
                alert_audience: Some(INSURED.to_owned()),
                insurer_key_id: Some(String::new()),
                hide_insurance: true,
            },
        };
        let entries = self.store.timeline(org_id, &scope, before, limit).await?;
        let next = (entries.len() as i64 == limit)
            .then(|| entries.last().map(|e| e.cursor.clone()))
            .flatten();
        Ok(TimelinePage { entries, next })
    }
}
