//! The policy loop for operators at the command line: policies (list, show, cancel, loss
//! run, renewal pack), alerts (list, acknowledge), tickets (list, show, verify) and an
//! organisation's timeline — the application layer's use cases as the operator (an admin,
//! audited as `cli`).

use std::io::Write;

use chrono::NaiveDate;
use clap::Subcommand;
use cyrisk_app::App;
use cyrisk_store::{Principal, TicketStatus};

use crate::commands::Format;
use crate::db::{Db, runtime};
use crate::jobs::{app, cli_error};

#[derive(Debug, Subcommand)]
pub(crate) enum PoliciesCommand {
    /// List policies: one organisation's, one insurer's, or all.
    List {
        #[arg(long = "org", value_name = "ID")]
        org: Option<String>,
        /// Only this insurer key's.
        #[arg(long = "insurer", value_name = "KEY_ID")]
        insurer: Option<String>,
        #[command(flatten)]
        db: Db,
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
    },
    /// Show a policy with its endorsements.
    Show {
        id: String,
        #[command(flatten)]
        db: Db,
    },
    /// Cancel a policy from a date (the unexpired premium is returned pro rata).
    Cancel {
        id: String,
        /// The first day without cover.
        #[arg(long)]
        on: NaiveDate,
        #[arg(long)]
        reason: String,
        #[command(flatten)]
        db: Db,
    },
    /// The loss run of one insurer's book (or every policy), as of a date.
    LossRun {
        #[arg(long = "insurer", value_name = "KEY_ID")]
        insurer: Option<String>,
        /// Premium earned to this date [default: today].
        #[arg(long)]
        as_of: Option<NaiveDate>,
        #[command(flatten)]
        db: Db,
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
    },
    /// The renewal pack of a policy (from 90 days before it expires).
    Renewal {
        id: String,
        /// Simulated years for the renewal quote.
        #[arg(long, default_value_t = 100_000, value_parser = clap::value_parser!(u64).range(1..=2_000_000))]
        trials: u64,
        #[command(flatten)]
        db: Db,
    },
}

#[derive(Debug, Subcommand)]
pub(crate) enum AlertsCommand {
    /// List alerts, newest first.
    List {
        #[arg(long = "org", value_name = "ID")]
        org: Option<String>,
        /// Only this audience: an insurer key id, or `insured`.
        #[arg(long)]
        audience: Option<String>,
        /// Only those not yet acknowledged.
        #[arg(long)]
        unacknowledged: bool,
        #[arg(long, default_value_t = 50, value_parser = clap::value_parser!(i64).range(1..=1000))]
        limit: i64,
        #[command(flatten)]
        db: Db,
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
    },
    /// Acknowledge an alert.
    Ack {
        id: String,
        #[command(flatten)]
        db: Db,
    },
}

#[derive(Debug, Subcommand)]
pub(crate) enum TicketsCommand {
    /// An organisation's tickets, newest first.
    List {
        #[arg(long = "org", value_name = "ID")]
        org: String,
        #[arg(long, value_parser = ["open", "in_progress", "resolved", "closed"])]
        status: Option<String>,
        #[command(flatten)]
        db: Db,
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
    },
    /// Show a ticket with its history.
    Show {
        id: String,
        #[command(flatten)]
        db: Db,
    },
    /// Close a ticket on the operator's attestation that the fix is verified.
    Verify {
        id: String,
        /// What was checked, and how.
        #[arg(long)]
        note: String,
        #[command(flatten)]
        db: Db,
    },
}

fn json(out: &mut dyn Write, v: &impl serde::Serialize) -> anyhow::Result<()> {
    writeln!(out, "{}", serde_json::to_string_pretty(v)?)?;
    Ok(())
}

async fn with_app<T>(
    db: &Db,
    f: impl AsyncFnOnce(&App) -> Result<T, cyrisk_app::AppError>,
    what: &str,
) -> anyhow::Result<T> {
    let app = app(db).await?;
    let r = f(&app).await;
    app.store.close().await;
    r.map_err(|e| cli_error(e, what))
}

pub(crate) fn policies(cmd: &PoliciesCommand, out: &mut dyn Write) -> anyhow::Result<()> {
    let op = Principal::operator();
    runtime()?.block_on(async {
        match cmd {
            PoliciesCommand::List {
                org,
                insurer,
                db,
                format,
            } => {
                let mut ps = with_app(
                    db,
                    async |a: &App| match org {
                        Some(o) => a.policies(&op, o).await,
                        None => Ok(a.store.policies_of(insurer.as_deref()).await?),
                    },
                    "policies",
                )
                .await?;
                if let Some(k) = insurer {
                    ps.retain(|p| &p.insurer_key_id == k);
                }
                match format {
                    Format::Json => json(out, &ps)?,
                    Format::Text => {
                        let today = cyrisk_app::today();
                        for p in &ps {
                            writeln!(
                                out,
                                "{}  {}  {} to {}  {:<9} limit {:.0} {}  premium {:.0}  written {:.0}",
                                p.id,
                                p.org_id,
                                p.starts_on,
                                p.ends_on,
                                serde_json::to_value(p.phase(today))?
                                    .as_str()
                                    .unwrap_or_default(),
                                p.limit,
                                p.currency,
                                p.premium,
                                p.written_premium
                            )?;
                        }
                        if ps.is_empty() {
                            writeln!(out, "no policies")?;
                        }
                    }
                }
            }
            PoliciesCommand::Show { id, db } => {
                let p = with_app(db, async |a: &App| a.policy(&op, id).await, "policy").await?;
                json(out, &p)?;
            }
            PoliciesCommand::Cancel {
                id,
                on,
                reason,
                db,
            } => {
                let p = with_app(
                    db,
                    async |a: &App| a.cancel_policy(&op, id, *on, reason).await,
                    "cancel",
                )
                .await?;
                writeln!(
                    out,
                    "policy {} cancelled from {}; return premium {:.2} {}; written premium now {:.2}",
                    p.id,
                    on,
                    p.return_premium.unwrap_or_default(),
                    p.currency,
                    p.written_premium
                )?;
            }
            PoliciesCommand::LossRun {
                insurer,
                as_of,
                db,
                format,
            } => {
                let as_of = as_of.unwrap_or_else(cyrisk_app::today);
                let run = with_app(
                    db,
                    async |a: &App| a.book_loss_run(&op, insurer.as_deref(), as_of).await,
                    "loss run",
                )
                .await?;
                match format {
                    Format::Json => json(out, &run)?,
                    Format::Text => {
                        writeln!(out, "loss run as of {}", run.as_of)?;
                        for t in &run.totals {
                            writeln!(
                                out,
                                "  {} {}: {} policies, written {:.0}, earned {:.0}, {} claims, paid {:.0}, outstanding {:.0}, incurred {:.0}, loss ratio {}",
                                t.underwriting_year,
                                t.currency,
                                t.policies,
                                t.written_premium,
                                t.earned_premium,
                                t.claims,
                                t.paid,
                                t.outstanding,
                                t.incurred,
                                t.loss_ratio
                                    .map_or("-".to_owned(), |r| format!("{:.1} %", r * 100.0))
                            )?;
                        }
                        if run.totals.is_empty() {
                            writeln!(out, "  no policies")?;
                        }
                    }
                }
            }
            PoliciesCommand::Renewal { id, trials, db } => {
                let p = with_app(
                    db,
                    async |a: &App| a.renewal_pack(&op, id, *trials).await,
                    "renewal",
                )
                .await?;
                json(out, &p)?;
            }
        }
        Ok(())
    })
}

pub(crate) fn alerts(cmd: &AlertsCommand, out: &mut dyn Write) -> anyhow::Result<()> {
    let op = Principal::operator();
    runtime()?.block_on(async {
        match cmd {
            AlertsCommand::List {
                org,
                audience,
                unacknowledged,
                limit,
                db,
                format,
            } => {
                let list = with_app(
                    db,
                    async |a: &App| {
                        a.alerts(
                            &op,
                            org.as_deref(),
                            audience.as_deref(),
                            *unacknowledged,
                            *limit,
                            0,
                        )
                        .await
                    },
                    "alerts",
                )
                .await?;
                match format {
                    Format::Json => json(out, &list)?,
                    Format::Text => {
                        for a in &list {
                            writeln!(
                                out,
                                "{}  {}  {:<8} {:<26} {}  for {}{}",
                                a.id,
                                a.created_at,
                                a.severity,
                                a.kind,
                                a.title,
                                a.audience,
                                if a.acked_at.is_some() {
                                    "  (acknowledged)"
                                } else {
                                    ""
                                }
                            )?;
                        }
                        if list.is_empty() {
                            writeln!(out, "no alerts")?;
                        }
                    }
                }
            }
            AlertsCommand::Ack { id, db } => {
                let a = with_app(db, async |a: &App| a.ack_alert(&op, id).await, "ack").await?;
                writeln!(
                    out,
                    "alert {} acknowledged at {}",
                    a.id,
                    a.acked_at.unwrap_or_default()
                )?;
            }
        }
        Ok(())
    })
}

pub(crate) fn tickets(cmd: &TicketsCommand, out: &mut dyn Write) -> anyhow::Result<()> {
    let op = Principal::operator();
    runtime()?.block_on(async {
        match cmd {
            TicketsCommand::List {
                org,
                status,
                db,
                format,
            } => {
                let status = status.as_deref().and_then(TicketStatus::parse);
                let list = with_app(
                    db,
                    async |a: &App| a.tickets(&op, org, status, 1000, 0).await,
                    "tickets",
                )
                .await?;
                match format {
                    Format::Json => json(out, &list)?,
                    Format::Text => {
                        for t in &list {
                            writeln!(
                                out,
                                "{}  {:<11} due {} (SLA {})  {}",
                                t.id,
                                t.status.as_str(),
                                t.due_on,
                                t.sla_due_on,
                                t.title
                            )?;
                        }
                        if list.is_empty() {
                            writeln!(out, "no tickets")?;
                        }
                    }
                }
            }
            TicketsCommand::Show { id, db } => {
                let t = with_app(db, async |a: &App| a.ticket(&op, id).await, "ticket").await?;
                json(out, &t)?;
            }
            TicketsCommand::Verify { id, note, db } => {
                let t = with_app(
                    db,
                    async |a: &App| a.verify_ticket(&op, id, note).await,
                    "verify",
                )
                .await?;
                writeln!(
                    out,
                    "ticket {} closed (verified by attestation); the organisation's re-rating is queued",
                    t.id
                )?;
            }
        }
        Ok(())
    })
}

/// `cyrisk timeline --org ID`: the organisation's timeline, newest first.
pub(crate) fn timeline(
    org: &str,
    limit: i64,
    db: &Db,
    format: Format,
    out: &mut dyn Write,
) -> anyhow::Result<()> {
    let op = Principal::operator();
    runtime()?.block_on(async {
        let page = with_app(
            db,
            async |a: &App| a.timeline(&op, org, None, limit).await,
            "timeline",
        )
        .await?;
        match format {
            Format::Json => json(out, &page)?,
            Format::Text => {
                for e in &page.entries {
                    writeln!(out, "{}  {:<18} {}", e.at, e.kind, e.summary)?;
                }
                if page.entries.is_empty() {
                    writeln!(out, "nothing yet")?;
                }
            }
        }
        Ok(())
    })
}

/// `cyrisk report --org ID`: the organisation's risk report, to a file or standard output.
pub(crate) fn report(
    org: &str,
    lang: &str,
    format: &str,
    output: Option<&std::path::Path>,
    db: &Db,
    out: &mut dyn Write,
) -> anyhow::Result<()> {
    use cyrisk_app::report::{ReportFormat, ReportLang};
    let lang = ReportLang::parse(lang)
        .ok_or_else(|| crate::input_error(format!("--lang {lang:?}: zh-CN or en")))?;
    let format = ReportFormat::parse(format)
        .ok_or_else(|| crate::input_error(format!("--format {format:?}: html or pdf")))?;
    if format == ReportFormat::Pdf
        && output.is_none()
        && std::io::IsTerminal::is_terminal(&std::io::stdout())
    {
        return Err(crate::input_error(
            "a PDF is not for the terminal: write it with --output FILE (or redirect)",
        ));
    }
    let op = Principal::operator();
    let bytes = runtime()?.block_on(async {
        let app = app(db)
            .await?
            .with_reports(std::sync::Arc::new(cyrisk_report::Renderer));
        let r = app.report(&op, org, format, lang).await;
        app.store.close().await;
        r.map_err(|e| cli_error(e, "report"))
    })?;
    crate::commands::emit(&bytes, output, out)?;
    if let Some(p) = output {
        writeln!(out, "wrote {} ({} bytes)", p.display(), bytes.len())?;
    }
    Ok(())
}
