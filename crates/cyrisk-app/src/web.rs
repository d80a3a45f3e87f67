//! The live rating page's use cases: signing in with an API key for a session, and the page's
//! data — the report's, plus the caller's organisations to pick from, its open alerts and the
//! open tickets it may see. Rendering is the report renderer's ([`ReportRenderer::page`]).

use std::sync::Arc;

use chrono::Duration;
use cyrisk_store::{NewSession, Principal, Session, TicketStatus};
use serde::Serialize;

use crate::error::{AppError, Result};
use crate::report::{ReportData, ReportLang, ReportRenderer};
use crate::{App, today};

/// How long a page session lasts.
pub const SESSION_HOURS: i64 = 8;

/// How many organisations the picker lists.
pub const PICKER_LIMIT: i64 = 500;

/// An organisation the caller may open.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PageOrg {
    pub id: String,
    pub name: String,
}

/// An unacknowledged alert, as the page lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PageAlert {
    /// RFC 3339 UTC.
    pub created_at: String,
    /// `info`, `warning` or `critical`.
    pub severity: String,
    pub title: String,
}

/// An open ticket, as the page lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PageTicket {
    pub title: String,
    /// `open`, `in_progress` or `resolved` (awaiting verification).
    pub status: String,
    /// The working due date (`YYYY-MM-DD`).
    pub due_on: String,
    /// Past its SLA due date today.
    pub overdue: bool,
}

/// Everything the live page shows for one organisation.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LivePage {
    /// The caller's role (`admin`, `insurer`, `assessor`, `enterprise`).
    pub role: String,
    /// The organisations the caller may open (by name; at most [`PICKER_LIMIT`]).
    pub orgs: Vec<PageOrg>,
    /// The open organisation's report data (what the report shows the caller).
    pub report: ReportData,
    /// Whether the caller has alerts to see: an insurer its own, the insured its own, an
    /// admin everyone's; an assessor, no party to the insurance, none.
    pub shows_alerts: bool,
    /// The caller's unacknowledged alerts on it, newest first (at most 10).
    pub alerts: Vec<PageAlert>,
    /// Its open tickets the caller may see, soonest due first (at most 10).
    pub tickets: Vec<PageTicket>,
    /// The CSRF token the page's forms carry (set by the web layer).
    pub csrf: String,
}

impl App {
    /// Exchanges an API key for a page session of [`SESSION_HOURS`]; `None` for an unknown or
    /// revoked key.
    pub async fn sign_in(&self, key: &str) -> Result<Option<NewSession>> {
        let Some(p) = self.store.authenticate(key).await? else {
            return Ok(None);
        };
        Ok(Some(
            self.store
                .create_session(&p.key_id, Duration::hours(SESSION_HOURS))
                .await?,
        ))
    }

    /// The live session of a cookie's token, if any.
    pub async fn session(&self, token: &str) -> Result<Option<Session>> {
        Ok(self.store.session(token).await?)
    }

    /// Ends a session (signing out).
    pub async fn sign_out(&self, token: &str) -> Result<()> {
        self.store.delete_session(token).await?;
        Ok(())
    }

    /// The organisations `p` may open, by name.
    pub async fn page_orgs(&self, p: &Principal) -> Result<Vec<PageOrg>> {
        Ok(self
            .store
            .list_organizations_for(p, PICKER_LIMIT, 0)
            .await?
            .into_iter()
            .map(|o| PageOrg {
                id: o.id,
                name: o.name,
            })
            .collect())
    }

    /// The page of `org_id` as `p` may see it (`NotFound` for one it may not).
    pub async fn live_page(
        &self,
        p: &Principal,
        org_id: &str,
        orgs: Vec<PageOrg>,
    ) -> Result<LivePage> {
        // The plan is priced after the first paint (`report_fixes`): the page stays fast for an
        // organisation with many findings.
        let report = self.report_data_with(p, org_id, false).await?;
        let shows_alerts = p.role != cyrisk_store::Role::Assessor;
        let alerts = if shows_alerts {
            // `alerts` scopes them as the API does: an insurer's and the insured's own
            // audience, every audience for an admin.
            self.alerts(p, Some(org_id), None, true, 10, 0)
                .await?
                .into_iter()
                .map(|a| PageAlert {
                    created_at: a.created_at,
                    severity: a.severity,
                    title: a.title,
                })
                .collect()
        } else {
            Vec::new()
        };
        let day = today();
        // The soonest due of all open tickets (as many as the report counts), so the overdue
        // ones come first.
        let mut tickets = Vec::new();
        for s in [
            TicketStatus::Open,
            TicketStatus::InProgress,
            TicketStatus::Resolved,
        ] {
            tickets.extend(self.tickets(p, org_id, Some(s), 1000, 0).await?);
        }
        tickets.sort_by(|a, b| {
            a.sla_due_on
                .min(a.due_on)
                .cmp(&b.sla_due_on.min(b.due_on))
                .then_with(|| a.id.cmp(&b.id))
        });
        tickets.truncate(10);
        Ok(LivePage {
            role: p.role.as_str().to_owned(),
            orgs,
            report,
            shows_alerts,
            alerts,
            tickets: tickets
                .into_iter()
                .map(|t| PageTicket {
                    overdue: t.sla_due_on < day,
                    title: t.title,
                    status: t.status.as_str().to_owned(),
                    due_on: t.due_on.to_string(),
                })
                .collect(),
            csrf: String::new(),
        })
    }

    /// The renderer, or `Internal` when this build has none.
    pub fn renderer(&self) -> Result<Arc<dyn ReportRenderer>> {
        self.reports
            .clone()
            .ok_or_else(|| AppError::internal("this build has no report renderer"))
    }

    /// The live page's "what to fix first" section as an HTML fragment (loaded after the page).
    pub async fn render_fixes(
        &self,
        p: &Principal,
        org_id: &str,
        lang: ReportLang,
    ) -> Result<String> {
        let (currency, plan) = self.report_fixes(p, org_id).await?;
        let renderer = self.renderer()?;
        Ok(renderer.fixes(&currency, plan.as_ref(), lang)?)
    }

    /// The live page as HTML, rendered on the blocking pool.
    pub async fn render_page(&self, page: LivePage, lang: ReportLang) -> Result<String> {
        let renderer = self.renderer()?;
        Ok(tokio::task::spawn_blocking(move || renderer.page(&page, lang)).await??)
    }
}
