//! Threat-intelligence feeds: loading a KEV or EPSS snapshot, enriching ratings from the
//! current snapshots, and queueing the re-rating of exactly the organisations a new snapshot
//! affects.
//!
//! The current snapshot of a kind is the newest by the date its content carries (the KEV
//! catalogue's release, the EPSS score date) — for KEV, the catalogue built into cyrisk counts
//! too — so loading an older file stores it for the record without making it current.
//!
//! A load runs in one write transaction that holds the feed's lock: the snapshot that was
//! current, the new one, what changed between them and one re-rating job per affected
//! organisation commit together, so two concurrent loads cannot both compare against the same
//! "before", and a crash leaves either all of it or none.
//!
//! Snapshots are immutable and keyed by id, so each process may cache the parsed ones: the
//! cache can never disagree with the store. It is bounded (an EPSS snapshot holds about
//! 310,000 scores) and keeps the most recently used.

use std::collections::{BTreeSet, HashSet};
use std::num::NonZeroUsize;
use std::sync::{Arc, Mutex};

use chrono::NaiveDate;
use cyrisk_core::KevCatalog;
use cyrisk_core::units::Probability;
use cyrisk_ingest::feeds::EpssScores;
use cyrisk_store::{FeedKind, FeedSnapshot, NewJob, WriteTx};
use serde::Serialize;

use crate::error::{AppError, Result};
use crate::{App, today};

/// EPSS moves smaller than this do not re-rate an organisation.
pub const EPSS_CHANGE: f32 = 0.01;

/// Parsed snapshots a process keeps (the current KEV and EPSS and the ones before them).
pub const CACHE_SNAPSHOTS: usize = 4;

/// A parsed snapshot.
#[derive(Debug)]
pub enum Parsed {
    Kev(Arc<KevCatalog>),
    Epss(Arc<EpssScores>),
}

/// Parsed snapshots by id, least recently used evicted first.
#[derive(Debug)]
pub struct FeedCache {
    parsed: Mutex<lru::LruCache<String, Arc<Parsed>>>,
}

impl FeedCache {
    pub fn new(capacity: usize) -> Self {
        Self {
            parsed: Mutex::new(lru::LruCache::new(
                NonZeroUsize::new(capacity).unwrap_or(NonZeroUsize::MIN),
            )),
        }
    }

    fn get(&self, id: &str) -> Option<Arc<Parsed>> {
        // A poisoned lock only means another thread panicked mid-update of a cache: start
        // from what is there.
        let mut c = self.parsed.lock().unwrap_or_else(|p| p.into_inner());
        c.get(id).cloned()
    }

    fn put(&self, id: &str, p: Arc<Parsed>) {
        let mut c = self.parsed.lock().unwrap_or_else(|p| p.into_inner());
        c.put(id.to_owned(), p);
    }

    /// How many parsed snapshots are held.
    pub fn len(&self) -> usize {
        self.parsed.lock().unwrap_or_else(|p| p.into_inner()).len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
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

/// Which feed a file is, as the caller says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FeedFile {
    Kev,
    /// EPSS scores; the score date for files without a `#model_version` line.
    Epss {
        score_date: Option<NaiveDate>,
    },
}

impl FeedFile {
    pub fn kind(self) -> FeedKind {
        match self {
            Self::Kev => FeedKind::Kev,
            Self::Epss { .. } => FeedKind::Epss,
        }
    }
}

/// One organisation whose re-rating a feed load queued.
#[derive(Debug, Clone, Serialize)]
pub struct QueuedRerate {
    pub org_id: String,
    pub job_id: String,
}

/// What loading a snapshot did.
#[derive(Debug, Clone, Serialize)]
pub struct FeedLoadSummary {
    pub kind: FeedKind,
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
    /// The organisations with a finding that still counts on a changed CVE (only those), each
    /// with the re-rating job queued for it in the load's transaction.
    pub rerating: Vec<QueuedRerate>,
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

/// Parses a snapshot's bytes (CPU work: on the blocking pool).
async fn parse(kind: FeedFile, data: Arc<[u8]>) -> Result<Parsed> {
    tokio::task::spawn_blocking(move || match kind {
        FeedFile::Kev => cyrisk_ingest::feeds::parse_kev(&data).map(|k| Parsed::Kev(Arc::new(k))),
        FeedFile::Epss { score_date } => cyrisk_ingest::feeds::parse_epss(&data[..], score_date)
            .map(|e| Parsed::Epss(Arc::new(e))),
    })
    .await?
    .map_err(|e| AppError::Invalid(format!("the {} file: {e}", kind.kind().as_str())))
}

impl App {
    /// A stored snapshot, parsed (from the cache when it holds it).
    async fn parsed(&self, snapshot: &FeedSnapshot) -> Result<Arc<Parsed>> {
        if let Some(p) = self.feeds.get(&snapshot.id) {
            return Ok(p);
        }
        let data: Arc<[u8]> = self.store.feed_data(&snapshot.id).await?.into();
        let file = match snapshot.kind {
            FeedKind::Kev => FeedFile::Kev,
            FeedKind::Epss => FeedFile::Epss {
                score_date: snapshot.published.parse().ok(),
            },
        };
        // A stored snapshot that no longer parses is the store's fault, not the caller's.
        let p = Arc::new(parse(file, data).await.map_err(|e| {
            AppError::internal(format!("stored feed snapshot {}: {e}", snapshot.id))
        })?);
        self.feeds.put(&snapshot.id, p.clone());
        Ok(p)
    }

    /// The KEV catalogue of a snapshot, or the built-in one when that is newer (or none).
    async fn kev_of(&self, latest: Option<&FeedSnapshot>) -> Result<Arc<KevCatalog>> {
        let builtin = cyrisk_ingest::feeds::kev_published(&self.models.kev);
        match latest {
            Some(s) if builtin.is_none_or(|b| s.published >= b.to_string()) => {
                match &*self.parsed(s).await? {
                    Parsed::Kev(k) => Ok(k.clone()),
                    Parsed::Epss(_) => Err(AppError::internal("a kev snapshot holds EPSS")),
                }
            }
            _ => Ok(self.models.kev.clone()),
        }
    }

    async fn epss_of(&self, latest: Option<&FeedSnapshot>) -> Result<Option<Arc<EpssScores>>> {
        match latest {
            Some(s) => match &*self.parsed(s).await? {
                Parsed::Epss(e) => Ok(Some(e.clone())),
                Parsed::Kev(_) => Err(AppError::internal("an epss snapshot holds KEV")),
            },
            None => Ok(None),
        }
    }

    /// The current snapshots (the built-in KEV catalogue when none newer was loaded).
    pub async fn current_feeds(&self) -> Result<Feeds> {
        let kev = self
            .kev_of(self.store.latest_feed(FeedKind::Kev).await?.as_ref())
            .await?;
        let epss = self
            .epss_of(self.store.latest_feed(FeedKind::Epss).await?.as_ref())
            .await?;
        Ok(feeds_of(kev, epss))
    }

    /// Parses, stores and applies a snapshot: when it is newer (by its own date) than the
    /// current one, it becomes current and one re-rating job is queued for each organisation
    /// it changes — in the same transaction; an older one is stored for the record and
    /// changes nothing. `actor` is the key id (or `cli`) for the audit log.
    pub async fn load_feed(
        &self,
        file: FeedFile,
        bytes: Arc<[u8]>,
        actor: Option<&str>,
    ) -> Result<FeedLoadSummary> {
        let kind = file.kind();
        let name = kind.as_str();
        let hash = cyrisk_ingest::content_hash(&bytes);
        let parsed_new = parse(file, bytes.clone()).await?;
        let (version, published, entries) = match &parsed_new {
            Parsed::Kev(k) => (
                k.version.clone(),
                cyrisk_ingest::feeds::kev_published(k),
                k.len() as i64,
            ),
            Parsed::Epss(e) => (e.version(), Some(e.score_date), e.scores.len() as i64),
        };
        let published = published
            .ok_or_else(|| AppError::Invalid(format!("the {name} file carries no date")))?;
        // A snapshot from the future would stay "newest" and shadow every real one after it.
        let today = today();
        if published > today + chrono::Duration::days(1) {
            return Err(AppError::Invalid(format!(
                "the {name} file is dated {published}, after today ({today}): check the date; nothing was loaded"
            )));
        }
        let published = published.to_string();
        let parsed_new = Arc::new(parsed_new);
        // The slow parts — reading and parsing the snapshot current now, comparing — happen
        // before the write transaction; inside it, under the feed's lock, the current
        // snapshot is read again, and if another load made a newer one current meanwhile
        // the comparison is redone against it.
        for _ in 0..3 {
            let before = self.store.latest_feed(kind).await?;
            let old = match kind {
                FeedKind::Kev => Old::Kev(self.kev_of(before.as_ref()).await?),
                FeedKind::Epss => Old::Epss(self.epss_of(before.as_ref()).await?),
            };
            let (new, old_for_diff) = (parsed_new.clone(), old.clone());
            let changed = tokio::task::spawn_blocking(move || match (&*new, &old_for_diff) {
                (Parsed::Kev(n), Old::Kev(o)) => kev_changes(n, o),
                (Parsed::Epss(n), Old::Epss(o)) => epss_changes(n, o.as_deref()),
                _ => HashSet::new(),
            })
            .await?;

            let mut tx = self.store.write_tx().await?;
            tx.lock_feed(kind).await?;
            let before_now = tx.latest_feed(kind).await?;
            if before_now.as_ref().map(|b| &b.id) != before.as_ref().map(|b| &b.id) {
                continue; // another load committed meanwhile: compare against it
            }
            let (snapshot, created) = tx
                .insert_feed(
                    &cyrisk_store::NewFeed {
                        kind,
                        version: &version,
                        published: &published,
                        content_hash: &hash,
                        entries,
                        data: &bytes,
                    },
                    actor,
                )
                .await?;
            let after = tx.latest_feed(kind).await?;
            // The snapshot is current when it is the newest stored (and, for KEV, not older
            // than the catalogue built into cyrisk); otherwise what was current stays so.
            let builtin_kev = cyrisk_ingest::feeds::kev_published(&self.models.kev);
            let newest = after.as_ref().is_some_and(|a| a.id == snapshot.id);
            let current = newest
                && (kind != FeedKind::Kev
                    || builtin_kev.is_none_or(|b| snapshot.published >= b.to_string()));
            let current_version = if current {
                snapshot.version.clone()
            } else {
                match &old {
                    Old::Kev(k) => k.version.clone(),
                    Old::Epss(_) => after
                        .as_ref()
                        .map(|a| a.version.clone())
                        .unwrap_or_default(),
                }
            };
            // A file loaded before is reported as it was stored (whatever date was given
            // this time).
            let mut summary = FeedLoadSummary {
                kind,
                version: snapshot.version.clone(),
                published: snapshot.published.clone(),
                snapshot_id: snapshot.id.clone(),
                entries,
                duplicate: !created,
                current,
                current_version,
                changed_cves: 0,
                rerating: Vec::new(),
            };
            if created && current {
                summary.changed_cves = changed.len();
                summary.rerating =
                    enqueue_affected(&mut tx, &changed, &format!("{name} {version}")).await?;
            }
            tx.commit().await?;
            if created && current {
                self.feeds.put(&snapshot.id, parsed_new);
                metrics::counter!("cyrisk_feed_loads_total", "kind" => name).increment(1);
            }
            return Ok(summary);
        }
        Err(AppError::Conflict(format!(
            "other {name} loads kept committing while this one compared: load it again"
        )))
    }
}

/// The snapshot a load compares against.
#[derive(Debug, Clone)]
enum Old {
    Kev(Arc<KevCatalog>),
    Epss(Option<Arc<EpssScores>>),
}

/// One re-rating job per organisation with a finding that still counts on a changed CVE, in
/// the load's transaction.
async fn enqueue_affected(
    tx: &mut WriteTx,
    changed: &HashSet<String>,
    reason: &str,
) -> Result<Vec<QueuedRerate>> {
    let orgs: BTreeSet<String> = tx
        .open_cves()
        .await?
        .into_iter()
        .filter(|(_, cve)| changed.contains(cve))
        .map(|(org, _)| org)
        .collect();
    let mut out = Vec::with_capacity(orgs.len());
    for org in orgs {
        let job = tx.enqueue(&NewJob::rerate(&org, reason)).await?;
        out.push(QueuedRerate {
            org_id: org,
            job_id: job.id,
        });
    }
    Ok(out)
}

fn feeds_of(kev: Arc<KevCatalog>, epss: Option<Arc<EpssScores>>) -> Feeds {
    let label = serde_json::json!({
        "kev": kev.version,
        "epss": epss.as_ref().map(|e| e.version()),
    })
    .to_string();
    Feeds { kev, epss, label }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kev(version: &str) -> Arc<Parsed> {
        let text = format!(
            r#"{{"title":"t","catalogVersion":"{version}","dateReleased":"2025-08-25T00:00:00Z","count":0,"vulnerabilities":[]}}"#
        );
        Arc::new(Parsed::Kev(Arc::new(
            KevCatalog::from_json(&text).expect("a catalogue"),
        )))
    }

    /// The cache holds at most its capacity, evicting the least recently used.
    #[test]
    fn the_snapshot_cache_is_bounded_and_keeps_the_recently_used() {
        let c = FeedCache::new(2);
        c.put("a", kev("1"));
        c.put("b", kev("2"));
        assert!(c.get("a").is_some()); // a is now the most recently used
        c.put("c", kev("3"));
        assert_eq!(c.len(), 2);
        assert!(c.get("b").is_none(), "the least recently used went");
        assert!(c.get("a").is_some() && c.get("c").is_some());
        assert_eq!(FeedCache::new(0).parsed.lock().unwrap().cap().get(), 1);
    }
}
