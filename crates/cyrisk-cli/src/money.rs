//! The money commands: simulate, price, portfolio, demo book.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::Write;
use std::path::{Path, PathBuf};

use clap::{Args, Subcommand, ValueEnum};
use cyrisk_core::KevCatalog;
use cyrisk_sim::bridge::{RatedRisk, loss_model};
use cyrisk_sim::frequency::Frequency;
use cyrisk_sim::portfolio::{
    Book, Insured, Policy, Portfolio, PortfolioResult, ProductRef, ScenarioCatalogue,
};
use cyrisk_sim::pricing::{Premium, PricingContext, PricingModel, ilf_table, premium_in};
use cyrisk_sim::scenario::ScenarioFile;
use cyrisk_sim::severity::{Coverage, EventModel, SeverityModel};
use cyrisk_sim::simulate::{SimResult, SimSpec, simulate};
use cyrisk_sim::terms::Layer;
use cyrisk_sim::{demo, error::SimError, exact};
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::json;

use crate::commands::{Common, Format, KEV_SNAPSHOT, emit, load, parse_date, read};
use crate::input_error;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum Method {
    /// Simulate years.
    MonteCarlo,
    /// Compute the aggregate distribution (compound distribution by FFT, the transform form
    /// of Panjer's recursion).
    #[value(alias = "panjer", alias = "fft")]
    Exact,
}

/// What to simulate and the layer to apply.
#[derive(Debug, Clone, Args)]
pub(crate) struct SimArgs {
    /// An assessment bundle: the rating gives the frequency, the profile the severity.
    #[arg(
        long,
        short,
        required_unless_present = "scenario",
        conflicts_with = "scenario"
    )]
    input: Option<PathBuf>,
    /// An explicit scenario (TOML: frequency and severity) instead of a bundle.
    #[arg(long)]
    scenario: Option<PathBuf>,
    /// Rating model file [default: the built-in models/rating-v2.toml].
    #[arg(long)]
    model: Option<PathBuf>,
    /// Severity model file [default: the built-in models/severity-v2.toml].
    #[arg(long)]
    severity_model: Option<PathBuf>,
    /// Rate as of this date (YYYY-MM-DD) [default: today].
    #[arg(long, value_parser = parse_date)]
    as_of: Option<chrono::NaiveDate>,
    /// CISA KEV catalogue JSON [default: the bundled snapshot].
    #[arg(long, conflicts_with = "no_kev")]
    kev: Option<PathBuf>,
    #[arg(long)]
    no_kev: bool,
    /// Simulated years.
    #[arg(long, default_value_t = 100_000)]
    trials: u64,
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Per-occurrence deductible.
    #[arg(long, default_value_t = 0.0, allow_negative_numbers = true)]
    deductible: f64,
    /// Per-occurrence limit [default: unlimited].
    #[arg(long, allow_negative_numbers = true)]
    limit: Option<f64>,
    /// Annual aggregate limit [default: none].
    #[arg(long, allow_negative_numbers = true)]
    aggregate_limit: Option<f64>,
    /// A per-coverage sublimit, e.g. `extortion=500000` (repeatable).
    #[arg(long, value_parser = parse_sublimit)]
    sublimit: Vec<(Coverage, f64)>,
    /// monte-carlo simulates years; exact computes the aggregate distribution (FFT).
    #[arg(long, value_enum, default_value_t = Method::MonteCarlo)]
    method: Method,
    /// Negative binomial counts whose spread reflects the rating's confidence (`price` then
    /// adds no parameter-risk load: the uncertainty is in the simulated losses).
    #[arg(long)]
    parameter_uncertainty: bool,
    #[arg(long, value_enum, default_value_t = Format::Text)]
    format: Format,
    /// Write the result to this file (atomically) instead of standard output.
    #[arg(long, short)]
    output: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub(crate) struct PriceArgs {
    #[command(flatten)]
    sim: SimArgs,
    /// Pricing model file [default: the built-in models/pricing-v2.toml].
    #[arg(long)]
    pricing_model: Option<PathBuf>,
    /// Price into this book (JSON, as `cyrisk demo book` writes): the layer's capital is its
    /// co-TVaR 99.5 % in the book (simulated with the layer added, shared-product
    /// catastrophes included) minus its expected loss, instead of the pricing model's
    /// covariance allocation against its reference book.
    #[arg(long)]
    book: Option<PathBuf>,
    /// Years to simulate the book for.
    #[arg(long, default_value_t = 50_000, requires = "book", value_parser = clap::value_parser!(u64).range(1000..=10_000_000))]
    book_trials: u64,
}

/// The capital the layer takes in `book`: its co-TVaR 99.5 % (mean layer loss in the book's
/// worst 0.5 % of years, the layer added as one more insured, shared-product catastrophes
/// included) minus its expected loss there, in the layer's currency.
fn co_tvar_capital(
    path: &Path,
    candidate: &Insured,
    layer: &Layer,
    to_model: f64,
    trials: u64,
) -> anyhow::Result<f64> {
    let mut book = Book::from_json(&read(path, "book")?)
        .map_err(|e| input_error(format!("{}: {e}", path.display())))?;
    let Some(limit) = layer.limit else {
        return Err(input_error("--book needs a per-occurrence --limit"));
    };
    let mut ins = candidate.clone();
    ins.policy = Policy {
        deductible: layer.deductible * to_model,
        limit: limit * to_model,
        aggregate_limit: layer.aggregate_limit.map(|a| a * to_model),
    };
    let id = ins.id.clone();
    book.insureds.push(ins);
    let portfolio = Portfolio::new(
        book,
        &SeverityModel::builtin(),
        &ScenarioCatalogue::builtin(),
    )
    .map_err(|e| input_error(format!("{}: {e}", path.display())))?;
    let r = portfolio.run(trials, 1, 1, &|_| {}).map_err(sim_error)?;
    let me = r
        .insured_results
        .iter()
        .find(|i| i.id == id)
        .ok_or_else(|| anyhow::anyhow!("the quoted risk is missing from the book's results"))?;
    Ok((me.co_tvar - me.expected_loss).max(0.0) / to_model)
}

#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
pub(crate) struct PortfolioArgs {
    #[command(subcommand)]
    pub(crate) command: Option<PortfolioCommand>,
    /// The book (JSON); `cyrisk demo book` writes one.
    #[arg(long, short, required = true)]
    input: Option<PathBuf>,
    #[arg(long, default_value_t = 10_000)]
    trials: u64,
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Scenario catalogue [default: the built-in models/scenarios-v1.toml].
    #[arg(long)]
    scenarios: Option<PathBuf>,
    #[arg(long)]
    severity_model: Option<PathBuf>,
    /// How many groups to list per concentration dimension.
    #[arg(long, default_value_t = 10)]
    top: usize,
    #[arg(long, value_enum, default_value_t = Format::Text)]
    format: Format,
    #[arg(long, short)]
    output: Option<PathBuf>,
}

/// The stored book (`cyrisk portfolio summary`), besides simulating a book file.
#[derive(Debug, Subcommand)]
pub(crate) enum PortfolioCommand {
    /// The stored book's summary: totals by grade, industry, region and size band, the score
    /// distribution, peer percentiles, the largest moves.
    Summary {
        /// One insurer's book (its key id); default every organisation and policy.
        #[arg(long, value_name = "KEY_ID")]
        insurer: Option<String>,
        /// Moves over the last this many days.
        #[arg(long, default_value_t = 30, value_parser = clap::value_parser!(u32).range(1..=3650))]
        period_days: u32,
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
        #[command(flatten)]
        db: crate::db::Db,
    },
    /// Simulate the stored book: every rated policy in force, with its organisation's latest
    /// rating and inventory (catastrophe scenarios, PML 1-in-100/200, TVaR, co-TVaR per
    /// policy, accumulation by product, vendor and provider). The result is stored; the
    /// insurer's later quotes take their capital from it.
    Simulate {
        /// One insurer's book (its key id); default every policy in force.
        #[arg(long, value_name = "KEY_ID")]
        insurer: Option<String>,
        /// Years to simulate.
        #[arg(long, default_value_t = 10_000, value_parser = clap::value_parser!(u64).range(1000..=200_000))]
        trials: u64,
        #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u64).range(0..=i64::MAX as u64))]
        seed: u64,
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
        #[command(flatten)]
        db: crate::db::Db,
    },
}

#[derive(Debug, Subcommand)]
pub(crate) enum DemoCommand {
    /// Write a synthetic book of rated insureds (seeded, reproducible).
    Book {
        #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u64).range(1..=1_000_000))]
        size: u64,
        #[arg(long, default_value_t = 7)]
        seed: u64,
        /// Rate the synthetic insureds as of this date [default: today].
        #[arg(long, value_parser = parse_date)]
        as_of: Option<chrono::NaiveDate>,
        #[arg(long, short)]
        output: Option<PathBuf>,
    },
    /// Write synthetic organisations' assessment bundles into a directory (one
    /// `INS-NNNNN.json` each; seeded, reproducible) for `cyrisk validate`.
    Bundles {
        #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u64).range(1..=200_000))]
        size: u64,
        #[arg(long, default_value_t = 7)]
        seed: u64,
        /// Date the bundles' scans and evidence are relative to [default: today].
        #[arg(long, value_parser = parse_date)]
        as_of: Option<chrono::NaiveDate>,
        /// The directory to write into (created if missing).
        #[arg(long, short)]
        output: PathBuf,
    },
    /// Draw synthetic incident outcomes with a known hazard for a directory of bundles or a
    /// book: Poisson(years · e^level · λ^slope), λ the model's rate. Writes the CSV
    /// `cyrisk validate --outcomes` reads.
    Outcomes {
        /// A directory of bundles or a book (JSON).
        #[arg(long, short)]
        input: PathBuf,
        /// Rating model for bundles [default: the built-in models/rating-v2.toml].
        #[arg(long)]
        model: Option<PathBuf>,
        #[arg(long, value_parser = parse_date)]
        as_of: Option<chrono::NaiveDate>,
        /// Years each organisation is observed.
        #[arg(long, default_value_t = 3.0)]
        years: f64,
        /// ln of the true rate's level relative to the model's.
        #[arg(long, default_value_t = 0.0, allow_negative_numbers = true)]
        level: f64,
        /// The true rate's slope on ln λ.
        #[arg(long, default_value_t = 1.0)]
        slope: f64,
        #[arg(long, default_value_t = 1)]
        seed: u64,
        #[arg(long, short)]
        output: Option<PathBuf>,
    },
}

fn parse_sublimit(s: &str) -> Result<(Coverage, f64), String> {
    let (c, v) = s
        .split_once('=')
        .ok_or_else(|| format!("{s:?} is not COVERAGE=AMOUNT"))?;
    let coverage: Coverage = serde_json::from_value(json!(c.trim())).map_err(|_| {
        format!(
            "unknown coverage {c:?}; one of {}",
            Coverage::ALL.map(|c| c.as_str()).join(", ")
        )
    })?;
    let amount: f64 = v
        .trim()
        .parse()
        .map_err(|_| format!("{v:?} is not an amount"))?;
    Ok((coverage, amount))
}

fn sim_error(e: SimError) -> anyhow::Error {
    input_error(e.to_string())
}

fn progress_bar(total: u64, what: &str) -> ProgressBar {
    let bar = ProgressBar::new(total);
    bar.set_style(
        ProgressStyle::with_template("{msg} [{bar:40}] {human_pos}/{human_len} ({eta})")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    bar.set_message(what.to_owned());
    bar
}

/// How to price a plan.
#[derive(Debug)]
pub(crate) struct PlanPricing {
    pub by: cyrisk_sim::money_plan::RankBy,
    pub deductible: Option<f64>,
    pub limit: Option<f64>,
    pub severity_model: Option<PathBuf>,
    pub pricing_model: Option<PathBuf>,
    pub top: usize,
    pub seed: u64,
}

fn load_pricing(path: Option<&Path>) -> anyhow::Result<PricingModel> {
    match path {
        None => Ok(PricingModel::builtin()),
        Some(p) => PricingModel::from_toml(&read(p, "pricing model")?)
            .map_err(|e| input_error(format!("{}: {e}", p.display()))),
    }
}

/// The remediation plan with each fix's loss and premium reduction.
pub(crate) fn priced_plan(
    loaded: &crate::commands::Loaded,
    how: PlanPricing,
) -> anyhow::Result<cyrisk_core::Plan> {
    use cyrisk_sim::money_plan::{PlanLayer, money_plan};
    let severity = load_severity(how.severity_model.as_deref())?;
    let pricing = load_pricing(how.pricing_model.as_deref())?;
    let layer = match how.limit {
        Some(limit) => Some(PlanLayer {
            layer: Layer::new(
                how.deductible.unwrap_or(0.0),
                Some(limit),
                None,
                BTreeMap::new(),
            )
            .map_err(sim_error)?,
            source: "requested".to_owned(),
        }),
        None => None,
    };
    money_plan(
        &loaded.bundle,
        &loaded.model,
        loaded.as_of,
        &severity,
        &pricing,
        layer,
        how.by,
        how.top,
        how.seed,
    )
    .map_err(sim_error)
}

fn load_severity(path: Option<&Path>) -> anyhow::Result<SeverityModel> {
    match path {
        None => Ok(SeverityModel::builtin()),
        Some(p) => SeverityModel::from_toml(&read(p, "severity model")?)
            .map_err(|e| input_error(format!("{}: {e}", p.display()))),
    }
}

/// Where the frequency and severity came from, for the output.
struct Source {
    events: EventModel,
    frequency: Frequency,
    currency: String,
    about: serde_json::Value,
    /// The rating's standard deviation of ln λ (0 for a scenario).
    log_rate_sigma: f64,
    /// Units of the severity model's currency per unit of `currency`.
    to_model_currency: f64,
    /// The rated organisation as an insured of a book (amounts in the model's currency),
    /// for pricing into a book; `None` for a scenario.
    insured: Option<Insured>,
}

fn source(a: &SimArgs) -> anyhow::Result<Source> {
    let severity = load_severity(a.severity_model.as_deref())?;
    if let Some(path) = &a.scenario {
        let s = ScenarioFile::from_toml(&read(path, "scenario")?)
            .map_err(|e| input_error(format!("{}: {e}", path.display())))?;
        let events = s
            .events()
            .map_err(|e| input_error(format!("{}: {e}", path.display())))?;
        let frequency = s
            .frequency()
            .map_err(|e| input_error(format!("{}: {e}", path.display())))?;
        return Ok(Source {
            events,
            frequency,
            currency: severity.currency,
            about: json!({ "scenario": if s.name.trim().is_empty() { path.display().to_string() } else { s.name.clone() } }),
            log_rate_sigma: 0.0,
            to_model_currency: 1.0,
            insured: None,
        });
    }
    let input = a
        .input
        .clone()
        .ok_or_else(|| input_error("give --input BUNDLE or --scenario FILE"))?;
    let common = Common {
        input,
        model: a.model.clone(),
        as_of: a.as_of,
        kev: a.kev.clone(),
        no_kev: a.no_kev,
        format: a.format,
        output: None,
    };
    let loaded = load(&common)?;
    let rating = cyrisk_core::rate(&loaded.bundle, &loaded.model, loaded.as_of);
    let profile = loaded.bundle.profile();
    let lm = loss_model(
        &RatedRisk::from_rating(&rating),
        profile,
        &severity,
        a.parameter_uncertainty,
    )
    .map_err(sim_error)?;
    let to_model_currency = severity.rate_to_model(&lm.currency).unwrap_or(1.0);
    let mut products: Vec<ProductRef> = loaded
        .bundle
        .assets()
        .iter()
        .filter_map(|a| match (&a.vendor, &a.product) {
            (Some(v), Some(p)) => Some(ProductRef {
                vendor: v.clone(),
                product: p.clone(),
            }),
            _ => None,
        })
        .collect();
    products.sort_by(|a, b| (&a.vendor, &a.product).cmp(&(&b.vendor, &b.product)));
    products.dedup();
    let insured = Insured {
        id: "quoted-risk".to_owned(),
        name: profile.name.clone(),
        industry: profile.industry,
        region: profile.region.clone(),
        annual_revenue: profile.annual_revenue.get() * to_model_currency,
        personal_records: profile.data.as_ref().map_or(0, |d| d.personal_records),
        expected_incident_rate: rating.expected_incident_rate,
        score: Some(rating.score),
        grade: Some(rating.grade.clone()),
        products,
        providers: Vec::new(),
        policy: Policy {
            deductible: 0.0,
            limit: 1.0,
            aggregate_limit: None,
        },
    };
    Ok(Source {
        insured: Some(insured),
        events: lm.events,
        frequency: lm.frequency,
        currency: lm.currency,
        log_rate_sigma: rating.confidence.log_rate_sigma,
        to_model_currency,
        about: json!({
            "organization": rating.organization,
            "as_of": rating.as_of,
            "score": rating.score,
            "grade": rating.grade,
            "expected_incident_rate": rating.expected_incident_rate,
            "rating_model": rating.model,
            "log_rate_sigma": rating.confidence.log_rate_sigma,
            "perils": rating.perils,
        }),
    })
}

fn layer_of(a: &SimArgs) -> anyhow::Result<Layer> {
    let sublimits: BTreeMap<Coverage, f64> = a.sublimit.iter().copied().collect();
    Layer::new(a.deductible, a.limit, a.aggregate_limit, sublimits).map_err(sim_error)
}

fn run_sim(a: &SimArgs, src: &Source, layer: &Layer) -> anyhow::Result<SimResult> {
    match a.method {
        Method::Exact => {
            exact::aggregate(&src.events, src.frequency, layer, a.seed).map_err(sim_error)
        }
        Method::MonteCarlo => {
            let bar = if a.trials >= 2_000_000 {
                progress_bar(a.trials, "simulating")
            } else {
                ProgressBar::hidden()
            };
            let spec = SimSpec {
                events: &src.events,
                frequency: src.frequency,
                layer,
                trials: a.trials,
                seed: a.seed,
            };
            let r = simulate(&spec, &|years| bar.inc(years)).map_err(sim_error);
            bar.finish_and_clear();
            r
        }
    }
}

pub(crate) fn simulate_cmd(a: &SimArgs, out: &mut dyn Write) -> anyhow::Result<()> {
    let layer = layer_of(a)?;
    let src = source(a)?;
    let r = run_sim(a, &src, &layer)?;
    let text = match a.format {
        Format::Json => {
            let mut v = serde_json::to_value(&r)?;
            v["currency"] = json!(src.currency);
            v["source"] = src.about.clone();
            serde_json::to_string_pretty(&v)? + "\n"
        }
        Format::Text => sim_text(&r, &src, None, &[]),
    };
    emit(&text, a.output.as_deref(), out)
}

pub(crate) fn price_cmd(a: &PriceArgs, out: &mut dyn Write) -> anyhow::Result<()> {
    let pricing = load_pricing(a.pricing_model.as_deref())?;
    let layer = layer_of(&a.sim)?;
    let src = source(&a.sim)?;
    let r = run_sim(&a.sim, &src, &layer)?;
    // Capital from a simulated book: the layer's own co-TVaR in it, at each limit.
    let capital_in = |ly: &Layer| -> anyhow::Result<Option<f64>> {
        match (&a.book, &src.insured) {
            (None, _) => Ok(None),
            (Some(_), None) => Err(input_error(
                "--book prices a bundle (--input), not a scenario",
            )),
            (Some(book), Some(ins)) => {
                co_tvar_capital(book, ins, ly, src.to_model_currency, a.book_trials).map(Some)
            }
        }
    };
    let bar = if a.book.is_some() {
        progress_bar(pricing.ilf_limits.len() as u64 + 1, "simulating the book")
    } else {
        ProgressBar::hidden()
    };
    let allocated = capital_in(&layer)?;
    bar.inc(1);
    let mut ctx = PricingContext {
        allocated_capital: allocated,
        // With --parameter-uncertainty the rate's uncertainty is already in the counts
        // (negative binomial): no parameter-risk load on top.
        log_rate_sigma: if a.sim.parameter_uncertainty {
            0.0
        } else {
            src.log_rate_sigma
        },
        currency: Some(src.currency.clone()),
        to_model_currency: src.to_model_currency,
    };
    let prem = premium_in(&r, &pricing, &ctx);
    // Increased-limit factors on the same draws (same seed), relative to the quote's limit:
    // technical premium at each limit over that at the base limit (loss and risk load both
    // grow with the limit).
    let mut limits: Vec<f64> = pricing.ilf_limits.clone();
    if let Some(l) = layer.limit
        && !limits.contains(&l)
    {
        limits.push(l);
        limits.sort_by(f64::total_cmp);
    }
    let base = layer
        .limit
        .unwrap_or(limits.first().copied().unwrap_or(1.0));
    let mut points = Vec::new();
    for &l in limits.iter().filter(|l| **l > layer.deductible) {
        let ly = Layer::new(layer.deductible, Some(l), None, layer.sublimits.clone())
            .map_err(sim_error)?;
        let quick = SimArgs {
            trials: a.sim.trials.min(1_000_000),
            ..a.sim.clone()
        };
        let at = run_sim(&quick, &src, &ly)?;
        ctx.allocated_capital = capital_in(&ly)?;
        bar.inc(1);
        points.push((l, premium_in(&at, &pricing, &ctx).technical_premium));
    }
    bar.finish_and_clear();
    let ilf = ilf_table(&points, base);
    let text = match a.sim.format {
        Format::Json => {
            let mut v = serde_json::to_value(&r)?;
            v["currency"] = json!(src.currency);
            v["source"] = src.about.clone();
            v["premium"] = serde_json::to_value(&prem)?;
            v["ilf"] = serde_json::to_value(&ilf)?;
            serde_json::to_string_pretty(&v)? + "\n"
        }
        Format::Text => sim_text(&r, &src, Some(&prem), &ilf),
    };
    emit(&text, a.sim.output.as_deref(), out)
}

/// An amount with thousands separators and no decimals; "n/a" when not finite.
pub(crate) fn money(v: f64) -> String {
    if !v.is_finite() {
        return "n/a".to_owned();
    }
    let s = format!("{:.0}", v.abs());
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    if v < 0.0 { format!("-{out}") } else { out }
}

fn sim_text(
    r: &SimResult,
    src: &Source,
    prem: Option<&Premium>,
    ilf: &[cyrisk_sim::pricing::IlfPoint],
) -> String {
    let c = &src.currency;
    let mut s = String::new();
    let about = src
        .about
        .get("organization")
        .or(src.about.get("scenario"))
        .and_then(|v| v.as_str())
        .unwrap_or("");
    let _ = writeln!(
        s,
        "{about} — {} ({} years, seed {})",
        r.method.replace('_', " "),
        r.trials,
        r.seed
    );
    let _ = match r.frequency {
        Frequency::Poisson { lambda } => {
            writeln!(s, "Frequency: Poisson, {lambda:.4} events a year")
        }
        Frequency::NegativeBinomial { lambda, shape } => {
            writeln!(
                s,
                "Frequency: negative binomial, {lambda:.4} events a year, shape {shape:.3}"
            )
        }
    };
    let limit = r.layer.limit.map_or("unlimited".to_owned(), money);
    let agg = r.layer.aggregate_limit.map_or("none".to_owned(), money);
    let _ = writeln!(
        s,
        "Layer: {limit} xs {} per occurrence, aggregate {agg} ({c})",
        money(r.layer.deductible)
    );
    let _ = writeln!(
        s,
        "Expected annual loss: gross {}  in layer {}{}",
        money(r.expected_loss),
        money(r.layer.expected_loss),
        r.layer
            .standard_error
            .map_or(String::new(), |se| format!(" (± {} s.e.)", money(se)))
    );
    let _ = writeln!(
        s,
        "Probability the layer pays in a year: {:.2} %",
        r.layer.attach_probability * 100.0
    );
    let _ = writeln!(
        s,
        "Std dev {}   VaR 95/99/99.5: {} / {} / {}   TVaR: {} / {} / {}",
        money(r.std_dev),
        money(r.var["95"]),
        money(r.var["99"]),
        money(r.var["99.5"]),
        money(r.tvar["95"]),
        money(r.tvar["99"]),
        money(r.tvar["99.5"])
    );
    let _ = writeln!(s, "\nReturn period   aggregate loss   largest occurrence");
    for (a, o) in r.ep_curve.iter().zip(&r.occurrence_ep_curve) {
        let _ = writeln!(
            s,
            "  {:>6}  {:>16}  {:>18}",
            a.return_period,
            money(a.loss),
            money(o.loss)
        );
    }
    let _ = writeln!(s, "\nBy coverage (expected annual, gross / layer):");
    for (k, v) in &r.by_coverage {
        let _ = writeln!(
            s,
            "  {k:<24} {:>14} / {:>14}",
            money(v.gross),
            money(v.layer)
        );
    }
    if let Some(p) = prem {
        let _ = writeln!(s, "\nPremium ({}):", p.model);
        let _ = writeln!(s, "  pure premium       {:>14}", money(p.pure_premium));
        let _ = writeln!(
            s,
            "  parameter risk     {:>14}",
            money(p.parameter_risk_load)
        );
        let _ = writeln!(
            s,
            "  risk load          {:>14}  ({:.0} % of capital {}, {})",
            money(p.risk_load),
            p.cost_of_capital * 100.0,
            money(p.capital),
            match p.capital_method {
                "book_co_tvar" => "co-TVaR in the book",
                "book_covariance" => "covariance with the reference book",
                _ => "stand-alone TVaR",
            }
        );
        let _ = writeln!(
            s,
            "  expenses           {:>14}  ({:.0} %)",
            money(p.expense_loading),
            p.expense_ratio * 100.0
        );
        let _ = writeln!(
            s,
            "  profit             {:>14}  ({:.0} %)",
            money(p.profit_loading),
            p.profit_margin * 100.0
        );
        let _ = writeln!(s, "  technical premium  {:>14}", money(p.technical_premium));
        let _ = writeln!(
            s,
            "  premium            {:>14} {c}{}",
            money(p.premium),
            p.rate_on_line.map_or(String::new(), |r| format!(
                "  (rate on line {:.2} %)",
                r * 100.0
            ))
        );
        if p.pure_premium > 0.0 {
            let _ = writeln!(
                s,
                "  technical premium ÷ expected layer loss {:.2}",
                p.technical_premium / p.pure_premium
            );
        }
        if !ilf.is_empty() {
            let _ = writeln!(s, "\nIncreased-limit factors (technical premium):");
            for p in ilf {
                let _ = writeln!(s, "  {:>14}  {:.3}", money(p.limit), p.factor);
            }
        }
    }
    s
}

pub(crate) fn portfolio_cmd(a: &PortfolioArgs, out: &mut dyn Write) -> anyhow::Result<()> {
    if let Some(PortfolioCommand::Summary {
        insurer,
        period_days,
        format,
        db,
    }) = &a.command
    {
        return crate::book::summary(insurer.as_deref(), *period_days, *format, db, out);
    }
    if let Some(PortfolioCommand::Simulate {
        insurer,
        trials,
        seed,
        format,
        db,
    }) = &a.command
    {
        return crate::book::simulate(insurer.as_deref(), *trials, *seed, *format, db, out);
    }
    let input = a
        .input
        .as_deref()
        .ok_or_else(|| input_error("--input FILE: the book to simulate"))?;
    let severity = load_severity(a.severity_model.as_deref())?;
    let catalogue = match &a.scenarios {
        None => ScenarioCatalogue::builtin(),
        Some(p) => ScenarioCatalogue::from_toml(&read(p, "scenario catalogue")?)
            .map_err(|e| input_error(format!("{}: {e}", p.display())))?,
    };
    let book = Book::from_json(&read(input, "book")?)
        .map_err(|e| input_error(format!("{}: {e}", input.display())))?;
    let portfolio = Portfolio::new(book, &severity, &catalogue)
        .map_err(|e| input_error(format!("{}: {e}", input.display())))?;
    let bar = progress_bar(a.trials, "simulating the book");
    let r = portfolio
        .run(a.trials, a.seed, a.top, &|y| bar.inc(y))
        .map_err(sim_error);
    bar.finish_and_clear();
    let r = r?;
    let text = match a.format {
        Format::Json => serde_json::to_string_pretty(&r)? + "\n",
        Format::Text => portfolio_text(&r, a.top),
    };
    emit(&text, a.output.as_deref(), out)
}

fn portfolio_text(r: &PortfolioResult, top: usize) -> String {
    let c = &r.currency;
    let mut s = String::new();
    let _ = writeln!(
        s,
        "Book of {} insureds — {} years, seed {} ({})",
        r.insureds, r.trials, r.seed, r.scenario_catalogue
    );
    let _ = writeln!(
        s,
        "Expected annual loss {} {c} (attritional {}, catastrophe {}); gross {}",
        money(r.expected_loss),
        money(r.attritional_expected_loss),
        money(r.catastrophe_expected_loss),
        money(r.gross_expected_loss)
    );
    let _ = writeln!(
        s,
        "PML 1-in-100 {}   1-in-200 {}   TVaR 99 % {}   TVaR 99.5 % {}",
        money(r.pml["100"]),
        money(r.pml["200"]),
        money(r.tvar["99"]),
        money(r.tvar["99.5"])
    );
    let _ = writeln!(s, "\nScenarios:");
    for sc in &r.scenarios {
        let _ = writeln!(
            s,
            "  {:<34} {:>6} exposed  p(year) {:>6.3}  EL {:>14}",
            sc.id,
            sc.exposed_insureds,
            sc.annual_probability,
            money(sc.expected_loss)
        );
    }
    for (dim, groups) in &r.concentrations {
        let _ = writeln!(s, "\nTop {dim} by share of tail capital (co-TVaR 99.5 %):");
        for g in groups {
            let _ = writeln!(
                s,
                "  {:<40} {:>5.1} %  {:>5} insureds  EL {:>14}",
                g.key,
                g.co_tvar_share * 100.0,
                g.insureds,
                money(g.expected_loss)
            );
        }
    }
    let _ = writeln!(s, "\nInsureds with the largest share of tail capital:");
    for i in r.insured_results.iter().take(top) {
        let _ = writeln!(
            s,
            "  {:<12} {:>6.2} %  EL {:>12}",
            i.id,
            i.co_tvar_share * 100.0,
            money(i.expected_loss)
        );
    }
    s
}

pub(crate) fn demo_cmd(cmd: &DemoCommand, out: &mut dyn Write) -> anyhow::Result<()> {
    match cmd {
        DemoCommand::Bundles {
            size,
            seed,
            as_of,
            output,
        } => {
            let kev = KevCatalog::from_json(KEV_SNAPSHOT)
                .map_err(|e| anyhow::anyhow!("bundled KEV snapshot: {e}"))?;
            let as_of = as_of.unwrap_or_else(|| chrono::Local::now().date_naive());
            std::fs::create_dir_all(output)
                .map_err(|e| input_error(format!("cannot create {}: {e}", output.display())))?;
            let bar = progress_bar(*size, "writing synthetic bundles");
            for i in 0..*size as usize {
                let org = demo::demo_organization(i, *seed, &kev, as_of);
                let path = output.join(format!("INS-{i:05}.json"));
                emit(
                    &(serde_json::to_string_pretty(org.bundle.raw())? + "\n"),
                    Some(&path),
                    &mut std::io::sink(),
                )?;
                bar.inc(1);
            }
            bar.finish_and_clear();
            writeln!(out, "{size} bundles written to {}", output.display())?;
            Ok(())
        }
        DemoCommand::Outcomes {
            input,
            model,
            as_of,
            years,
            level,
            slope,
            seed,
            output,
        } => {
            if !(years.is_finite() && *years > 0.0 && *years <= 1000.0) {
                return Err(input_error(format!(
                    "--years must be above 0 and at most 1000, got {years}"
                )));
            }
            if !(level.is_finite() && slope.is_finite() && *slope > 0.0) {
                return Err(input_error("--level must be finite and --slope above 0"));
            }
            let rates = crate::validate::rates_of(input, model.as_deref(), *as_of)?;
            let rows = demo::synthetic_outcomes(&rates, *years, *level, *slope, *seed);
            let count = rows.len();
            let mut csv = String::from("id,exposure_years,incidents\n");
            for (id, t, n) in rows {
                csv.push_str(&format!("{id},{t},{n}\n"));
            }
            emit(&csv, output.as_deref(), out)?;
            if let Some(path) = output {
                writeln!(out, "{count} outcomes written to {}", path.display())?;
            }
            Ok(())
        }
        DemoCommand::Book {
            size,
            seed,
            as_of,
            output,
        } => {
            let kev = KevCatalog::from_json(KEV_SNAPSHOT)
                .map_err(|e| anyhow::anyhow!("bundled KEV snapshot: {e}"))?;
            let as_of = as_of.unwrap_or_else(|| chrono::Local::now().date_naive());
            let bar = progress_bar(*size, "rating synthetic insureds");
            let book = demo::demo_book(*size as usize, *seed, &kev, as_of, &|n| bar.inc(n));
            bar.finish_and_clear();
            emit(
                &(serde_json::to_string_pretty(&book)? + "\n"),
                output.as_deref(),
                out,
            )
        }
    }
}
