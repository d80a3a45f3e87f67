//! Model governance: `cyrisk validate` (discrimination and calibration against observed
//! incidents) and `cyrisk model recalibrate` (refit the level, and optionally the slope, to
//! an insurer's own claims).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::Write;
use std::path::{Path, PathBuf};

use clap::Args;
use cyrisk_core::model::RecalibrationRecord;
use cyrisk_core::{Bundle, KevCatalog, RatingModel};
use cyrisk_sim::portfolio::Book;
use cyrisk_sim::recalibrate::recalibrate_on_bundles;
use cyrisk_sim::validation::{
    Observation, Validation, fit_recalibration, reliability_svg, validate,
};
use rayon::prelude::*;

use crate::commands::{Format, KEV_SNAPSHOT, emit, parse_date, read};
use crate::input_error;

/// Where the organisations come from and what happened to them.
#[derive(Debug, Clone, Args)]
pub(crate) struct Population {
    /// A directory of assessment bundles (`*.json`, each organisation's id is its file name
    /// without `.json`; they are rated with the model), or a book (JSON, as `cyrisk demo
    /// book` writes; its rates are taken as the model's predictions).
    #[arg(long, short)]
    input: PathBuf,
    /// Observed incidents: CSV with the header `id,exposure_years,incidents`, one row per
    /// organisation.
    #[arg(long)]
    outcomes: PathBuf,
    /// Rating model file [default: the built-in models/rating-v2.toml].
    #[arg(long)]
    model: Option<PathBuf>,
    /// Rate bundles as of this date (YYYY-MM-DD) [default: today].
    #[arg(long, value_parser = parse_date)]
    as_of: Option<chrono::NaiveDate>,
    /// Do not mark findings from the bundled KEV catalogue.
    #[arg(long)]
    no_kev: bool,
}

#[derive(Debug, Args)]
pub(crate) struct ValidateArgs {
    #[command(flatten)]
    population: Population,
    #[arg(long, value_enum, default_value_t = Format::Text)]
    format: Format,
    /// Also write the reliability diagram (SVG) to this file.
    #[arg(long)]
    svg: Option<PathBuf>,
    /// Write the result to this file (atomically) instead of standard output.
    #[arg(long, short)]
    output: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub(crate) struct RecalibrateArgs {
    #[command(flatten)]
    population: Population,
    /// Fit the slope on ln λ as well as the level.
    #[arg(long)]
    slope: bool,
    /// Version of the new model [default: the model's version with "-recalibrated"].
    #[arg(long)]
    version: Option<String>,
    /// The new model file (TOML).
    #[arg(long, short)]
    output: PathBuf,
}

/// The population joined with its outcomes.
struct Joined {
    model: RatingModel,
    observations: Vec<Observation>,
    factor_names: Vec<&'static str>,
    without_outcome: usize,
}

#[derive(serde::Deserialize)]
struct OutcomeRow {
    id: String,
    exposure_years: f64,
    incidents: u32,
}

fn outcomes(path: &Path) -> anyhow::Result<BTreeMap<String, (f64, u32)>> {
    let text = read(path, "outcomes")?;
    let mut reader = csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .from_reader(text.as_bytes());
    let headers = reader
        .headers()
        .map_err(|e| input_error(format!("{}: {e}", path.display())))?
        .clone();
    for need in ["id", "exposure_years", "incidents"] {
        if !headers.iter().any(|h| h == need) {
            return Err(input_error(format!(
                "{}: the header needs the column {need:?} (id,exposure_years,incidents)",
                path.display()
            )));
        }
    }
    let mut out = BTreeMap::new();
    for (i, row) in reader.deserialize::<OutcomeRow>().enumerate() {
        let line = i + 2;
        let row = row.map_err(|e| input_error(format!("{}: line {line}: {e}", path.display())))?;
        if !(row.exposure_years.is_finite() && row.exposure_years > 0.0) {
            return Err(input_error(format!(
                "{}: line {line}: exposure_years must be above 0, got {}",
                path.display(),
                row.exposure_years
            )));
        }
        if out
            .insert(row.id.clone(), (row.exposure_years, row.incidents))
            .is_some()
        {
            return Err(input_error(format!(
                "{}: line {line}: {} appears twice",
                path.display(),
                row.id
            )));
        }
    }
    if out.is_empty() {
        return Err(input_error(format!("{}: no outcomes", path.display())));
    }
    Ok(out)
}

fn load_model(path: Option<&Path>) -> anyhow::Result<RatingModel> {
    match path {
        None => Ok(RatingModel::builtin()),
        Some(p) => RatingModel::from_toml(&read(p, "model file")?)
            .map_err(|e| input_error(format!("{}: {e}", p.display()))),
    }
}

/// (id, λ, contributions) of each organisation, and the factor names (none for a book).
type Predictions = (Vec<(String, f64, Vec<f64>)>, Vec<&'static str>);

/// The bundles of a directory (`*.json`, sorted by name), each with its id (the file name
/// without `.json`), KEV-marked unless `no_kev`.
fn bundles(dir: &Path, no_kev: bool) -> anyhow::Result<Vec<(String, Bundle)>> {
    let kev = if no_kev {
        None
    } else {
        Some(
            KevCatalog::from_json(KEV_SNAPSHOT)
                .map_err(|e| anyhow::anyhow!("bundled KEV snapshot: {e}"))?,
        )
    };
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| input_error(format!("cannot read {}: {e}", dir.display())))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|f| f.extension().is_some_and(|x| x == "json"))
        .collect();
    files.sort();
    if files.is_empty() {
        return Err(input_error(format!(
            "{}: no *.json bundles in the directory",
            dir.display()
        )));
    }
    files
        .par_iter()
        .map(|f| {
            let mut b = Bundle::from_json(&read(f, "bundle")?)
                .map_err(|e| input_error(format!("{}: {e}", f.display())))?;
            if let Some(k) = &kev {
                b.apply_kev(k);
            }
            let id = f
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_default();
            Ok((id, b))
        })
        .collect()
}

fn as_of(p: &Population) -> chrono::NaiveDate {
    p.as_of.unwrap_or_else(|| chrono::Local::now().date_naive())
}

fn predictions(p: &Population, model: &RatingModel) -> anyhow::Result<Predictions> {
    if p.input.is_dir() {
        let as_of = as_of(p);
        let rated = bundles(&p.input, p.no_kev)?
            .par_iter()
            .map(|(id, b)| {
                let r = cyrisk_core::rate(b, model, as_of);
                let c = r
                    .factors
                    .iter()
                    .map(|x| x.beta * (x.value - x.reference))
                    .collect();
                (id.clone(), r.expected_incident_rate, c)
            })
            .collect();
        let names = model.factors.iter().map(|(n, _)| n).collect();
        Ok((rated, names))
    } else {
        let book = Book::from_json(&read(&p.input, "book")?)
            .map_err(|e| input_error(format!("{}: {e}", p.input.display())))?;
        Ok((
            book.insureds
                .into_iter()
                .map(|i| (i.id, i.expected_incident_rate, Vec::new()))
                .collect(),
            Vec::new(),
        ))
    }
}

/// Each organisation's id and rate in a directory of bundles or a book.
pub(crate) fn rates_of(
    input: &Path,
    model: Option<&Path>,
    as_of: Option<chrono::NaiveDate>,
) -> anyhow::Result<Vec<(String, f64)>> {
    let m = load_model(model)?;
    let p = Population {
        input: input.to_owned(),
        outcomes: PathBuf::new(),
        model: None,
        as_of,
        no_kev: false,
    };
    Ok(predictions(&p, &m)?
        .0
        .into_iter()
        .map(|(id, rate, _)| (id, rate))
        .collect())
}

fn join(p: &Population) -> anyhow::Result<Joined> {
    let model = load_model(p.model.as_deref())?;
    let seen = outcomes(&p.outcomes)?;
    let (predicted, factor_names) = predictions(p, &model)?;
    let mut observations = Vec::new();
    let mut without_outcome = 0;
    for (id, rate, contributions) in predicted {
        match seen.get(&id) {
            Some(&(t, n)) => observations.push(Observation {
                id,
                predicted_rate: rate,
                exposure_years: t,
                incidents: n,
                contributions,
            }),
            None => without_outcome += 1,
        }
    }
    if observations.is_empty() {
        return Err(input_error(format!(
            "no organisation of {} has a row in {}: the ids must match",
            p.input.display(),
            p.outcomes.display()
        )));
    }
    Ok(Joined {
        model,
        observations,
        factor_names,
        without_outcome,
    })
}

fn opt(v: Option<f64>, digits: usize) -> String {
    v.map_or("n/a".to_owned(), |v| format!("{v:.digits$}"))
}

fn text(v: &Validation, j: &Joined) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "Validation of {} {} on {} organisations ({:.1} years, {} incidents){}",
        j.model.id,
        j.model.version,
        v.organizations,
        v.exposure_years,
        v.incidents,
        if j.without_outcome > 0 {
            format!("; {} without an outcome left out", j.without_outcome)
        } else {
            String::new()
        }
    );
    let _ = writeln!(
        s,
        "Rate: observed {:.4}, predicted {:.4} a year; actual ÷ expected {:.3}",
        v.observed_rate, v.predicted_rate, v.actual_to_expected
    );
    let _ = writeln!(
        s,
        "Probability of ≥ 1 incident: observed {:.4}, predicted {:.4}",
        v.observed_frequency, v.mean_predicted_probability
    );
    let _ = writeln!(
        s,
        "AUC {}   Brier {:.5} (climatology {:.5}, skill {})",
        opt(v.auc, 4),
        v.brier,
        v.brier_reference,
        opt(v.brier_skill, 4)
    );
    let _ = writeln!(
        s,
        "Calibration: intercept {}, slope {} (ideal 0 and 1); in the large {}",
        opt(v.calibration_intercept, 3),
        opt(v.calibration_slope, 3),
        opt(v.calibration_in_the_large, 3)
    );
    let _ = writeln!(s, "\nDecile  count  predicted  observed");
    for d in &v.deciles {
        let _ = writeln!(
            s,
            "  {:>4}  {:>5}  {:>9.4}  {:>8.4}",
            d.decile, d.count, d.mean_predicted, d.observed
        );
    }
    if !v.factors.is_empty() {
        let _ = writeln!(
            s,
            "\nPartial effects (1 = the model's effect is right; above 1 the data say the factor matters more):"
        );
        for f in &v.factors {
            let _ = writeln!(
                s,
                "  {:<24} {:>7.3} ± {:.3}  (varies for {:.0} %)",
                f.factor,
                f.scale,
                f.standard_error,
                f.varying * 100.0
            );
        }
    }
    s
}

pub(crate) fn validate_cmd(a: &ValidateArgs, out: &mut dyn Write) -> anyhow::Result<()> {
    let j = join(&a.population)?;
    let v = validate(&j.observations, &j.factor_names).map_err(|e| input_error(e.to_string()))?;
    if let Some(path) = &a.svg {
        let title = format!("{} {} — reliability", j.model.id, j.model.version);
        emit(
            reliability_svg(&v, &title),
            Some(path),
            &mut std::io::sink(),
        )?;
    }
    let body = match a.format {
        Format::Json => {
            let mut doc = serde_json::to_value(&v)?;
            doc["model"] = serde_json::json!({ "id": j.model.id, "version": j.model.version });
            doc["without_outcome"] = serde_json::json!(j.without_outcome);
            serde_json::to_string_pretty(&doc)? + "\n"
        }
        Format::Text => text(&v, &j),
    };
    emit(&body, a.output.as_deref(), out)
}

pub(crate) fn recalibrate_cmd(a: &RecalibrateArgs, out: &mut dyn Write) -> anyhow::Result<()> {
    let j = join(&a.population)?;
    let version = a
        .version
        .clone()
        .unwrap_or_else(|| format!("{}-recalibrated", j.model.version));
    let data = a.population.outcomes.display().to_string();
    let (model, fit) = if a.population.input.is_dir() {
        // Bundles can be re-rated: the level is corrected through the model's structure.
        let all = bundles(&a.population.input, a.population.no_kev)?;
        let by_id: BTreeMap<&str, &Bundle> = all.iter().map(|(id, b)| (id.as_str(), b)).collect();
        let observed: Vec<(&Bundle, Observation)> = j
            .observations
            .iter()
            .filter_map(|o| by_id.get(o.id.as_str()).map(|b| (*b, o.clone())))
            .collect();
        recalibrate_on_bundles(
            &j.model,
            &observed,
            as_of(&a.population),
            a.slope,
            &version,
            &data,
        )
        .map_err(|e| input_error(e.to_string()))?
    } else {
        // A book's rates are all there is: the fit applied through the model's structure.
        let fit =
            fit_recalibration(&j.observations, a.slope).map_err(|e| input_error(e.to_string()))?;
        let record = RecalibrationRecord {
            parent: format!("{} {}", j.model.id, j.model.version),
            level: fit.level,
            slope: fit.slope,
            fitted_level: None,
            fitted_slope: None,
            organizations: fit.organizations,
            incidents: fit.incidents,
            exposure_years: fit.exposure_years,
            log_likelihood_before: fit.log_likelihood_before,
            log_likelihood_after: fit.log_likelihood_after,
            data,
        };
        let model = j
            .model
            .recalibrated(fit.level, fit.slope, &version, record)
            .map_err(|e| input_error(format!("the recalibrated model is not valid: {e}")))?;
        (model, fit)
    };
    emit(model.to_toml(), Some(&a.output), &mut std::io::sink())?;
    let r = model.recalibration.as_ref();
    writeln!(
        out,
        "{}: {} {} fitted on {} organisations ({} incidents in {:.1} years): ln λ' = {:.4} + {:.4} · ln λ; log-likelihood {:.1} → {:.1}",
        a.output.display(),
        model.id,
        model.version,
        fit.organizations,
        fit.incidents,
        fit.exposure_years,
        r.map_or(fit.level, |r| r.level),
        r.map_or(fit.slope, |r| r.slope),
        fit.log_likelihood_before,
        r.map_or(fit.log_likelihood_after, |r| r.log_likelihood_after),
    )?;
    Ok(())
}
