//! Threat-intelligence feeds: loading a KEV or EPSS snapshot (admins), enriching ratings from
//! the latest snapshots, and re-rating exactly the organisations a new snapshot affects.
//!
//! Snapshots are immutable and keyed by id, so each replica may cache the parsed ones: the
//! cache can never disagree with the store.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::{Arc, Mutex};

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use cyrisk_core::KevCatalog;
use cyrisk_core::units::Probability;
use cyrisk_ingest::feeds::EpssScores;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

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

impl Feeds {
    /// Enriches a bundle: EPSS from the feed where it knows the CVE, then KEV flags.
    pub fn apply(&self, bundle: &mut cyrisk_core::Bundle) {
        if let Some(epss) = &self.epss {
            bundle.apply_epss(|cve| {
                epss.scores
                    .get(cve)
                    .and_then(|(p, _)| Probability::new(f64::from(*p)).ok())
            });
        }
        bundle.apply_kev(&self.kev);
    }
}

async fn parsed(state: &AppState, id: &str, kind: &str) -> Result<Arc<Parsed>, ApiError> {
    if let Some(p) = state.feeds.get(id)? {
        return Ok(p);
    }
    let data = state.store.feed_data(id).await?;
    let kind = kind.to_owned();
    let p = tokio::task::spawn_blocking(move || -> Result<Parsed, String> {
        Ok(match kind.as_str() {
            "kev" => Parsed::Kev(Arc::new(
                cyrisk_ingest::feeds::parse_kev(&data).map_err(|e| e.to_string())?,
            )),
            _ => Parsed::Epss(Arc::new(
                cyrisk_ingest::feeds::parse_epss(&data[..]).map_err(|e| e.to_string())?,
            )),
        })
    })
    .await
    .map_err(ApiError::internal)?
    .map_err(ApiError::internal)?;
    let p = Arc::new(p);
    state.feeds.put(id, p.clone())?;
    Ok(p)
}

/// The latest snapshots (the bundled KEV catalogue when none was loaded).
pub async fn current(state: &AppState) -> Result<Feeds, ApiError> {
    let kev = match state.store.latest_feed("kev").await? {
        Some(s) => match &*parsed(state, &s.id, "kev").await? {
            Parsed::Kev(k) => k.clone(),
            Parsed::Epss(_) => return Err(ApiError::internal("kev snapshot holds EPSS")),
        },
        None => state.kev.clone(),
    };
    let epss = match state.store.latest_feed("epss").await? {
        Some(s) => match &*parsed(state, &s.id, "epss").await? {
            Parsed::Epss(e) => Some(e.clone()),
            Parsed::Kev(_) => return Err(ApiError::internal("epss snapshot holds KEV")),
        },
        None => None,
    };
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
    pub snapshot_id: String,
    pub entries: i64,
    /// The same file was loaded before: nothing changed.
    pub duplicate: bool,
    /// CVEs new to the catalogue (KEV) or whose EPSS moved by 0.01 or more.
    pub changed_cves: usize,
    /// The organisations with an unresolved finding on a changed CVE, re-rated (only those).
    pub rerated: Vec<Rerated>,
}

/// Which feed a file is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FeedKind {
    Kev,
    Epss,
}

/// Parses, stores and applies a snapshot.
pub async fn load(
    state: &AppState,
    kind: FeedKind,
    bytes: Bytes,
    actor: Option<&str>,
) -> Result<FeedLoadSummary, ApiError> {
    let name = match kind {
        FeedKind::Kev => "kev",
        FeedKind::Epss => "epss",
    };
    let hash = cyrisk_ingest::content_hash(&bytes);
    let data = bytes.clone();
    let parsed_new = tokio::task::spawn_blocking(move || match kind {
        FeedKind::Kev => cyrisk_ingest::feeds::parse_kev(&data).map(|k| Parsed::Kev(Arc::new(k))),
        FeedKind::Epss => {
            cyrisk_ingest::feeds::parse_epss(&data[..]).map(|e| Parsed::Epss(Arc::new(e)))
        }
    })
    .await
    .map_err(ApiError::internal)?
    .map_err(|e| ApiError::invalid(format!("the {name} file: {e}")))?;
    let (version, entries) = match &parsed_new {
        Parsed::Kev(k) => (k.version.clone(), k.len() as i64),
        Parsed::Epss(e) => (e.version(), e.scores.len() as i64),
    };
    let previous = state.store.latest_feed(name).await?;
    let (snapshot, created) = state
        .store
        .insert_feed(name, &version, &hash, entries, &bytes, actor)
        .await?;
    let mut summary = FeedLoadSummary {
        kind: name.to_owned(),
        version,
        snapshot_id: snapshot.id.clone(),
        entries,
        duplicate: !created,
        changed_cves: 0,
        rerated: Vec::new(),
    };
    if !created {
        return Ok(summary);
    }
    let parsed_new = Arc::new(parsed_new);
    state.feeds.put(&snapshot.id, parsed_new.clone())?;
    let old = match &previous {
        Some(p) => Some(parsed(state, &p.id, name).await?),
        None => None,
    };
    let changed: HashSet<String> = match &*parsed_new {
        Parsed::Kev(new) => {
            let before: HashSet<&cyrisk_core::finding::Cve> = match old.as_deref() {
                Some(Parsed::Kev(k)) => k.cves().collect(),
                _ => state.kev.cves().collect(),
            };
            new.cves()
                .filter(|c| !before.contains(c))
                .map(|c| c.as_str().to_owned())
                .collect()
        }
        Parsed::Epss(new) => {
            let before = match old.as_deref() {
                Some(Parsed::Epss(e)) => Some(&e.scores),
                _ => None,
            };
            new.scores
                .iter()
                .filter(|(cve, (p, _))| {
                    before
                        .and_then(|b| b.get(*cve))
                        .is_none_or(|(q, _)| (p - q).abs() >= EPSS_CHANGE)
                })
                .map(|(cve, _)| cve.as_str().to_owned())
                .collect()
        }
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

/// Load an EPSS daily scores file (CSV, plain or gzip); re-rates the organisations with an
/// unresolved finding whose CVE's score moved by 0.01 or more.
#[utoipa::path(
    post, path = "/api/v1/feeds/epss", operation_id = "load_epss", tag = "feeds",
    request_body(content = String, description = "epss_scores-YYYY-MM-DD.csv(.gz)", content_type = "application/octet-stream"),
    responses(
        (status = 200, description = "Stored (or already stored) and applied", body = FeedLoadSummary),
        (status = 401, description = "No or unknown API key", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Only admin keys load feeds", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "Body larger than the configured limit", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Not an EPSS file; the detail names the line", body = Problem, content_type = "application/problem+json"),
    ),
    security(("api_key" = []))
)]
pub async fn load_epss(
    State(state): State<AppState>,
    Caller(p): Caller,
    body: Bytes,
) -> Result<Json<FeedLoadSummary>, ApiError> {
    admin_load(&state, &p, FeedKind::Epss, body).await
}
