//! The stored book's simulation: the portfolio engine (`cyrisk_sim::portfolio`: attritional
//! losses, catastrophe scenarios that hit many insureds in one year, a shared frailty; PML
//! 1-in-100 and 1-in-200, TVaR, co-TVaR) run on an insurer's actual policies in force and its
//! organisations' latest stored ratings and inventories, as a background job whose result is
//! stored and listed. Each policy's co-TVaR is what [`App::quote`] allocates capital by when
//! the insurer quotes into its book.
//!
//! Who is exposed to which catastrophe comes from each organisation's stored inputs: the
//! products of its assets (vendor and product as given, else from the asset's or a service's
//! CPE 2.3 name), the vendor and product of every open finding whose CVE is in the KEV
//! catalogue, and the cloud providers it runs on (cloud-service assets' vendors, and host
//! names under a provider's domains).

use std::collections::{BTreeMap, BTreeSet};

use cyrisk_core::asset::Asset;
use cyrisk_core::asset::AssetKind;
use cyrisk_core::finding::{Finding, FindingState};
use cyrisk_core::kev::KevCatalog;
use cyrisk_sim::bridge::RatedRisk;
use cyrisk_sim::portfolio::{
    Book, Insured, MAX_TRIALS, Policy as SimPolicy, Portfolio, ProductRef, ScenarioCatalogue,
};
use cyrisk_store::{
    BookSimulation, BookSimulationPolicy, Claim, Job, JobState, NewJob, PolicyPhase, Principal,
    Role,
};
use serde::{Deserialize, Serialize};

use crate::error::{AppError, Result};
use crate::{App, today};

/// The job kind that simulates a stored book.
pub const BOOK_SIMULATION: &str = "book_simulation";
/// Years simulated unless asked otherwise.
pub const DEFAULT_TRIALS: u64 = 10_000;
/// The fewest years a book's simulation takes: the 1-in-200 PML needs at least 200, and its
/// co-TVaR averages the worst 0.5 % of years (5 at 1,000).
pub const MIN_TRIALS: u64 = 1_000;
/// The most years a book's simulation takes (20 times the default: 1,000 years beyond the
/// 1-in-200 PML; about 20 s for 10,000 policies on two cores).
pub const MAX_BOOK_TRIALS: u64 = 200_000;
/// Groups kept per accumulation dimension (largest share of tail capital first).
pub const ACCUMULATION_TOP: usize = 25;

const _: () = assert!(MAX_BOOK_TRIALS <= MAX_TRIALS);

/// What a book simulation job is asked to do (its payload).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SimulationRequest {
    /// Whose book; `None`: every policy in force (an admin's run).
    pub insurer_key_id: Option<String>,
    pub trials: u64,
    pub seed: u64,
    /// The key that asked.
    pub requested_by: String,
}

/// A policy in force the simulation had to leave out, and why.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LeftOut {
    pub policy_id: String,
    pub org_id: String,
    pub reason: String,
}

/// A point of the book's aggregate exceedance curve.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExceedancePoint {
    /// Years.
    pub return_period: f64,
    /// Annual probability of exceeding `loss`.
    pub probability: f64,
    pub loss: f64,
}

/// A catastrophe scenario's part of the book's loss.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScenarioOutcome {
    pub id: String,
    pub name: String,
    pub exposed_policies: usize,
    /// Share of simulated years in which it happened.
    pub annual_probability: f64,
    /// Expected annual layer loss it causes.
    pub expected_loss: f64,
}

/// The book's exposure to one shared product, vendor, provider, industry or region.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Accumulation {
    /// `vendor product`, the vendor, the provider, the industry or the region.
    pub key: String,
    /// Policies exposed.
    pub policies: usize,
    /// Their per-occurrence limits, summed (the run's currency).
    pub total_limit: f64,
    /// Their expected annual layer loss, summed.
    pub expected_loss: f64,
    /// Their share of the book's tail capital (co-TVaR 99.5 % ÷ TVaR 99.5 %).
    pub co_tvar_share: f64,
}

/// What a finished simulation stores besides its headline figures.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SimulationOutcome {
    /// `id version` of the scenario catalogue.
    pub scenario_catalogue: String,
    /// Expected annual ground-up loss of the insureds (before the layers).
    pub gross_expected_loss: f64,
    /// Standard deviation of the book's annual layer loss.
    pub std_dev: f64,
    pub attritional_expected_loss: f64,
    pub catastrophe_expected_loss: f64,
    /// Value at risk by level (`"99"`, `"99.5"`, …).
    pub var: BTreeMap<String, f64>,
    /// Tail value at risk by level.
    pub tvar: BTreeMap<String, f64>,
    pub ep_curve: Vec<ExceedancePoint>,
    pub scenarios: Vec<ScenarioOutcome>,
    /// By `product`, `vendor`, `provider`, `industry` and `region`: the groups with the
    /// largest share of tail capital (at most [`ACCUMULATION_TOP`] each).
    pub accumulation: BTreeMap<String, Vec<Accumulation>>,
    pub left_out: Vec<LeftOut>,
}

/// The accumulation's dimensions, each always present (empty when no policy shares one).
pub const ACCUMULATION_DIMENSIONS: [&str; 5] =
    ["product", "vendor", "provider", "industry", "region"];

impl SimulationOutcome {
    /// Adds the dimensions a stored result lacks (runs stored before every one was kept).
    pub fn fill_dimensions(&mut self) {
        for d in ACCUMULATION_DIMENSIONS {
            self.accumulation.entry(d.to_owned()).or_default();
        }
    }
}

/// A simulation as the API shows it: queued, running or failed (from its job), or done with
/// its figures.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SimulationStatus {
    pub id: String,
    /// `queued`, `running`, `done` or `failed`.
    pub state: &'static str,
    pub request: SimulationRequest,
    /// The last attempt's error, while retried or once failed.
    pub error: Option<String>,
    /// Once done.
    pub simulation: Option<BookSimulation>,
    pub outcome: Option<SimulationOutcome>,
}

/// The provider a host name or a cloud service's vendor names, as the scenario catalogue
/// names providers (`aliyun`, `tencent_cloud`, `huawei_cloud`, `aws`, `azure`, `gcp`), or the
/// vendor lowercased with spaces as underscores.
pub fn provider_of_vendor(vendor: &str) -> String {
    let v = vendor.trim().to_lowercase();
    // Whole words only: "Shaws Hosting" is not AWS.
    let words: Vec<&str> = v
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .collect();
    let known = [
        (["alibaba", "aliyun"].as_slice(), "aliyun"),
        (&["tencent"], "tencent_cloud"),
        (&["huawei"], "huawei_cloud"),
        (&["amazon", "aws"], "aws"),
        (&["microsoft", "azure"], "azure"),
        (&["google", "gcp"], "gcp"),
    ];
    for (needles, name) in known {
        if needles.iter().any(|n| words.contains(n)) {
            return name.to_owned();
        }
    }
    v.split_whitespace().collect::<Vec<_>>().join("_")
}

/// The provider whose domain `host` is under, if it is one of the known ones.
fn provider_of_host(host: &str) -> Option<&'static str> {
    let h = host.trim_end_matches('.').to_lowercase();
    let domains: [(&str, &str); 8] = [
        ("aliyuncs.com", "aliyun"),
        ("alicdn.com", "aliyun"),
        ("myqcloud.com", "tencent_cloud"),
        ("tencentcs.com", "tencent_cloud"),
        ("myhuaweicloud.com", "huawei_cloud"),
        ("amazonaws.com", "aws"),
        ("azurewebsites.net", "azure"),
        ("googleapis.com", "gcp"),
    ];
    domains
        .iter()
        .find(|(d, _)| h == *d || h.ends_with(&format!(".{d}")))
        .map(|(_, p)| *p)
}

/// Vendor and product of a CPE 2.3 formatted string (`cpe:2.3:a:vendor:product:…`) or a CPE
/// 2.2 URI (`cpe:/a:vendor:product…`), with `_` read as a space and `\` escapes dropped.
pub fn cpe_product(cpe: &str) -> Option<ProductRef> {
    let rest = cpe
        .strip_prefix("cpe:2.3:")
        .or_else(|| cpe.strip_prefix("cpe:/"))?;
    let mut parts = rest.split(':');
    let _part = parts.next()?;
    let clean = |s: &str| s.replace('\\', "").replace('_', " ").trim().to_owned();
    let vendor = clean(parts.next()?);
    let product = clean(parts.next()?);
    let real = |s: &str| !s.is_empty() && s != "*" && s != "-";
    (real(&vendor) && real(&product)).then_some(ProductRef { vendor, product })
}

/// The products (vendor and product lowercased) and providers an organisation's `assets` and
/// `findings` expose (sorted, without repeats).
pub fn exposures(
    assets: &[Asset],
    findings: &[Finding],
    kev: &KevCatalog,
) -> (Vec<ProductRef>, Vec<String>) {
    let mut products: BTreeSet<(String, String)> = BTreeSet::new();
    let mut providers: BTreeSet<String> = BTreeSet::new();
    // Lowercased, so a CPE's `fortinet` and the KEV catalogue's `Fortinet` are one vendor.
    let mut add = |p: ProductRef| {
        products.insert((p.vendor.to_lowercase(), p.product.to_lowercase()));
    };
    for a in assets {
        match (&a.vendor, &a.product) {
            (Some(v), Some(p)) if !v.trim().is_empty() && !p.trim().is_empty() => add(ProductRef {
                vendor: v.trim().to_owned(),
                product: p.trim().to_owned(),
            }),
            _ => {
                if let Some(p) = a.cpe.as_deref().and_then(cpe_product) {
                    add(p);
                }
            }
        }
        for s in &a.services {
            if let Some(p) = s.cpe.as_deref().and_then(cpe_product) {
                add(p);
            }
        }
        if a.kind == AssetKind::CloudService
            && let Some(v) = a.vendor.as_deref().filter(|v| !v.trim().is_empty())
        {
            providers.insert(provider_of_vendor(v));
        }
        for h in a.hostname.iter().chain(&a.aliases) {
            if let Some(p) = provider_of_host(h) {
                providers.insert(p.to_owned());
            }
        }
    }
    for f in findings {
        if FindingState::RETIRED.contains(&f.state) {
            continue;
        }
        for cve in f.cve.iter().chain(&f.additional_cves) {
            if let Some(e) = kev.get(cve) {
                add(ProductRef {
                    vendor: e.vendor.clone(),
                    product: e.product.clone(),
                });
            }
        }
    }
    (
        products
            .into_iter()
            .map(|(vendor, product)| ProductRef { vendor, product })
            .collect(),
        providers.into_iter().collect(),
    )
}

fn state_name(s: JobState) -> &'static str {
    match s {
        JobState::Queued => "queued",
        JobState::Running => "running",
        JobState::Done => "done",
        JobState::Dead => "failed",
    }
}

impl App {
    /// Whose book `p` may simulate or read: an insurer its own (`insurer_key_id` absent or its
    /// own), an admin any insurer's or every policy (`None`). `NotFound` when an admin names
    /// a key that is not an insurer's.
    pub(crate) async fn book_owner(
        &self,
        p: &Principal,
        insurer_key_id: Option<&str>,
    ) -> Result<Option<String>> {
        match p.role {
            Role::Insurer => {
                if insurer_key_id.is_some_and(|k| k != p.key_id) {
                    return Err(AppError::forbidden("an insurer key sees only its own book"));
                }
                Ok(Some(p.key_id.clone()))
            }
            Role::Admin => match insurer_key_id {
                Some(k) if !self.store.is_insurer_key(k).await? => Err(AppError::NotFound {
                    what: "insurer key",
                }),
                k => Ok(k.map(str::to_owned)),
            },
            Role::Enterprise | Role::Assessor => Err(AppError::forbidden(
                "only insurers and admins have a book of policies",
            )),
        }
    }

    /// Queues a simulation of the book `p` may see (an insurer its own; an admin any
    /// insurer's, or every policy in force): `trials` years ([`MIN_TRIALS`] to
    /// [`MAX_BOOK_TRIALS`]) from `seed`. One queued run per book: the same request while one
    /// is queued joins it; another (other years or seed) is a `Conflict`. `Invalid` for a book
    /// with no policy in force.
    pub async fn queue_book_simulation(
        &self,
        p: &Principal,
        insurer_key_id: Option<&str>,
        trials: u64,
        seed: u64,
    ) -> Result<SimulationStatus> {
        let owner = self.book_owner(p, insurer_key_id).await?;
        if !(MIN_TRIALS..=MAX_BOOK_TRIALS).contains(&trials) {
            return Err(AppError::Invalid(format!(
                "trials: {MIN_TRIALS} to {MAX_BOOK_TRIALS}, got {trials}"
            )));
        }
        if i64::try_from(seed).is_err() {
            return Err(AppError::Invalid(format!(
                "seed: 0 to {}, got {seed}",
                i64::MAX
            )));
        }
        let in_force = self
            .store
            .policies_of(owner.as_deref())
            .await?
            .iter()
            .filter(|p| p.phase(today()) == PolicyPhase::Active)
            .count();
        if in_force == 0 {
            return Err(AppError::Invalid(
                "insurer_key_id: the book has no policy in force to simulate".into(),
            ));
        }
        let request = SimulationRequest {
            insurer_key_id: owner.clone(),
            trials,
            seed,
            requested_by: p.key_id.clone(),
        };
        let job = NewJob {
            kind: BOOK_SIMULATION.to_owned(),
            org_id: None,
            payload: serde_json::to_value(&request).map_err(AppError::internal)?,
            dedupe_key: Some(format!(
                "{BOOK_SIMULATION}:{}",
                owner.as_deref().unwrap_or("*")
            )),
            max_attempts: 3,
        };
        let e = self.store.enqueue(&job).await?;
        let status = self.book_simulation(p, &e.id).await?;
        if !e.created && (status.request.trials, status.request.seed) != (trials, seed) {
            return Err(AppError::Conflict(format!(
                "a simulation of this book with other years or seed is queued ({}, {} years, seed {}): wait for it, then ask again",
                status.id, status.request.trials, status.request.seed
            )));
        }
        Ok(status)
    }

    /// A simulation `p` may see, by id (the job's): its state and, once done, its figures.
    /// `NotFound` for another insurer's.
    pub async fn book_simulation(&self, p: &Principal, id: &str) -> Result<SimulationStatus> {
        let job: Option<Job> = match self.store.job(id).await {
            Ok(j) if j.kind == BOOK_SIMULATION => Some(j),
            Ok(_) | Err(cyrisk_store::StoreError::NotFound { .. }) => None,
            Err(e) => return Err(e.into()),
        };
        let stored = match self.store.book_simulation(id).await {
            Ok(s) => Some(s),
            Err(cyrisk_store::StoreError::NotFound { .. }) => None,
            Err(e) => return Err(e.into()),
        };
        let not_found = || AppError::NotFound {
            what: "book simulation",
        };
        let owner = match (&stored, &job) {
            (Some(s), _) => s.insurer_key_id.clone(),
            (None, Some(j)) => {
                serde_json::from_value::<SimulationRequest>(j.payload.clone())
                    .map_err(AppError::internal)?
                    .insurer_key_id
            }
            (None, None) => return Err(not_found()),
        };
        let visible = match p.role {
            Role::Admin => true,
            Role::Insurer => owner.as_deref() == Some(p.key_id.as_str()),
            Role::Enterprise | Role::Assessor => false,
        };
        if !visible {
            return Err(not_found());
        }
        let request = match &job {
            Some(j) => serde_json::from_value(j.payload.clone()).map_err(AppError::internal)?,
            None => {
                // The job was pruned after it finished: rebuild the request from the record.
                let s = stored.as_ref().ok_or_else(not_found)?;
                SimulationRequest {
                    insurer_key_id: s.insurer_key_id.clone(),
                    trials: u64::try_from(s.trials).unwrap_or(0),
                    seed: u64::try_from(s.seed).unwrap_or(0),
                    requested_by: String::new(),
                }
            }
        };
        let outcome = match stored.as_ref().and_then(|s| s.result.as_deref()) {
            Some(text) => {
                let mut o: SimulationOutcome =
                    serde_json::from_str(text).map_err(AppError::internal)?;
                o.fill_dimensions();
                Some(o)
            }
            None => None,
        };
        Ok(SimulationStatus {
            id: id.to_owned(),
            state: match (&stored, &job) {
                (Some(_), _) => "done",
                (None, Some(j)) => state_name(j.state),
                (None, None) => return Err(not_found()),
            },
            request,
            // A retried attempt's error is history once the run is done.
            error: if stored.is_some() {
                None
            } else {
                job.and_then(|j| j.last_error)
            },
            simulation: stored,
            outcome,
        })
    }

    /// The finished simulations of the book `p` may see, newest first (at most 100).
    pub async fn book_simulations(
        &self,
        p: &Principal,
        insurer_key_id: Option<&str>,
    ) -> Result<Vec<BookSimulation>> {
        let owner = self.book_owner(p, insurer_key_id).await?;
        Ok(self.store.book_simulations(owner.as_deref(), 100).await?)
    }

    /// The per-policy results of a simulation `p` may see: the one given, else the newest of
    /// its book. `NotFound` when there is none.
    pub async fn book_simulation_policies(
        &self,
        p: &Principal,
        insurer_key_id: Option<&str>,
        simulation_id: Option<&str>,
    ) -> Result<(BookSimulation, Vec<BookSimulationPolicy>)> {
        let sim = match simulation_id {
            Some(id) => {
                let owner = self.book_owner(p, insurer_key_id).await?;
                let s = self.book_simulation(p, id).await?;
                // An admin naming a book gets only that book's runs.
                s.simulation
                    .filter(|s| insurer_key_id.is_none() || s.insurer_key_id == owner)
                    .ok_or(AppError::NotFound {
                        what: "book simulation",
                    })?
            }
            None => {
                let owner = self.book_owner(p, insurer_key_id).await?;
                self.store
                    .book_simulations(owner.as_deref(), 1)
                    .await?
                    .into_iter()
                    .next()
                    .ok_or(AppError::NotFound {
                        what: "book simulation",
                    })?
            }
        };
        let rows = self.store.book_simulation_policies(&sim.id).await?;
        Ok((sim, rows))
    }

    /// The book of `insurer` (`None`: every policy) in force today as the portfolio engine
    /// takes it: one insured per policy, with its organisation's profile, latest stored
    /// rating's λ and exposures, amounts in the severity model's currency. Policies whose
    /// organisation was never rated, or whose currency the model cannot convert, are left out
    /// and listed.
    pub async fn simulation_book(
        &self,
        insurer: Option<&str>,
    ) -> Result<(Book, Vec<(String, String)>, Vec<LeftOut>)> {
        let as_of = today();
        let severity = &self.models.severity;
        let kev = self.current_feeds().await?.kev;
        let policies: Vec<_> = self
            .store
            .policies_of(insurer)
            .await?
            .into_iter()
            .filter(|p| p.phase(as_of) == PolicyPhase::Active)
            .collect();
        let inventories = self.store.book_inventories(insurer).await?;
        let by_org: std::collections::HashMap<&str, &cyrisk_store::BookInventory> =
            inventories.iter().map(|v| (v.org_id.as_str(), v)).collect();
        let mut insureds = Vec::with_capacity(policies.len());
        let mut ids = Vec::with_capacity(policies.len());
        let mut left_out = Vec::new();
        let mut org: Option<(String, std::result::Result<Insured, String>)> = None;
        let mut sorted = policies;
        sorted.sort_by(|a, b| a.org_id.cmp(&b.org_id).then(a.id.cmp(&b.id)));
        for pol in sorted {
            if org.as_ref().is_none_or(|(id, _)| *id != pol.org_id) {
                let insured = match by_org.get(pol.org_id.as_str()) {
                    Some(v) => self.insured_of(v, &kev),
                    None => Err("the organisation's inputs were not found".into()),
                };
                org = Some((pol.org_id.clone(), insured));
            }
            let leave = |reason: String| LeftOut {
                policy_id: pol.id.clone(),
                org_id: pol.org_id.clone(),
                reason,
            };
            let template = match &org {
                Some((_, Ok(t))) => t,
                Some((_, Err(reason))) => {
                    left_out.push(leave(reason.clone()));
                    continue;
                }
                None => continue,
            };
            let Some(fx) = severity.rate_to_model(&pol.currency) else {
                left_out.push(leave(format!(
                    "the severity model cannot convert {}",
                    pol.currency
                )));
                continue;
            };
            let mut ins = template.clone();
            ins.id = pol.id.clone();
            ins.policy = SimPolicy {
                deductible: pol.deductible * fx,
                limit: pol.limit * fx,
                aggregate_limit: None,
            };
            ids.push((pol.id.clone(), pol.org_id.clone()));
            insureds.push(ins);
        }
        Ok((
            Book {
                currency: severity.currency.clone(),
                insureds,
            },
            ids,
            left_out,
        ))
    }

    /// An organisation as an insured (its policy still to set); `Err(reason)` if it cannot be
    /// simulated: no stored rating, a stored rating without a rate, a currency the severity
    /// model cannot convert.
    fn insured_of(
        &self,
        v: &cyrisk_store::BookInventory,
        kev: &KevCatalog,
    ) -> std::result::Result<Insured, String> {
        let Some((doc, score, grade)) = &v.rating else {
            return Err("the organisation has no stored rating".into());
        };
        let risk = RatedRisk::from_stored_json(doc)
            .map_err(|e| format!("its latest stored rating: {e}"))?;
        let profile = &v.profile;
        let Some(fx) = self
            .models
            .severity
            .rate_to_model(profile.currency.as_str())
        else {
            return Err(format!(
                "the severity model cannot convert {}",
                profile.currency.as_str()
            ));
        };
        let (products, providers) = exposures(&v.assets, &v.open_findings, kev);
        Ok(Insured {
            id: String::new(),
            name: profile.name.clone(),
            industry: profile.industry,
            region: profile.region.clone(),
            annual_revenue: profile.annual_revenue.get() * fx,
            personal_records: profile.data.as_ref().map_or(0, |d| d.personal_records),
            expected_incident_rate: risk.expected_incident_rate,
            score: i32::try_from(*score).ok(),
            grade: Some(grade.clone()),
            products,
            providers,
            policy: SimPolicy {
                deductible: 0.0,
                limit: 1.0,
                aggregate_limit: None,
            },
        })
    }

    /// Runs a claimed book simulation job: builds the book from the store, simulates it on the
    /// blocking pool and stores the result with the job's completion, in one transaction.
    pub async fn run_book_simulation(&self, claim: &Claim) -> Result<()> {
        let req: SimulationRequest = serde_json::from_value(claim.job.payload.clone())
            .map_err(|e| AppError::Invalid(format!("a book simulation job's payload: {e}")))?;
        let (book, ids, left_out) = self.simulation_book(req.insurer_key_id.as_deref()).await?;
        if book.insureds.is_empty() {
            return Err(AppError::Invalid(format!(
                "the book has no rated policy in force to simulate ({} left out)",
                left_out.len()
            )));
        }
        let severity = self.models.severity.clone();
        let (trials, seed) = (req.trials, req.seed);
        let result = tokio::task::spawn_blocking(move || {
            Portfolio::new(book, &severity, &ScenarioCatalogue::builtin())?.run(
                trials,
                seed,
                ACCUMULATION_TOP,
                &|_| {},
            )
        })
        .await?
        .map_err(|e| AppError::Invalid(e.to_string()))?;
        let org_of: std::collections::HashMap<&str, &str> =
            ids.iter().map(|(p, o)| (p.as_str(), o.as_str())).collect();
        let rows: Vec<BookSimulationPolicy> = result
            .insured_results
            .iter()
            .map(|r| BookSimulationPolicy {
                policy_id: r.id.clone(),
                org_id: org_of.get(r.id.as_str()).copied().unwrap_or("").to_owned(),
                expected_loss: r.expected_loss,
                co_tvar: r.co_tvar,
                co_tvar_share: r.co_tvar_share,
            })
            .collect();
        let outcome = SimulationOutcome {
            scenario_catalogue: result.scenario_catalogue.clone(),
            gross_expected_loss: result.gross_expected_loss,
            std_dev: result.std_dev,
            attritional_expected_loss: result.attritional_expected_loss,
            catastrophe_expected_loss: result.catastrophe_expected_loss,
            var: result
                .var
                .iter()
                .map(|(k, v)| ((*k).to_owned(), *v))
                .collect(),
            tvar: result
                .tvar
                .iter()
                .map(|(k, v)| ((*k).to_owned(), *v))
                .collect(),
            ep_curve: result
                .ep_curve
                .iter()
                .map(|p| ExceedancePoint {
                    return_period: p.return_period,
                    probability: p.probability,
                    loss: p.loss,
                })
                .collect(),
            scenarios: result
                .scenarios
                .iter()
                .map(|s| ScenarioOutcome {
                    id: s.id.clone(),
                    name: s.name.clone(),
                    exposed_policies: s.exposed_insureds,
                    annual_probability: s.annual_probability,
                    expected_loss: s.expected_loss,
                })
                .collect(),
            // Every dimension, empty when no policy shares one (no provider known, say).
            accumulation: ACCUMULATION_DIMENSIONS
                .into_iter()
                .map(|d| (d, Vec::new()))
                .chain(result.concentrations.iter().map(|(d, g)| (*d, g.clone())))
                .collect::<BTreeMap<_, _>>()
                .iter()
                .map(|(dim, groups)| {
                    (
                        (*dim).to_owned(),
                        groups
                            .iter()
                            .map(|g| Accumulation {
                                key: g.key.clone(),
                                policies: g.insureds,
                                total_limit: g.total_limit,
                                expected_loss: g.expected_loss,
                                co_tvar_share: g.co_tvar_share,
                            })
                            .collect(),
                    )
                })
                .collect(),
            left_out,
        };
        let sim = BookSimulation {
            id: claim.job.id.clone(),
            insurer_key_id: req.insurer_key_id.clone(),
            created_at: String::new(),
            as_of: today().to_string(),
            trials: i64::try_from(trials).unwrap_or(i64::MAX),
            seed: i64::try_from(seed).unwrap_or(i64::MAX),
            currency: result.currency.clone(),
            policies: i64::try_from(rows.len()).unwrap_or(i64::MAX),
            expected_loss: result.expected_loss,
            pml_100: result.pml.get("100").copied().unwrap_or(0.0),
            pml_200: result.pml.get("200").copied().unwrap_or(0.0),
            tvar_995: result.tvar.get("99.5").copied().unwrap_or(0.0),
            result: Some(serde_json::to_string(&outcome).map_err(AppError::internal)?),
        };
        let mut tx = self.store.write_tx().await?;
        tx.insert_book_simulation(&sim, &rows).await?;
        tx.finish_job(
            claim,
            &serde_json::json!({
                "simulation_id": sim.id,
                "policies": sim.policies,
                "left_out": outcome.left_out.len(),
                "expected_loss": sim.expected_loss,
                "pml_200": sim.pml_200,
            }),
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpe_names_give_vendor_and_product() {
        let p = cpe_product("cpe:2.3:a:fortinet:fortios:7.0.1:*:*:*:*:*:*:*").unwrap();
        assert_eq!(
            (p.vendor.as_str(), p.product.as_str()),
            ("fortinet", "fortios")
        );
        let p = cpe_product("cpe:/a:palo_alto_networks:pan-os:10.1").unwrap();
        assert_eq!(
            (p.vendor.as_str(), p.product.as_str()),
            ("palo alto networks", "pan-os")
        );
        assert!(cpe_product("cpe:2.3:a:*:*:*").is_none());
        assert!(cpe_product("cpe:2.3:a:vendor").is_none());
        assert!(cpe_product("not a cpe").is_none());
    }

    #[test]
    fn providers_are_named_as_the_scenarios_name_them() {
        assert_eq!(provider_of_vendor("Alibaba Cloud"), "aliyun");
        assert_eq!(provider_of_vendor("Tencent Cloud"), "tencent_cloud");
        assert_eq!(provider_of_vendor("Some Host Ltd"), "some_host_ltd");
        assert_eq!(provider_of_vendor("Amazon Web Services"), "aws");
        assert_eq!(provider_of_vendor("Shaws Hosting"), "shaws_hosting");
        assert_eq!(provider_of_vendor("Laws Ltd"), "laws_ltd");
        assert_eq!(
            provider_of_host("oss-cn-hangzhou.aliyuncs.com"),
            Some("aliyun")
        );
        assert_eq!(
            provider_of_host("cos.ap-guangzhou.myqcloud.com."),
            Some("tencent_cloud")
        );
        assert_eq!(provider_of_host("notaliyuncs.com"), None);
        assert_eq!(provider_of_host("www.example.cn"), None);
    }
}
