//! `cyrisk portfolio summary` and `cyrisk export`: the insurer's book from the database, as
//! the operator sees it (every insurer's, or one's with `--insurer KEY_ID`).

use std::fmt::Write as _;
use std::io::Write;
use std::path::Path;

use clap::ValueEnum;
use cyrisk_app::book::{BookSummary, BookTable, ExportFormat};
use cyrisk_store::Principal;

use crate::commands::Format;
use crate::db::{Db, runtime};
use crate::jobs::{app, cli_error};

/// A table of the book.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub(crate) enum TableArg {
    Organizations,
    Ratings,
    Policies,
    Claims,
    Quotes,
    /// A stored simulation's per-policy results (`cyrisk portfolio simulate`).
    Simulation,
}

/// An export's format.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub(crate) enum ExportArg {
    Csv,
    Parquet,
}

fn with_analytics(app: cyrisk_app::App) -> cyrisk_app::App {
    app.with_analytics(std::sync::Arc::new(cyrisk_analytics::Analytics))
}

/// `cyrisk portfolio summary`.
pub(crate) fn summary(
    insurer: Option<&str>,
    period_days: u32,
    format: Format,
    db: &Db,
    out: &mut dyn Write,
) -> anyhow::Result<()> {
    let s = runtime()?.block_on(async {
        let app = with_analytics(app(db).await?);
        let r = app
            .book_summary(&Principal::operator(), insurer, period_days)
            .await;
        app.store.close().await;
        r.map_err(|e| cli_error(e, "portfolio summary"))
    })?;
    let text = match format {
        Format::Json => serde_json::to_string_pretty(&s)? + "\n",
        Format::Text => summary_text(&s),
    };
    out.write_all(text.as_bytes())?;
    Ok(())
}

fn summary_text(s: &BookSummary) -> String {
    let mut t = String::new();
    let whose = s.insurer_key_id.as_deref().unwrap_or("every insurer");
    let _ = writeln!(
        t,
        "Book of {whose} as of {}: {} organisations ({} rated), {} policies in force",
        s.as_of, s.organizations, s.rated, s.policies_in_force
    );
    for (title, groups) in [
        ("grade", &s.by_grade),
        ("industry", &s.by_industry),
        ("region", &s.by_region),
        ("size band", &s.by_size_band),
    ] {
        let _ = writeln!(t, "\nBy {title}:");
        for g in groups {
            let _ = writeln!(
                t,
                "  {:<16} {:>6} orgs  mean score {:>5}  {:>5} in force  limit {:>16.0} {}  premium {:>14.0} {}",
                g.key,
                g.organizations,
                g.mean_score
                    .map_or_else(|| "-".to_owned(), |m| format!("{m:.0}")),
                g.policies_in_force,
                g.limit_in_force,
                g.currency,
                g.premium_in_force,
                g.currency
            );
        }
    }
    let _ = writeln!(t, "\nScores:");
    for b in &s.score_distribution {
        let _ = writeln!(t, "  {}–{}  {}", b.from, b.to, b.organizations);
    }
    let _ = writeln!(t, "\nLargest moves since {}:", s.movers_since);
    if s.top_risers.is_empty() && s.top_fallers.is_empty() {
        let _ = writeln!(t, "  none");
    }
    for m in s.top_risers.iter().chain(&s.top_fallers) {
        let _ = writeln!(t, "  {:+5}  {} → {}  {}", m.change, m.from, m.to, m.name);
    }
    if !s.loss_ratio_by_year.is_empty() {
        let _ = writeln!(t, "\nLoss ratio by underwriting year:");
        for y in &s.loss_ratio_by_year {
            let _ = writeln!(
                t,
                "  {} {}  {:>5} policies  earned {:>14.0}  incurred {:>14.0}  {}",
                y.underwriting_year,
                y.currency,
                y.policies,
                y.earned_premium,
                y.incurred,
                y.loss_ratio
                    .map_or_else(|| "-".to_owned(), |r| format!("{:.1} %", r * 100.0))
            );
        }
    }
    match &s.accumulation {
        None => {
            let _ = writeln!(
                t,
                "\nAccumulation: no stored simulation of this book yet (cyrisk portfolio simulate)"
            );
        }
        Some(a) => {
            for dim in ["product", "vendor", "provider"] {
                let _ = writeln!(
                    t,
                    "\nAccumulation by {dim} (simulation {}, {} years, of {}):",
                    a.simulation_id, a.trials, a.simulated_at
                );
                accumulation_lines(
                    &mut t,
                    a.groups.get(dim).map_or(&[], Vec::as_slice),
                    &a.currency,
                );
            }
        }
    }
    t
}

/// `cyrisk export`.
pub(crate) fn export(
    table: TableArg,
    format: ExportArg,
    insurer: Option<&str>,
    simulation: Option<&str>,
    output: Option<&Path>,
    db: &Db,
    out: &mut dyn Write,
) -> anyhow::Result<()> {
    let format = match format {
        ExportArg::Csv => ExportFormat::Csv,
        ExportArg::Parquet => ExportFormat::Parquet,
    };
    if format == ExportFormat::Parquet
        && output.is_none()
        && std::io::IsTerminal::is_terminal(&std::io::stdout())
    {
        return Err(crate::input_error(
            "Parquet is not for the terminal: write it with --output FILE (or redirect)",
        ));
    }
    let table = match table {
        TableArg::Organizations => BookTable::Organizations,
        TableArg::Ratings => BookTable::Ratings,
        TableArg::Policies => BookTable::Policies,
        TableArg::Claims => BookTable::Claims,
        TableArg::Quotes => BookTable::Quotes,
        TableArg::Simulation => BookTable::Simulation,
    };
    let bytes = runtime()?.block_on(async {
        let app = with_analytics(app(db).await?);
        let r = app
            .book_export(&Principal::operator(), insurer, table, format, simulation)
            .await;
        app.store.close().await;
        r.map_err(|e| cli_error(e, "export"))
    })?;
    crate::commands::emit(&bytes, output, out)?;
    if let Some(p) = output {
        writeln!(out, "wrote {} ({} bytes)", p.display(), bytes.len())?;
    }
    Ok(())
}

/// `cyrisk portfolio simulate`: queues the stored book's simulation and runs it here.
pub(crate) fn simulate(
    insurer: Option<&str>,
    trials: u64,
    seed: u64,
    format: Format,
    db: &Db,
    out: &mut dyn Write,
) -> anyhow::Result<()> {
    let status = runtime()?.block_on(async {
        let app = app(db).await?;
        let r = async {
            let p = Principal::operator();
            let queued = app.queue_book_simulation(&p, insurer, trials, seed).await?;
            let spinner = if std::io::IsTerminal::is_terminal(&std::io::stderr()) {
                let s = indicatif::ProgressBar::new_spinner();
                s.set_message(format!("simulating the book, {trials} years"));
                s.enable_steady_tick(std::time::Duration::from_millis(120));
                s
            } else {
                indicatif::ProgressBar::hidden()
            };
            let ran = crate::jobs::drain(&app, std::slice::from_ref(&queued.id), "simulate").await;
            spinner.finish_and_clear();
            ran?;
            app.book_simulation(&p, &queued.id).await
        }
        .await;
        app.store.close().await;
        r.map_err(|e| cli_error(e, "portfolio simulate"))
    })?;
    if status.state != "done" {
        anyhow::bail!(
            "the book's simulation {} did not finish: {}",
            status.id,
            status.error.as_deref().unwrap_or(status.state)
        );
    }
    let text = match format {
        Format::Json => serde_json::to_string_pretty(&status)? + "\n",
        Format::Text => simulation_text(&status),
    };
    out.write_all(text.as_bytes())?;
    Ok(())
}

fn simulation_text(s: &cyrisk_app::book_sim::SimulationStatus) -> String {
    let mut t = String::new();
    let (Some(sim), Some(o)) = (&s.simulation, &s.outcome) else {
        return format!("simulation {}: {}\n", s.id, s.state);
    };
    let c = &sim.currency;
    let whose = sim.insurer_key_id.as_deref().unwrap_or("every insurer");
    let _ = writeln!(
        t,
        "Simulation {} of the book of {whose} as of {}: {} policies, {} years (seed {})",
        sim.id, sim.as_of, sim.policies, sim.trials, sim.seed
    );
    let _ = writeln!(
        t,
        "  expected annual loss   {:>16.0} {c}",
        sim.expected_loss
    );
    let _ = writeln!(
        t,
        "    attritional          {:>16.0} {c}\n    catastrophe          {:>16.0} {c}",
        o.attritional_expected_loss, o.catastrophe_expected_loss
    );
    let _ = writeln!(t, "  PML 1-in-100           {:>16.0} {c}", sim.pml_100);
    let _ = writeln!(t, "  PML 1-in-200           {:>16.0} {c}", sim.pml_200);
    let _ = writeln!(t, "  TVaR 99.5 %            {:>16.0} {c}", sim.tvar_995);
    for (dim, groups) in &o.accumulation {
        let _ = writeln!(
            t,
            "\nAccumulation by {dim} (largest share of the book's TVaR 99.5 % first):"
        );
        accumulation_lines(&mut t, groups, c);
    }
    if !o.left_out.is_empty() {
        let _ = writeln!(t, "\nLeft out: {} policies", o.left_out.len());
        for l in o.left_out.iter().take(10) {
            let _ = writeln!(t, "  {} ({}): {}", l.policy_id, l.org_id, l.reason);
        }
    }
    t
}

/// The five largest groups of one accumulation dimension, one line each ("none known" when
/// the dimension is empty).
fn accumulation_lines(
    t: &mut String,
    groups: &[cyrisk_app::book_sim::Accumulation],
    currency: &str,
) {
    if groups.is_empty() {
        let _ = writeln!(t, "  none known in this book");
    }
    for g in groups.iter().take(5) {
        let _ = writeln!(
            t,
            "  {:<40} policies {:>6}  limit {:>16.0} {currency}  expected loss {:>12.0}  {:>5.1} % of TVaR 99.5 %",
            g.key,
            g.policies,
            g.total_limit,
            g.expected_loss,
            g.co_tvar_share * 100.0
        );
    }
}
