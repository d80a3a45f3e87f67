//! The one-click risk report's data: everything the report shows about an organisation,
//! gathered from the store, the live rating and the current feeds, as plain values. Rendering
//! (HTML now; PDF to come) is the `cyrisk-report` crate's, behind [`ReportRenderer`], which the
//! binary supplies — so the renderer's libraries stay out of every other crate.
//!
//! Reproducible: the same stored data, feeds and model give the same data (no clock inside but
//! the rating's as-of date), and the renderer is deterministic, so the same bytes.

use std::sync::Arc;

use chrono::NaiveDate;
use cyrisk_core::cvss::Severity;
use cyrisk_core::finding::FindingState;
use cyrisk_store::{DisputeStatus, Principal, TicketStatus};
use serde::Serialize;

use crate::access::Action;
use crate::error::{AppError, Result};
use crate::{App, today};

/// The report's language.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum ReportLang {
    /// Simplified Chinese (`zh-CN`).
    ZhCn,
    /// English (`en`).
    En,
}

impl ReportLang {
    pub fn tag(self) -> &'static str {
        match self {
            Self::ZhCn => "zh-CN",
            Self::En => "en",
        }
    }

    /// `zh-CN` or `en` (case-insensitive).
    pub fn parse(s: &str) -> Option<Self> {
        match s.to_ascii_lowercase().as_str() {
            "zh-cn" => Some(Self::ZhCn),
            "en" => Some(Self::En),
            _ => None,
        }
    }
}

/// The report's format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum ReportFormat {
    /// One HTML document (UTF-8), styles and charts inline.
    Html,
    /// PDF, fonts embedded as subsets.
    Pdf,
}

impl ReportFormat {
    /// `html` or `pdf` (case-insensitive).
    pub fn parse(s: &str) -> Option<Self> {
        match s.to_ascii_lowercase().as_str() {
            "html" => Some(Self::Html),
            "pdf" => Some(Self::Pdf),
            _ => None,
        }
    }

    /// The media type of the rendered bytes.
    pub fn media_type(self) -> &'static str {
        match self {
            Self::Html => "text/html; charset=utf-8",
            Self::Pdf => "application/pdf",
        }
    }
}

/// Why a report could not be rendered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RenderError {
    /// This machine lacks what the format needs (fonts); the message says what to install.
    Unavailable(String),
    /// A fault of the renderer (a template error): for the log.
    Failed(String),
}

impl From<RenderError> for AppError {
    fn from(e: RenderError) -> Self {
        match e {
            RenderError::Unavailable(m) => AppError::Unavailable(m),
            RenderError::Failed(m) => AppError::internal(m),
        }
    }
}

/// Renders report data (supplied by the binary: `cyrisk-report`).
pub trait ReportRenderer: Send + Sync + std::fmt::Debug {
    /// The report as bytes.
    fn render(
        &self,
        data: &ReportData,
        format: ReportFormat,
        lang: ReportLang,
    ) -> std::result::Result<Vec<u8>, RenderError>;

    /// The live rating page (HTML).
    fn page(
        &self,
        page: &crate::web::LivePage,
        lang: ReportLang,
    ) -> std::result::Result<String, RenderError>;

    /// The live page's plan section (an HTML fragment): the priced fixes, or that there are none.
    fn fixes(
        &self,
        currency: &str,
        plan: Option<&ReportPlan>,
        lang: ReportLang,
    ) -> std::result::Result<String, RenderError>;

    /// The page's sign-in form (HTML), with the form's CSRF token and an error to show.
    fn sign_in_page(
        &self,
        lang: ReportLang,
        csrf: &str,
        error: Option<&str>,
    ) -> std::result::Result<String, RenderError>;
}

/// One factor's contribution.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ReportFactor {
    /// The factor's name (`mfa`, `exploitation_pressure`, …).
    pub name: String,
    pub family: String,
    /// Score points (positive raises the score).
    pub points: f64,
}

/// Open findings of one severity by age.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AgeingRow {
    /// `critical`, `high`, `medium`, `low`.
    pub severity: String,
    /// Open 0–30, 31–90, 91–180 and over 180 days.
    pub by_age: [usize; 4],
    /// Of them, known-exploited (CISA KEV).
    pub kev: usize,
}

/// A control result as the report lists it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ReportControl {
    pub control: String,
    /// `pass`, `partial`, `fail`, `not_applicable`.
    pub outcome: String,
    pub assessed_on: Option<NaiveDate>,
    /// Recorded by the rated party (weighs less).
    pub self_declared: bool,
    /// The MLPS level assessed (1–5), for an `mlps` result.
    pub level: Option<u8>,
}

/// Internet-facing services the rating counts as risky (from its factor inputs).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RiskyServices {
    /// Internet-facing assets offering remote administration (RDP, SSH, Telnet, VNC, …).
    pub remote_access: usize,
    /// Internet-facing assets offering a database.
    pub database_exposed: usize,
    /// Perimeter appliances (VPN, firewall, gateway) facing the internet.
    pub perimeter_appliances: usize,
    /// Of them, products with known-exploited vulnerabilities in their history (CISA KEV).
    pub appliances_with_kev_history: usize,
    /// Up to a few asset ids of each, for the reader.
    pub examples: Vec<String>,
}

/// The MLPS (graded protection, GB/T 22239-2019) position.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MlpsPosition {
    /// The level the organisation is expected to hold (from its profile), if any.
    pub required_level: Option<u64>,
    /// Levels assessed in its results.
    pub assessed_levels: Vec<u64>,
    /// `assessed`, `below_required`, `missing`, … as the rating states it.
    pub status: String,
}

/// The rating on one rating date (the last computed for that date).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TrendPoint {
    /// The rating date (`as_of`).
    pub as_of: NaiveDate,
    /// Score, 250–900 (higher is better).
    pub score: i64,
    pub grade: String,
}

/// A fix of the remediation plan.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ReportFix {
    pub description: String,
    /// Score points it gains.
    pub score_gain: f64,
    /// Expected annual loss it removes, in the report's currency.
    pub loss_reduction: Option<f64>,
}

/// The latest quote on the organisation, with its loss exceedance curve.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ReportQuote {
    pub created_at: String,
    pub deductible: f64,
    pub limit: f64,
    pub premium: f64,
    pub layer_expected_loss: f64,
    /// (return period in years, annual aggregate loss), longest return period last.
    pub exceedance: Vec<(f64, f64)>,
}

/// Everything the report shows.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ReportData {
    pub org_id: String,
    pub organization: String,
    pub industry: String,
    pub region: String,
    /// The rating's as-of date (the report's date).
    pub as_of: NaiveDate,
    /// The newest scan evidence.
    pub data_as_of: Option<NaiveDate>,
    /// `id version` of the rating model.
    pub model: String,
    /// The KEV and EPSS versions the rating used (`KEV 2025.08.25, EPSS -`).
    pub feeds: String,
    pub score: i64,
    pub grade: String,
    /// The score on each of the last rating dates (at most [`TREND_DATES`]), oldest first,
    /// ending with this rating.
    pub trend: Vec<TrendPoint>,
    pub score_low: i64,
    pub score_high: i64,
    /// `high`, `medium` or `low`.
    pub confidence: String,
    /// What is missing, in the rating's words.
    pub missing: Vec<String>,
    /// Chance of at least one material incident in a year (0–1).
    pub annual_incident_probability: f64,
    /// The largest contributions, largest first.
    pub factors: Vec<ReportFactor>,
    /// The largest contributions in words (English).
    pub reasons: Vec<String>,
    /// Open findings by severity and age (critical first).
    pub ageing: Vec<AgeingRow>,
    pub open_findings: usize,
    pub open_kev: usize,
    pub assets: usize,
    pub internet_facing: usize,
    /// Assets a scan saw that the inventory never declared.
    pub undeclared: usize,
    pub stale: usize,
    pub controls: Vec<ReportControl>,
    /// Risky internet-facing services.
    pub risky: RiskyServices,
    /// The MLPS position, when the rating assessed one.
    pub mlps: Option<MlpsPosition>,
    /// The newest and oldest control evidence dates (freshness).
    pub newest_evidence: Option<NaiveDate>,
    pub oldest_evidence: Option<NaiveDate>,
    pub incidents: usize,
    pub open_tickets: usize,
    pub pending_disputes: usize,
    /// ISO 4217 code of every amount.
    pub currency: String,
    /// Expected annual ground-up loss (the priced plan's).
    pub expected_annual_loss: Option<f64>,
    /// The fixes that raise the score most, with the loss each removes.
    pub plan: Vec<ReportFix>,
    /// The latest quote, if any.
    pub quote: Option<ReportQuote>,
    /// Regulatory duties that apply, as message keys (`reg-…`).
    pub regulatory: Vec<String>,
    /// The organisation's percentile among the organisations rated in cyrisk (its industry
    /// and size band, falling back to its industry, then all); `None` if never stored.
    pub peers: Option<crate::book::PeerPercentile>,
}

/// How many organisations' priced report plans are kept in memory.
pub const PLAN_CACHE: std::num::NonZeroUsize = match std::num::NonZeroUsize::new(256) {
    Some(n) => n,
    None => unreachable!(),
};

/// The report's remediation plan, priced: what the report and the live page show. Kept in
/// memory by rating id — a new rating (new inputs, feeds, model or date) is a new id, so a kept
/// plan is never stale. `None` in the cache: the money model cannot price the organisation.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ReportPlan {
    /// Expected annual ground-up loss, in the organisation's currency.
    pub expected_annual_loss: Option<f64>,
    /// The five fixes that raise the score most.
    pub fixes: Vec<ReportFix>,
}

/// A kept plan: the organisation's currency and its priced plan (`None`: not priceable).
pub type KeptPlan = (String, Option<ReportPlan>);

/// How many rating dates the trend shows.
pub const TREND_DATES: usize = 12;

/// How long a PDF request waits for a free renderer before `Busy` (503, retry).
pub const RENDER_WAIT: std::time::Duration = std::time::Duration::from_secs(20);

/// Age buckets' upper bounds in days (the last is open-ended).
const AGE_BOUNDS: [i64; 3] = [30, 90, 180];

fn bucket(days: i64) -> usize {
    AGE_BOUNDS.iter().take_while(|b| days > **b).count()
}

impl App {
    /// The report of an organisation `p` may see, rendered in `format` and `lang` (on the
    /// blocking pool). `Internal` when this build has no renderer.
    pub async fn report(
        &self,
        p: &Principal,
        org_id: &str,
        format: ReportFormat,
        lang: ReportLang,
    ) -> Result<Vec<u8>> {
        let data = self.report_data(p, org_id).await?;
        let renderer: Arc<dyn ReportRenderer> = self.renderer()?;
        // A PDF takes a core for a while: wait for a turn (HTML is cheap and not limited).
        let permit = match format {
            ReportFormat::Pdf => Some(
                tokio::time::timeout(RENDER_WAIT, self.renders.clone().acquire_owned())
                    .await
                    .map_err(|_| {
                        AppError::Unavailable(
                            "every PDF renderer is busy with other reports; retry shortly".into(),
                        )
                    })?
                    .map_err(AppError::internal)?,
            ),
            ReportFormat::Html => None,
        };
        // The permit goes with the render: a client that hangs up does not free it while the
        // (uncancellable) render still runs.
        Ok(tokio::task::spawn_blocking(move || {
            let out = renderer.render(&data, format, lang);
            drop(permit);
            out
        })
        .await??)
    }

    /// The report's data for an organisation `p` may see.
    pub async fn report_data(&self, p: &Principal, org_id: &str) -> Result<ReportData> {
        self.report_data_with(p, org_id, true).await
    }

    /// The report's priced plan for an organisation `p` may see (kept by rating id), with the
    /// organisation's currency: what the live page loads after its first paint.
    pub async fn report_fixes(
        &self,
        p: &Principal,
        org_id: &str,
    ) -> Result<(String, Option<ReportPlan>)> {
        self.authorize(p, org_id, Action::Read).await?;
        let rating = self.live_rating(org_id).await?;
        if let Some(hit) = self.cached_plan(&rating.id) {
            return Ok(hit);
        }
        let feeds = self.current_feeds().await?;
        let (bundle, _) = self.inputs(org_id, &feeds, today()).await?;
        self.report_plan(&rating.id, bundle).await
    }

    fn cached_plan(&self, rating_id: &str) -> Option<(String, Option<ReportPlan>)> {
        self.report_plans
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(rating_id)
            .cloned()
    }

    /// The priced plan of `bundle` (rated as `rating_id`), from memory or computed and kept.
    async fn report_plan(
        &self,
        rating_id: &str,
        bundle: cyrisk_core::Bundle,
    ) -> Result<(String, Option<ReportPlan>)> {
        if let Some(hit) = self.cached_plan(rating_id) {
            return Ok(hit);
        }
        let currency = bundle.profile().currency.as_str().to_owned();
        let model = self.models.rating.clone();
        let (severity, pricing) = (self.models.severity.clone(), self.models.pricing.clone());
        let day = today();
        // The money from per-peril moments drawn once (seed 1): the same numbers every time.
        let plan = tokio::task::spawn_blocking(move || {
            cyrisk_sim::money_plan::money_plan(
                &bundle,
                &model,
                day,
                &severity,
                &pricing,
                None,
                cyrisk_sim::money_plan::RankBy::Score,
                5,
                1,
            )
        })
        .await?;
        let plan = match plan {
            Ok(p) => Some(ReportPlan {
                expected_annual_loss: p.money.as_ref().map(|m| m.expected_annual_loss),
                fixes: p
                    .items
                    .into_iter()
                    .map(|i| ReportFix {
                        description: i.description,
                        score_gain: i.score_gain,
                        loss_reduction: i.money.map(|m| m.loss_reduction),
                    })
                    .collect(),
            }),
            // An organisation the money model cannot price (its currency or size): no plan.
            Err(_) => None,
        };
        let entry = (currency, plan);
        self.report_plans
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .put(rating_id.to_owned(), entry.clone());
        Ok(entry)
    }

    /// The report's data; without `with_plan`, no plan is priced (`plan` empty, no expected
    /// loss) — the live page loads it separately.
    pub async fn report_data_with(
        &self,
        p: &Principal,
        org_id: &str,
        with_plan: bool,
    ) -> Result<ReportData> {
        self.authorize(p, org_id, Action::Read).await?;
        let rating = self.live_rating(org_id).await?;
        let doc: serde_json::Value =
            serde_json::from_str(&rating.rating).map_err(AppError::internal)?;
        let feeds = self.current_feeds().await?;
        let (bundle, _) = self.inputs(org_id, &feeds, today()).await?;
        let as_of: NaiveDate = rating.as_of.parse().map_err(AppError::internal)?;
        let mut factors: Vec<ReportFactor> = doc["factors"]
            .as_array()
            .map(|a| {
                a.iter()
                    .map(|f| ReportFactor {
                        name: f["name"].as_str().unwrap_or_default().to_owned(),
                        family: f["family"].as_str().unwrap_or_default().to_owned(),
                        points: f["points"].as_f64().unwrap_or(0.0),
                    })
                    .collect()
            })
            .unwrap_or_default();
        factors.sort_by(|a, b| {
            b.points
                .abs()
                .total_cmp(&a.points.abs())
                .then_with(|| a.name.cmp(&b.name))
        });
        factors.truncate(12);
        let severities = [
            Severity::Critical,
            Severity::High,
            Severity::Medium,
            Severity::Low,
        ];
        let mut ageing: Vec<AgeingRow> = severities
            .iter()
            .map(|s| AgeingRow {
                severity: s.as_str().to_owned(),
                by_age: [0; 4],
                kev: 0,
            })
            .collect();
        let mut open = 0;
        let mut open_kev = 0;
        for f in bundle.findings() {
            if !FindingState::counted(f).is_unresolved() {
                continue;
            }
            let sev = cyrisk_core::rating::finding_severity(f);
            let Some(i) = severities.iter().position(|s| *s == sev) else {
                continue;
            };
            open += 1;
            ageing[i].by_age[bucket((as_of - f.first_seen).num_days())] += 1;
            if f.kev {
                ageing[i].kev += 1;
                open_kev += 1;
            }
        }
        let assets = bundle.assets();
        let profile = bundle.profile();
        // The open tickets the caller may see (as `App::tickets` scopes them).
        let mut tickets = 0;
        for s in [
            TicketStatus::Open,
            TicketStatus::InProgress,
            TicketStatus::Resolved,
        ] {
            tickets += self.tickets(p, org_id, Some(s), 1000, 0).await?.len();
        }
        // The remediation plan, priced (kept by rating id).
        let plan = if with_plan {
            self.report_plan(&rating.id, bundle.clone()).await?.1
        } else {
            None
        };
        // The latest quote the caller may see: an insurer its own (not a competitor's), the
        // insured and an admin any; an assessor, not party to the insurance, none.
        let quotes = match p.role {
            cyrisk_store::Role::Assessor => Vec::new(),
            cyrisk_store::Role::Insurer => self.store.quotes(org_id, Some(&p.key_id), 1, 0).await?,
            _ => self.store.quotes(org_id, None, 1, 0).await?,
        };
        let quote = quotes.into_iter().next().and_then(|q| {
            let v: serde_json::Value = serde_json::from_str(&q.quote).ok()?;
            Some(ReportQuote {
                created_at: q.created_at,
                deductible: v["layer"]["deductible"].as_f64()?,
                limit: v["layer"]["limit"].as_f64()?,
                premium: v["premium"]["premium"].as_f64()?,
                layer_expected_loss: v["simulation"]["layer"]["expected_loss"].as_f64()?,
                exceedance: v["simulation"]["ep_curve"]
                    .as_array()?
                    .iter()
                    .filter_map(|p| Some((p["return_period"].as_f64()?, p["loss"].as_f64()?)))
                    .collect(),
            })
        });
        // China's duties, for an organisation in China (region `CN-…`).
        let mut regulatory = Vec::new();
        if profile.region.starts_with("CN") {
            regulatory.push(if profile.ciio {
                "reg-incident-reporting-ciio".to_owned()
            } else {
                "reg-incident-reporting".to_owned()
            });
            if profile.ciio {
                regulatory.push("reg-ciio".to_owned());
            }
        }
        if profile.data.as_ref().is_some_and(|d| d.important_data) {
            regulatory.push("reg-important-data".to_owned());
        }
        use cyrisk_core::rating::CrossBorderRequirement as X;
        match cyrisk_core::rating::cross_border_requirement(&bundle) {
            X::SecurityAssessment => regulatory.push("reg-cross-border-assessment".to_owned()),
            X::StandardContractOrCertification => {
                regulatory.push("reg-cross-border-contract".to_owned());
            }
            X::None | X::Exempt => {}
        }
        // The trend: stored ratings by date, this rating last (replacing its own date's).
        let mut trend: Vec<TrendPoint> = self
            .store
            .score_history(org_id, TREND_DATES)
            .await?
            .into_iter()
            .filter_map(|(d, score, grade)| {
                Some(TrendPoint {
                    as_of: d.parse().ok()?,
                    score,
                    grade,
                })
            })
            .filter(|t| t.as_of < as_of)
            .collect();
        trend.push(TrendPoint {
            as_of,
            score: rating.score,
            grade: rating.grade.clone(),
        });
        if trend.len() > TREND_DATES {
            trend.drain(..trend.len() - TREND_DATES);
        }
        // What the rating counted, from its factors' published inputs.
        let inputs_of = |name: &str| {
            doc["factors"]
                .as_array()
                .and_then(|a| a.iter().find(|f| f["name"] == name))
                .map(|f| f["inputs"].clone())
                .unwrap_or(serde_json::Value::Null)
        };
        let count = |v: &serde_json::Value, k: &str| v[k].as_u64().unwrap_or(0) as usize;
        let (remote, db, appliance) = (
            inputs_of("remote_access"),
            inputs_of("database_exposed"),
            inputs_of("perimeter_appliance"),
        );
        let mut examples: Vec<String> = Vec::new();
        for e in [&remote, &db, &appliance]
            .iter()
            .filter_map(|v| v["examples"].as_array())
            .flatten()
            .filter_map(serde_json::Value::as_str)
        {
            if examples.len() < 8 && !examples.iter().any(|x| x == e) {
                examples.push(e.to_owned());
            }
        }
        let risky = RiskyServices {
            remote_access: count(&remote, "assets"),
            database_exposed: count(&db, "assets"),
            perimeter_appliances: count(&appliance, "appliances"),
            appliances_with_kev_history: count(&appliance, "with_kev_history"),
            examples,
        };
        let m = inputs_of("mlps");
        let mlps = m["status"].as_str().map(|status| MlpsPosition {
            required_level: m["required_level"].as_u64(),
            assessed_levels: m["assessed_levels"]
                .as_array()
                .map(|a| a.iter().filter_map(serde_json::Value::as_u64).collect())
                .unwrap_or_default(),
            status: status.to_owned(),
        });
        let date = |k: &str| doc["inputs"][k].as_str().and_then(|d| d.parse().ok());
        let peers = self.peer_percentile(org_id).await?;
        Ok(ReportData {
            peers,
            risky,
            mlps,
            newest_evidence: date("newest_control_evidence"),
            oldest_evidence: date("oldest_control_evidence"),
            trend,
            currency: profile.currency.as_str().to_owned(),
            expected_annual_loss: plan.as_ref().and_then(|p| p.expected_annual_loss),
            plan: plan.map(|p| p.fixes).unwrap_or_default(),
            quote,
            regulatory,
            org_id: org_id.to_owned(),
            organization: profile.name.clone(),
            industry: profile.industry.as_str().to_owned(),
            region: profile.region.clone(),
            as_of,
            data_as_of: doc["inputs"]["latest_scan"]
                .as_str()
                .and_then(|d| d.parse().ok()),
            model: format!("{} {}", rating.model_id, rating.model_version),
            feeds: rating
                .feeds
                .as_deref()
                .and_then(|f| serde_json::from_str::<serde_json::Value>(f).ok())
                .map(|v| {
                    format!(
                        "KEV {}, EPSS {}",
                        v["kev"].as_str().unwrap_or("-"),
                        v["epss"].as_str().unwrap_or("-")
                    )
                })
                .unwrap_or_default(),
            score: rating.score,
            grade: rating.grade.clone(),
            score_low: doc["confidence"]["score_low"]
                .as_i64()
                .unwrap_or(rating.score),
            score_high: doc["confidence"]["score_high"]
                .as_i64()
                .unwrap_or(rating.score),
            confidence: doc["confidence"]["level"]
                .as_str()
                .unwrap_or_default()
                .to_owned(),
            missing: doc["confidence"]["missing"]
                .as_array()
                .map(|a| {
                    a.iter()
                        .filter_map(|m| m.as_str().map(str::to_owned))
                        .collect()
                })
                .unwrap_or_default(),
            annual_incident_probability: doc["annual_incident_probability"].as_f64().unwrap_or(0.0),
            factors,
            reasons: doc["reasons"]
                .as_array()
                .map(|a| {
                    a.iter()
                        .take(5)
                        .filter_map(|r| r["text"].as_str().map(str::to_owned))
                        .collect()
                })
                .unwrap_or_default(),
            ageing,
            open_findings: open,
            open_kev,
            assets: assets.len(),
            internet_facing: assets.iter().filter(|a| a.internet_facing).count(),
            undeclared: assets.iter().filter(|a| !a.declared).count(),
            stale: assets.iter().filter(|a| a.stale).count(),
            controls: bundle
                .controls()
                .iter()
                .map(|c| ReportControl {
                    control: c.control.as_str().to_owned(),
                    outcome: serde_json::to_value(c.outcome)
                        .ok()
                        .and_then(|v| v.as_str().map(str::to_owned))
                        .unwrap_or_default(),
                    assessed_on: c.assessed_on,
                    self_declared: c.self_declared,
                    level: c.level,
                })
                .collect(),
            incidents: bundle.incidents().len(),
            open_tickets: tickets,
            pending_disputes: self
                .store
                .disputes(org_id, Some(DisputeStatus::Pending), 1000, 0)
                .await?
                .len(),
        })
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn age_buckets() {
        assert_eq!(super::bucket(0), 0);
        assert_eq!(super::bucket(30), 0);
        assert_eq!(super::bucket(31), 1);
        assert_eq!(super::bucket(180), 2);
        assert_eq!(super::bucket(181), 3);
    }
}
