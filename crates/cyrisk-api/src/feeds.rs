//! Threat-intelligence feeds: loading a KEV or EPSS snapshot (admins), enriching ratings from
//! the current snapshots, and re-rating exactly the organisations a new snapshot affects.
//!
//! The current snapshot of a kind is the newest by the date its content carries (the KEV
//! catalogue's release, the EPSS score date) — for KEV, the catalogue built into cyrisk
//! counts too — so loading an older file stores it for the record without making it current.
//!
//! Snapshots are immutable and keyed by id, so each replica may cache the parsed ones: the
//! cache can never disagree with the store.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::{Arc, Mutex};

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Query, State};
use chrono::NaiveDate;
use cyrisk_core::KevCatalog;
use cyrisk_core::units::Probability;
use cyrisk_ingest::feeds::EpssScores;
use cyrisk_store::FeedSnapshot;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::AppState;
use crate::access::{Action, authorize_role};
use crate::auth::Caller;
use crate::error::{ApiError, Problem};

/// EPSS moves smaller than this do not re-rate an organisation.
pub const EPSS_CHANGE: f32 = 0.01;

#[derive(Debug)]
enum Parsed {
    Kev(Arc<KevCatalog>),
    Epss(Arc<EpssScores>),
}

/// Parsed snapshots by id (immutable, so safe to keep).
#[derive(Debug, Default)]
pub struct FeedCache {
    parsed: Mutex<HashMap<String, Arc<Parsed>>>,
}

impl FeedCache {
    fn get(&self, id: &str) -> Result<Option<Arc<Parsed>>, ApiError> {
        Ok(self
            .parsed
            .lock()
            .map_err(|_| ApiError::internal("feed cache poisoned"))?
            .get(id)
            .cloned())
    }

    fn put(&self, id: &str, p: Arc<Parsed>) -> Result<(), ApiError> {
        self.parsed
            .lock()
            .map_err(|_| ApiError::internal("feed cache poisoned"))?
            .insert(id.to_owned(), p);
        Ok(())
    }
}

/// The snapshots a rating uses.
#[derive(Debug, Clone)]
pub struct Feeds {
    pub kev: Arc<KevCatalog>,
    pub epss: Option<Arc<EpssScores>>,
    /// `{"kev": version, "epss": version}`, stored with the rating.
    pub label: String,
}

/// An EPSS score as published (five decimals), not as the nearest `f32` widened
/// (`0.61234` rather than `0.612339973449707`).
fn epss_value(v: f32) -> f64 {
    v.to_string().parse().unwrap_or(f64::from(v))
}

/// Where a finding's effective KEV flag and EPSS came from.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Provenance {
    pub kev: Option<String>,
    pub epss: Option<String>,
}

impl Feeds {
    /// Sets a finding's KEV flag and EPSS to what the rating uses — the catalogue and the EPSS
    /// snapshot over all its CVEs (the highest EPSS), else what the scanner or bundle said —
    /// and says where each came from.
    pub fn effective(&self, f: &mut cyrisk_core::finding::Finding) -> Provenance {
        let mut p = Provenance::default();
        if f.cves().any(|c| self.kev.contains(c)) {
            f.kev = true;
            p.kev = Some(format!("CISA KEV catalogue {}", self.kev.version));
        } else if f.kev {
            p.kev = Some("the scanner or the bundle".to_owned());
        }
        let fed = self.epss.as_ref().and_then(|e| {
            f.cves()
                .filter_map(|c| e.scores.get(c).map(|(p, _)| *p))
                .max_by(f32::total_cmp)
                .map(|v| (v, e.version()))
        });
        match fed {
            Some((v, version)) => {
                f.epss = Probability::new(epss_value(v)).ok();
                p.epss = Some(format!("EPSS {version}"));
            }
            None if f.epss.is_some() => p.epss = Some("the scanner or the bundle".to_owned()),
            None => {}
        }
        p
    }

    /// Enriches a bundle: EPSS from the feed where it knows the CVE, then KEV flags.
    pub fn apply(&self, bundle: &mut cyrisk_core::Bundle) {
        if let Some(epss) = &self.epss {
            bundle.apply_epss(|cve| {
                epss.scores
                    .get(cve)
                    .and_then(|(p, _)| Probability::new(epss_value(*p)).ok())
            });
        }
        bundle.apply_kev(&self.kev);
    }
}

async fn parsed(state: &AppState, snapshot: &FeedSnapshot) -> Result<Arc<Parsed>, ApiError> {
    if let Some(p) = state.feeds.get(&snapshot.id)? {
        return Ok(p);
    }
    let data = state.store.feed_data(&snapshot.id).await?;
    let kind = snapshot.kind.clone();
    let published = snapshot.published.parse().ok();
    let p = tokio::task::spawn_blocking(move || -> Result<Parsed, String> {
        Ok(match kind.as_str() {
            "kev" => Parsed::Kev(Arc::new(
                cyrisk_ingest::feeds::parse_kev(&data).map_err(|e| e.to_string())?,
            )),
            "epss" => Parsed::Epss(Arc::new(
                cyrisk_ingest::feeds::parse_epss(&data[..], published)
                    .map_err(|e| e.to_string())?,
            )),
            other => return Err(format!("unknown feed kind {other:?}")),
        })
    })
    .await
    .map_err(ApiError::internal)?
    .map_err(ApiError::internal)?;
    let p = Arc::new(p);
    state.feeds.put(&snapshot.id, p.clone())?;
    Ok(p)
}

/// The current KEV catalogue: the newest stored snapshot, or the built-in one when that is
/// newer (or nothing was loaded).
async fn current_kev(state: &AppState) -> Result<Arc<KevCatalog>, ApiError> {
    let builtin = cyrisk_ingest::feeds::kev_published(&state.kev);
    match state.store.latest_feed("kev").await? {
        Some(s) if builtin.is_none_or(|b| s.published >= b.to_string()) => {
            match &*parsed(state, &s).await? {
                Parsed::Kev(k) => Ok(k.clone()),
                Parsed::Epss(_) => Err(ApiError::internal("kev snapshot holds EPSS")),
            }
        }
        _ => Ok(state.kev.clone()),
    }
}

/// The current EPSS scores, if any were loaded.
async fn current_epss(state: &AppState) -> Result<Option<Arc<EpssScores>>, ApiError> {
    match state.store.latest_feed("epss").await? {
        Some(s) => match &*parsed(state, &s).await? {
            Parsed::Epss(e) => Ok(Some(e.clone())),
            Parsed::Kev(_) => Err(ApiError::internal("epss snapshot holds KEV")),
        },
        None => Ok(None),
    }
}

/// The current snapshots (the built-in KEV catalogue when none newer was loaded).
pub async fn current(state: &AppState) -> Result<Feeds, ApiError> {
    let kev = current_kev(state).await?;
    let epss = current_epss(state).await?;
    let label = serde_json::json!({
        "kev": kev.version,
        "epss": epss.as_ref().map(|e| e.version()),
    })
    .to_string();
    Ok(Feeds { kev, epss, label })
}

/// One organisation re-rated by a feed load.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Rerated {
    pub org_id: String,
    pub score_before: Option<i64>,
    pub score: i64,
}

/// What loading a snapshot did.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct FeedLoadSummary {
    /// `kev` or `epss`.
    pub kind: String,
    pub version: String,
    /// The date the snapshot's content carries (KEV release, EPSS score date).
    pub published: String,
    pub snapshot_id: String,
    pub entries: i64,
    /// The same file was loaded before: nothing changed.
    pub duplicate: bool,
    /// Whether this snapshot is now the one ratings use: false when a newer one (by its own
    /// date) is already current — the file is then kept for the record only.
    pub current: bool,
    /// The version ratings use after this load.
    pub current_version: String,
    /// CVEs added to or removed from the catalogue (KEV), or whose EPSS appeared, disappeared
    /// or moved by 0.01 or more, against the snapshot that was current before.
    pub changed_cves: usize,
    /// The organisations with a finding that still counts on a changed CVE, re-rated (only
    /// those).
    pub rerated: Vec<Rerated>,
}

/// Which feed a file is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FeedKind {
    Kev,
    /// EPSS scores; the score date for files without a `#model_version` line.
    Epss {
        score_date: Option<NaiveDate>,
    },
}

/// CVEs that differ between two KEV catalogues (added or removed).
fn kev_changes(new: &KevCatalog, old: &KevCatalog) -> HashSet<String> {
    let a: HashSet<&cyrisk_core::finding::Cve> = new.cves().collect();
    let b: HashSet<&cyrisk_core::finding::Cve> = old.cves().collect();
    a.symmetric_difference(&b)
        .map(|c| c.as_str().to_owned())
        .collect()
}

/// CVEs whose EPSS appeared, disappeared or moved by [`EPSS_CHANGE`] or more.
fn epss_changes(new: &EpssScores, old: Option<&EpssScores>) -> HashSet<String> {
    let Some(old) = old else {
        return new.scores.keys().map(|c| c.as_str().to_owned()).collect();
    };
    let moved = new.scores.iter().filter(|(cve, (p, _))| {
        old.scores
            .get(*cve)
            .is_none_or(|(q, _)| (p - q).abs() >= EPSS_CHANGE)
    });
    let gone = old.scores.keys().filter(|c| !new.scores.contains_key(*c));
    moved
        .map(|(c, _)| c)
        .chain(gone)
        .map(|c| c.as_str().to_owned())
        .collect()
}

/// Parses, stores and applies a snapshot: when it is newer (by its own date) than the current
/// one, it becomes current and the organisations it changes are re-rated; an older one is
/// stored for the record and changes nothing.
pub async fn load(
    state: &AppState,
    kind: FeedKind,
    bytes: Bytes,
    actor: Option<&str>,
) -> Result<FeedLoadSummary, ApiError> {
    let name = match kind {
        FeedKind::Kev => "kev",
        FeedKind::Epss { .. } => "epss",
    };
    let hash = cyrisk_ingest::content_hash(&bytes);
    let data = bytes.clone();
    let parsed_new = tokio::task::spawn_blocking(move || match kind {
        FeedKind::Kev => cyrisk_ingest::feeds::parse_kev(&data).map(|k| Parsed::Kev(Arc::new(k))),
        FeedKind::Epss { score_date } => cyrisk_ingest::feeds::parse_epss(&data[..], score_date)
            .map(|e| Parsed::Epss(Arc::new(e))),
    })
    .await
    .map_err(ApiError::internal)?
    .map_err(|e| ApiError::invalid(format!("the {name} file: {e}")))?;
    let (version, published, entries) = match &parsed_new {
        Parsed::Kev(k) => (
            k.version.clone(),
            cyrisk_ingest::feeds::kev_published(k),
            k.len() as i64,
        ),
        Parsed::Epss(e) => (e.version(), Some(e.score_date), e.scores.len() as i64),
    };
    let published =
        published.ok_or_else(|| ApiError::invalid(format!("the {name} file carries no date")))?;
    // A snapshot from the future would stay "newest" and shadow every real one after it.
    let today = chrono::Utc::now().date_naive();
    if published > today + chrono::Duration::days(1) {
        return Err(ApiError::invalid(format!(
            "the {name} file is dated {published}, after today ({today}): check the date; nothing was loaded"
        )));
    }
    let published = published.to_string();
    // What ratings use now, before this snapshot.
    let before = current(state).await?;
    let (snapshot, created) = state
        .store
        .insert_feed(
            &cyrisk_store::NewFeed {
                kind: name,
                version: &version,
                published: &published,
                content_hash: &hash,
                entries,
                data: &bytes,
            },
            actor,
        )
        .await?;
    let parsed_new = Arc::new(parsed_new);
    let after = current(state).await?;
    let current_version = match kind {
        FeedKind::Kev => after.kev.version.clone(),
        FeedKind::Epss { .. } => after.epss.as_ref().map(|e| e.version()).unwrap_or_default(),
    };
    // A file loaded before is reported as it was stored (whatever date was given this time).
    let mut summary = FeedLoadSummary {
        kind: name.to_owned(),
        version: if created {
            version
        } else {
            snapshot.version.clone()
        },
        published: if created {
            published
        } else {
            snapshot.published.clone()
        },
        snapshot_id: snapshot.id.clone(),
        entries,
        duplicate: !created,
        current: current_version == snapshot.version,
        current_version,
        changed_cves: 0,
        rerated: Vec::new(),
    };
    if !created || !summary.current {
        return Ok(summary);
    }
    state.feeds.put(&snapshot.id, parsed_new.clone())?;
    let changed: HashSet<String> = match &*parsed_new {
        Parsed::Kev(new) => kev_changes(new, &before.kev),
        Parsed::Epss(new) => epss_changes(new, before.epss.as_deref()),
    };
    summary.changed_cves = changed.len();
    let orgs: BTreeSet<String> = state
        .store
        .open_cves()
        .await?
        .into_iter()
        .filter(|(_, cve)| changed.contains(cve))
        .map(|(org, _)| org)
        .collect();
    for org in orgs {
        let before = state.store.latest_rating(&org).await?.map(|r| r.score);
        let after = crate::orgs::compute_rating(state, &org).await?;
        summary.rerated.push(Rerated {
            org_id: org,
            score_before: before,
            score: after.score,
        });
    }
    Ok(summary)
}

async fn admin_load(
    state: &AppState,
    p: &cyrisk_store::Principal,
    kind: FeedKind,
    body: Bytes,
) -> Result<Json<FeedLoadSummary>, ApiError> {
    authorize_role(p, Action::LoadFeed)?;
    Ok(Json(load(state, kind, body, Some(&p.key_id)).await?))
}

/// Load a CISA KEV catalogue snapshot (the published JSON); re-rates the organisations with
/// an unresolved finding on a newly listed CVE.
#[utoipa::path(
    post, path = "/api/v1/feeds/kev", operation_id = "load_kev", tag = "feeds",
    request_body(content = String, description = "known_exploited_vulnerabilities.json", content_type = "application/json"),
    responses(
        (status = 200, description = "Stored (or already stored) and applied", body = FeedLoadSummary),
        (status = 401, description = "No or unknown API key", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Only admin keys load feeds", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "Body larger than the configured limit", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Not a KEV catalogue; the detail says where", body = Problem, content_type = "application/problem+json"),
    ),
    security(("api_key" = []))
)]
pub async fn load_kev(
    State(state): State<AppState>,
    Caller(p): Caller,
    body: Bytes,
) -> Result<Json<FeedLoadSummary>, ApiError> {
    admin_load(&state, &p, FeedKind::Kev, body).await
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct EpssQuery {
    /// The day the scores are for, for files published before 2022-02-04 (which carry no
    /// `#model_version:…,score_date:…` line); ignored when the file has that line.
    pub score_date: Option<NaiveDate>,
}

/// Load an EPSS daily scores file (CSV, plain or gzip); re-rates the organisations with a
/// finding whose CVE's score moved by 0.01 or more.
#[utoipa::path(
    post, path = "/api/v1/feeds/epss", operation_id = "load_epss", tag = "feeds",
    params(EpssQuery),
    request_body(content = String, description = "epss_scores-YYYY-MM-DD.csv(.gz)", content_type = "application/octet-stream"),
    responses(
        (status = 200, description = "Stored (or already stored) and applied", body = FeedLoadSummary),
        (status = 400, description = "Bad query parameters", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No or unknown API key", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Only admin keys load feeds", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "Body larger than the configured limit", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Not an EPSS file, or an old one without its score date; the detail names the line", body = Problem, content_type = "application/problem+json"),
    ),
    security(("api_key" = []))
)]
pub async fn load_epss(
    State(state): State<AppState>,
    Caller(p): Caller,
    Query(q): Query<EpssQuery>,
    body: Bytes,
) -> Result<Json<FeedLoadSummary>, ApiError> {
    admin_load(
        &state,
        &p,
        FeedKind::Epss {
            score_date: q.score_date,
        },
        body,
    )
    .await
}
