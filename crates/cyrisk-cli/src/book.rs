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
    for m in s.top_risers.iter().chain(&s.top_fallers) {
        let _ = writeln!(t, "  {:+5}  {} → {}  {}", m.change, m.from, m.to, m.name);
    }
    t
}

/// `cyrisk export`.
pub(crate) fn export(
    table: TableArg,
    format: ExportArg,
    insurer: Option<&str>,
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
    };
    let bytes = runtime()?.block_on(async {
        let app = with_analytics(app(db).await?);
        let r = app
            .book_export(&Principal::operator(), insurer, table, format)
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
