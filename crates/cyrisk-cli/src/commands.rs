//! Subcommands and what they do.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::Context;
use chrono::NaiveDate;
use clap::{Args, Parser, Subcommand, ValueEnum};
use cyrisk_core::{Bundle, KevCatalog, RatingModel};

use crate::input_error;
use crate::output;

/// The KEV catalogue snapshot shipped with this build, used when `--kev` is not given.
pub(crate) const KEV_SNAPSHOT: &str = cyrisk_app::BUNDLED_KEV;

#[derive(Debug, Parser)]
#[command(
    name = "cyrisk",
    version,
    about = "Cyber-insurance risk quantification: rate, explain, plan."
)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Rate one organisation from an assessment bundle.
    Rate(RateArgs),
    /// Rank the fixes that would raise an organisation's score the most, with the loss and
    /// premium each removes.
    Plan(PlanArgs),
    /// Check a model against observed incidents: AUC, Brier score, calibration by decile,
    /// calibration intercept and slope, per-factor partial effects.
    Validate(crate::validate::ValidateArgs),
    /// Work with rating model files.
    #[command(subcommand)]
    Model(ModelCommand),
    /// Simulate a year of losses many times: expected loss, VaR/TVaR, exceedance curves.
    Simulate(crate::money::SimArgs),
    /// Simulate and price an insurance layer: premium and increased-limit factors.
    Price(crate::money::PriceArgs),
    /// Simulate a whole book with catastrophe scenarios: PML, co-TVaR, concentrations.
    Portfolio(crate::money::PortfolioArgs),
    /// Generate demo data.
    #[command(subcommand)]
    Demo(crate::money::DemoCommand),
    /// Serve the HTTP API (OpenAPI at /api/openapi.json, docs at /docs) with background
    /// workers.
    Serve(crate::serve::ServeArgs),
    /// Run background jobs (re-ratings queued by imports, input changes and feed loads)
    /// without serving HTTP.
    Worker(crate::jobs::WorkerArgs),
    /// Background jobs: list, show, retry a dead one.
    #[command(subcommand)]
    Jobs(crate::jobs::JobsCommand),
    /// Policies: list, show, cancel, the loss run of a book, a renewal pack.
    #[command(subcommand)]
    Policies(crate::follow::PoliciesCommand),
    /// Mid-policy alerts: list, acknowledge.
    #[command(subcommand)]
    Alerts(crate::follow::AlertsCommand),
    /// Remediation tickets: list, show, verify.
    #[command(subcommand)]
    Tickets(crate::follow::TicketsCommand),
    /// An organisation's timeline: ratings, alerts, tickets, imports, disputes, claims,
    /// policy changes, newest first.
    Timeline {
        #[arg(long = "org", value_name = "ID")]
        org: String,
        #[arg(long, default_value_t = 50, value_parser = clap::value_parser!(i64).range(1..=1000))]
        limit: i64,
        #[command(flatten)]
        db: crate::db::Db,
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
    },
    /// An organisation's one-click risk report (HTML or PDF, Simplified Chinese or English).
    Report {
        #[arg(long = "org", value_name = "ID")]
        org: String,
        /// `zh-CN` or `en`.
        #[arg(long, default_value = "zh-CN")]
        lang: String,
        /// `html` or `pdf` (PDF needs the Noto Sans CJK fonts: Debian's fonts-noto-cjk, or
        /// CYRISK_FONT_DIR).
        #[arg(long, default_value = "html")]
        format: String,
        /// The file to write (default: standard output).
        #[arg(short, long)]
        output: Option<std::path::PathBuf>,
        #[command(flatten)]
        db: crate::db::Db,
    },
    /// One table of the stored book for actuaries, as CSV or Parquet (column names and types
    /// in README, "The insurer's book").
    Export {
        #[arg(long, value_enum)]
        table: crate::book::TableArg,
        #[arg(long, value_enum, default_value = "csv")]
        format: crate::book::ExportArg,
        /// One insurer's book (its key id); default everything.
        #[arg(long, value_name = "KEY_ID")]
        insurer: Option<String>,
        /// `--table simulation`: this simulation's results [default: the book's newest].
        #[arg(long, value_name = "ID")]
        simulation: Option<String>,
        /// The file to write (default: standard output).
        #[arg(short, long)]
        output: Option<std::path::PathBuf>,
        #[command(flatten)]
        db: crate::db::Db,
    },
    /// Print the OpenAPI document of the HTTP API.
    Openapi,
    /// Create or upgrade the database schema.
    Migrate {
        #[command(flatten)]
        db: crate::db::Db,
    },
    /// Organisations in the database.
    #[command(subcommand)]
    Orgs(crate::db::OrgsCommand),
    /// API keys in the database.
    #[command(subcommand)]
    Keys(crate::db::KeysCommand),
    /// Import a scan or spreadsheet into an organisation: reconcile, re-rate, summarise.
    Import(crate::import::ImportArgs),
    /// Threat-intelligence feeds (KEV, EPSS).
    #[command(subcommand)]
    Feeds(crate::import::FeedsCommand),
    /// Print the JSON Schema of the assessment bundle format.
    Schema,
}

#[derive(Debug, Subcommand)]
enum ModelCommand {
    /// Check that a model file is valid; prints its id and version.
    Check {
        /// The model file (TOML).
        file: PathBuf,
    },
    /// Refit the model's level (and with --slope its slope on ln λ) to observed incidents by
    /// maximum likelihood; writes a new model version with the fit recorded in it.
    Recalibrate(crate::validate::RecalibrateArgs),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum Format {
    Json,
    Text,
}

#[derive(Debug, Args)]
pub(crate) struct Common {
    /// The assessment bundle (JSON); see `cyrisk schema`.
    #[arg(long, short)]
    pub(crate) input: PathBuf,
    /// Rating model file [default: the built-in models/rating-v2.toml; models/rating-v1.toml
    /// reproduces ratings made under v1].
    #[arg(long)]
    pub(crate) model: Option<PathBuf>,
    /// Rate as of this date (YYYY-MM-DD) [default: today].
    #[arg(long, value_parser = parse_date)]
    pub(crate) as_of: Option<NaiveDate>,
    /// CISA KEV catalogue JSON to mark known-exploited findings [default: the bundled snapshot].
    #[arg(long, conflicts_with = "no_kev")]
    pub(crate) kev: Option<PathBuf>,
    /// Do not mark findings from any KEV catalogue; use only what the bundle says.
    #[arg(long)]
    pub(crate) no_kev: bool,
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub(crate) format: Format,
    /// Write the result to this file (atomically) instead of standard output.
    #[arg(long, short)]
    pub(crate) output: Option<PathBuf>,
}

#[derive(Debug, Args)]
struct RateArgs {
    #[command(flatten)]
    common: Common,
}

#[derive(Debug, Args)]
struct PlanArgs {
    #[command(flatten)]
    common: Common,
    /// How many fixes to list.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u32).range(1..=1000))]
    top: u32,
    /// Rank by score points gained or by expected annual loss removed.
    #[arg(long, value_enum, default_value_t = RankArg::Score)]
    by: RankArg,
    /// Price the plan for this layer's deductible [default: the standard primary layer for
    /// the organisation's size band].
    #[arg(long, requires = "limit")]
    deductible: Option<f64>,
    /// The layer's per-occurrence limit.
    #[arg(long)]
    limit: Option<f64>,
    /// Leave money out: score gains only.
    #[arg(long, conflicts_with_all = ["deductible", "limit"])]
    no_money: bool,
    /// Severity model file [default: the built-in models/severity-v2.toml].
    #[arg(long)]
    severity_model: Option<PathBuf>,
    /// Pricing model file [default: the built-in models/pricing-v2.toml].
    #[arg(long)]
    pricing_model: Option<PathBuf>,
    #[arg(long, default_value_t = 1)]
    seed: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum RankArg {
    /// Score points gained.
    Score,
    /// Expected annual loss removed.
    Loss,
}

pub(crate) fn parse_date(s: &str) -> Result<NaiveDate, String> {
    NaiveDate::parse_from_str(s, "%Y-%m-%d")
        .map_err(|e| format!("{s:?} is not a YYYY-MM-DD date: {e}"))
}

pub(crate) fn dispatch(cli: Cli, out: &mut dyn Write, err: &mut dyn Write) -> anyhow::Result<()> {
    match cli.command {
        Command::Rate(a) => {
            let loaded = load(&a.common)?;
            let rating = cyrisk_core::rate(&loaded.bundle, &loaded.model, loaded.as_of);
            let text = match a.common.format {
                Format::Json => output::rating_json(&rating, &loaded.kev)?,
                Format::Text => output::rating_text(&rating, &loaded.kev),
            };
            emit(&text, a.common.output.as_deref(), out)
        }
        Command::Plan(a) => {
            if a.no_money && a.by == RankArg::Loss {
                return Err(input_error("--by loss needs the money: drop --no-money"));
            }
            let loaded = load(&a.common)?;
            let plan = if a.no_money {
                cyrisk_core::plan(&loaded.bundle, &loaded.model, loaded.as_of, a.top as usize)
            } else {
                crate::money::priced_plan(
                    &loaded,
                    crate::money::PlanPricing {
                        by: match a.by {
                            RankArg::Score => cyrisk_sim::money_plan::RankBy::Score,
                            RankArg::Loss => cyrisk_sim::money_plan::RankBy::Loss,
                        },
                        deductible: a.deductible,
                        limit: a.limit,
                        severity_model: a.severity_model.clone(),
                        pricing_model: a.pricing_model.clone(),
                        top: a.top as usize,
                        seed: a.seed,
                    },
                )?
            };
            let text = match a.common.format {
                Format::Json => serde_json::to_string_pretty(&plan)? + "\n",
                Format::Text => output::plan_text(&plan),
            };
            emit(&text, a.common.output.as_deref(), out)
        }
        Command::Model(ModelCommand::Check { file }) => {
            let model = load_model(Some(&file))?;
            let factors = model.factors.iter().count();
            writeln!(
                out,
                "{}: ok ({} {}, {factors} factors)",
                file.display(),
                model.id,
                model.version
            )?;
            Ok(())
        }
        Command::Model(ModelCommand::Recalibrate(a)) => crate::validate::recalibrate_cmd(&a, out),
        Command::Validate(a) => crate::validate::validate_cmd(&a, out),
        Command::Simulate(a) => crate::money::simulate_cmd(&a, out),
        Command::Price(a) => crate::money::price_cmd(&a, out),
        Command::Portfolio(a) => crate::money::portfolio_cmd(&a, out),
        Command::Demo(cmd) => crate::money::demo_cmd(&cmd, out),
        Command::Serve(a) => crate::serve::serve(&a, out),
        Command::Openapi => crate::serve::print_openapi(out),
        Command::Worker(a) => crate::jobs::worker(&a, out),
        Command::Jobs(cmd) => crate::jobs::jobs(&cmd, out),
        Command::Policies(cmd) => crate::follow::policies(&cmd, out),
        Command::Report {
            org,
            lang,
            format,
            output,
            db,
        } => crate::follow::report(&org, &lang, &format, output.as_deref(), &db, out),
        Command::Export {
            table,
            format,
            insurer,
            simulation,
            output,
            db,
        } => crate::book::export(
            table,
            format,
            insurer.as_deref(),
            simulation.as_deref(),
            output.as_deref(),
            &db,
            out,
        ),
        Command::Alerts(cmd) => crate::follow::alerts(&cmd, out),
        Command::Tickets(cmd) => crate::follow::tickets(&cmd, out),
        Command::Timeline {
            org,
            limit,
            db,
            format,
        } => crate::follow::timeline(&org, limit, &db, format, out),
        Command::Migrate { db } => crate::db::migrate(&db, out),
        Command::Orgs(cmd) => crate::db::orgs(&cmd, out),
        Command::Keys(cmd) => crate::db::keys(&cmd, out),
        Command::Import(a) => crate::import::import(&a, out, err),
        Command::Feeds(cmd) => crate::import::feeds(&cmd, out, err),
        Command::Schema => {
            writeln!(out, "{}", cyrisk_core::bundle::json_schema())?;
            Ok(())
        }
    }
}

/// What the KEV enrichment did, for the output's `sources`.
#[derive(Debug, Clone, serde::Serialize)]
pub(crate) struct KevUse {
    pub catalog_version: String,
    pub source: String,
    pub findings_marked: usize,
}

pub(crate) struct Loaded {
    pub(crate) bundle: Bundle,
    pub(crate) model: RatingModel,
    pub(crate) as_of: NaiveDate,
    pub(crate) kev: Option<KevUse>,
}

pub(crate) fn read(path: &Path, what: &str) -> anyhow::Result<String> {
    std::fs::read_to_string(path)
        .map_err(|e| input_error(format!("cannot read {what} {}: {e}", path.display())))
}

fn load_model(path: Option<&Path>) -> anyhow::Result<RatingModel> {
    match path {
        None => Ok(RatingModel::builtin()),
        Some(p) => {
            let text = read(p, "model file")?;
            RatingModel::from_toml(&text).map_err(|e| input_error(format!("{}: {e}", p.display())))
        }
    }
}

pub(crate) fn load(c: &Common) -> anyhow::Result<Loaded> {
    let model = load_model(c.model.as_deref())?;
    let text = read(&c.input, "bundle")?;
    let mut bundle =
        Bundle::from_json(&text).map_err(|e| input_error(format!("{}: {e}", c.input.display())))?;
    let kev = if c.no_kev {
        None
    } else {
        let (text, source) = match &c.kev {
            Some(p) => (read(p, "KEV catalogue")?, p.display().to_string()),
            None => (KEV_SNAPSHOT.to_owned(), "bundled snapshot".to_owned()),
        };
        let catalog = KevCatalog::from_json(&text)
            .map_err(|e| input_error(format!("{source}: not a KEV catalogue: {e}")))?;
        let marked = bundle.apply_kev(&catalog);
        Some(KevUse {
            catalog_version: catalog.version,
            source,
            findings_marked: marked,
        })
    };
    let as_of = c.as_of.unwrap_or_else(|| chrono::Local::now().date_naive());
    Ok(Loaded {
        bundle,
        model,
        as_of,
        kev,
    })
}

/// Writes to the output file atomically (temporary file, then rename), or to stdout.
pub(crate) fn emit(
    text: impl AsRef<[u8]>,
    path: Option<&Path>,
    out: &mut dyn Write,
) -> anyhow::Result<()> {
    let text = text.as_ref();
    match path {
        None => out.write_all(text).context("writing standard output"),
        Some(p) => {
            let dir = p
                .parent()
                .filter(|d| !d.as_os_str().is_empty())
                .unwrap_or(Path::new("."));
            let name = p
                .file_name()
                .ok_or_else(|| input_error(format!("{} is not a file name", p.display())))?;
            let tmp = dir.join(format!(
                ".{}.tmp-{}",
                name.to_string_lossy(),
                std::process::id()
            ));
            std::fs::write(&tmp, text)
                .map_err(|e| input_error(format!("cannot write {}: {e}", tmp.display())))?;
            std::fs::rename(&tmp, p).map_err(|e| {
                let _ = std::fs::remove_file(&tmp);
                input_error(format!("cannot write {}: {e}", p.display()))
            })
        }
    }
}
