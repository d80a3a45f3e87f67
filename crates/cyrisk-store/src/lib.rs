//! cyrisk-store: persistence behind one `Store` API, on SQLite (the embedded default: file
//! created if missing, WAL) or PostgreSQL (the production and multi-instance store), chosen by
//! the URL scheme.
//!
//! Queries are written once, with `$N` placeholders that both backends' sqlx drivers accept,
//! and run through sqlx's `Any` driver with runtime `query` (no compile-time database). Each
//! backend has its own migrations (`migrations/{sqlite,postgres}`), embedded in the binary.
//! Every bulk write is one transaction: all or nothing.

mod book;
pub mod claims;
mod feeds;
mod imports;
mod inputs;
pub mod integrity;
pub mod jobs;
mod keys;
mod lifecycle;
mod migrate;
pub mod monitoring;
mod orgs;
mod policies;
mod ratings;
mod sessions;
mod simulations;
pub mod tickets;
mod timeline;
mod underwriting;

use std::str::FromStr;

use sqlx::any::{AnyPoolOptions, install_default_drivers};
use sqlx::{AnyConnection, AnyPool, Connection, Executor};

pub use book::{BookInventory, BookOrganization, BookRating, BookScore};
pub use claims::{ClaimMovement, ClaimStatus, InsuranceClaim, MovementKind, NewClaim};
pub use feeds::{FeedKind, FeedSnapshot, NewFeed};
pub use imports::ImportOutcome;
pub use inputs::{InputsBatch, UpsertSummary};
pub use jobs::{Claim, ClaimFilter, Enqueued, Job, JobState, NewJob, QueueStats, WriteTx};
pub use keys::{AuditEntry, KeyInfo, NewKey, Principal, Role};
pub use lifecycle::{Dispute, DisputeStatus, StateOutcome};
pub use monitoring::{
    Alert, AlertFilter, Delivery, DeliveryAttempt, DeliveryTarget, NewAlert, NewWebhook, Webhook,
};
pub use orgs::{LoadSummary, LoadTarget, OrgSummary, StateChange};
pub use policies::{Endorsement, Inception, NewEndorsement, NewPolicy, Policy, PolicyPhase};
pub use ratings::{CurrentRating, RawRating, StoredQuote, StoredRating};
pub use sessions::{NewSession, Session};
pub use simulations::{AllocatedCapital, BookSimulation, BookSimulationPolicy};
pub use tickets::{
    ClosedTicket, NewTicket, Ticket, TicketEvent, TicketSource, TicketStatus, TicketUpdate,
};
pub use timeline::{TimelineEntry, TimelineScope};
pub use underwriting::{Application, ApplicationStatus};

/// Which database a store talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("unsupported database URL {url:?}: use sqlite://PATH or postgres://…")]
    UnsupportedUrl { url: String },
    #[error("cannot connect to {url}")]
    Connect { url: String, source: sqlx::Error },
    #[error("running migrations")]
    Migrate(#[source] sqlx::migrate::MigrateError),
    #[error("{what} {id:?} not found")]
    NotFound { what: &'static str, id: String },
    #[error("{0}")]
    Invalid(String),
    /// The writer's role may not make this change (rating integrity); `code` is stable.
    #[error("{message}")]
    Forbidden { code: &'static str, message: String },
    /// The change conflicts with the stored state (e.g. a dispute already pending).
    #[error("{0}")]
    Conflict(String),
    /// A job's lease was taken over (it expired and another worker claimed the job): the
    /// attempt's outcome is not recorded and its effect must be rolled back.
    #[error("job {0}: the lease was lost to another worker")]
    LeaseLost(String),
    #[error("stored data could not be read: {0}")]
    Corrupt(String),
    #[error("database error")]
    Database(#[from] sqlx::Error),
}

impl StoreError {
    /// Another writer held the database longer than the busy timeout (SQLite's single writer:
    /// SQLITE_BUSY or SQLITE_LOCKED; PostgreSQL: lock not available, deadlock, serialisation
    /// failure), or no pooled connection came free in time: a temporary condition the caller
    /// may retry.
    pub fn is_busy(&self) -> bool {
        match self {
            Self::Database(sqlx::Error::PoolTimedOut) => true,
            Self::Database(sqlx::Error::Database(db)) => matches!(
                db.code().as_deref(),
                Some("5" | "6" | "517" | "262" | "55P03" | "40P01" | "40001")
            ),
            _ => false,
        }
    }

    /// The database refused a text value as such (PostgreSQL: a NUL character, SQLSTATE
    /// 22021 or 22P05): the writer's mistake, not the store's.
    pub fn is_unstorable_text(&self) -> bool {
        matches!(self, Self::Database(sqlx::Error::Database(db))
            if matches!(db.code().as_deref(), Some("22021" | "22P05")))
    }
}

pub type Result<T> = std::result::Result<T, StoreError>;

/// A URL with any password replaced, for messages and logs.
pub fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => {
            let creds = &url[s + 3..at];
            match creds.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..s + 3], &url[at..]),
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}

/// The store: a connection pool and the backend it runs on.
#[derive(Debug, Clone)]
pub struct Store {
    pool: AnyPool,
    backend: Backend,
}

impl Store {
    /// Connects; a SQLite file is created if missing and put in WAL mode. Does not migrate.
    pub async fn connect(url: &str) -> Result<Self> {
        install_default_drivers();
        let backend = if url.starts_with("sqlite:") {
            Backend::Sqlite
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Backend::Postgres
        } else {
            return Err(StoreError::UnsupportedUrl { url: redact(url) });
        };
        let url_owned = match backend {
            // Create the file if it does not exist.
            Backend::Sqlite if !url.contains("mode=") => {
                format!("{url}{}mode=rwc", if url.contains('?') { '&' } else { '?' })
            }
            _ => url.to_owned(),
        };
        // One plain connection first: an unreachable database fails now, with its error,
        // instead of after the pool's acquire timeout.
        let probe =
            AnyConnection::connect(&url_owned)
                .await
                .map_err(|source| StoreError::Connect {
                    url: redact(url),
                    source,
                })?;
        probe.close().await.map_err(|source| StoreError::Connect {
            url: redact(url),
            source,
        })?;
        let mut options = AnyPoolOptions::new()
            .max_connections(if backend == Backend::Sqlite { 4 } else { 16 })
            .acquire_timeout(std::time::Duration::from_secs(10));
        if backend == Backend::Sqlite {
            options = options.after_connect(|conn, _| {
                Box::pin(async move {
                    conn.execute("PRAGMA foreign_keys = ON; PRAGMA busy_timeout = 10000; PRAGMA synchronous = NORMAL;")
                        .await?;
                    Ok(())
                })
            });
        }
        let pool = options
            .connect(&url_owned)
            .await
            .map_err(|source| StoreError::Connect {
                url: redact(url),
                source,
            })?;
        if backend == Backend::Sqlite {
            sqlx::query("PRAGMA journal_mode = WAL")
                .execute(&pool)
                .await?;
        }
        Ok(Self { pool, backend })
    }

    /// Connects and brings the schema up to date.
    pub async fn open(url: &str) -> Result<Self> {
        let store = Self::connect(url).await?;
        store.migrate().await?;
        Ok(store)
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }

    /// A round trip to the database.
    pub async fn ping(&self) -> Result<()> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    pub async fn close(&self) {
        self.pool.close().await;
    }

    /// Starts a read transaction that sees one snapshot for all its statements: SQLite's
    /// deferred transaction in WAL mode does; PostgreSQL needs REPEATABLE READ (its default,
    /// READ COMMITTED, takes a fresh snapshot per statement).
    pub(crate) async fn begin_read(&self) -> Result<sqlx::Transaction<'static, sqlx::Any>> {
        let mut tx = self.pool.begin().await?;
        if self.backend == Backend::Postgres {
            sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
                .execute(&mut *tx)
                .await?;
        }
        Ok(tx)
    }

    /// Starts a write transaction. On SQLite it takes the write lock up front (`BEGIN
    /// IMMEDIATE`), so concurrent writers wait for it (busy timeout) instead of failing when a
    /// read transaction would have to be upgraded to a write.
    pub(crate) async fn begin_write(&self) -> Result<sqlx::Transaction<'static, sqlx::Any>> {
        Ok(match self.backend {
            Backend::Sqlite => self.pool.begin_with("BEGIN IMMEDIATE").await?,
            Backend::Postgres => self.pool.begin().await?,
        })
    }
}

impl Store {
    /// Locks an organisation's row for the write transaction `tx` (PostgreSQL; SQLite's
    /// `BEGIN IMMEDIATE` already serialises writers): concurrent writes to one organisation
    /// queue instead of losing an update. `NotFound` when it does not exist.
    pub(crate) async fn lock_org(
        &self,
        tx: &mut sqlx::Transaction<'static, sqlx::Any>,
        org_id: &str,
    ) -> Result<()> {
        let lock = self.backend.row_lock();
        sqlx::query(&format!("SELECT id FROM organizations WHERE id = $1{lock}"))
            .bind(org_id)
            .fetch_optional(&mut **tx)
            .await?
            .ok_or_else(|| StoreError::NotFound {
                what: "organization",
                id: org_id.to_owned(),
            })?;
        Ok(())
    }
}

impl Backend {
    /// What to append to a `SELECT` of an organisation's row inside a write transaction so
    /// that concurrent writers to that organisation queue: `FOR UPDATE` on PostgreSQL;
    /// nothing on SQLite, whose `BEGIN IMMEDIATE` write lock already serialises them.
    pub(crate) fn row_lock(self) -> &'static str {
        match self {
            Self::Postgres => " FOR UPDATE",
            Self::Sqlite => "",
        }
    }
}

impl FromStr for Backend {
    type Err = StoreError;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "sqlite" => Ok(Self::Sqlite),
            "postgres" => Ok(Self::Postgres),
            other => Err(StoreError::Invalid(format!("unknown backend {other:?}"))),
        }
    }
}

/// Now, as stored: RFC 3339 UTC with microseconds (sorts as text).
pub(crate) fn now() -> String {
    stamp(chrono::Utc::now())
}

/// Now, as stored (RFC 3339 UTC with microseconds).
pub fn stamp_now() -> String {
    now()
}

/// A time as stored (see [`now`]).
pub(crate) fn stamp(t: chrono::DateTime<chrono::Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string()
}

pub(crate) fn new_id() -> String {
    uuid::Uuid::new_v4().to_string()
}

#[cfg(test)]
mod tests {
    use super::redact;

    #[test]
    fn redacts_passwords_only() {
        assert_eq!(
            redact("postgres://u:secret@h:5432/db"),
            "postgres://u:***@h:5432/db"
        );
        assert_eq!(redact("postgres://u@h/db"), "postgres://u@h/db");
        assert_eq!(redact("sqlite://cyrisk.db"), "sqlite://cyrisk.db");
    }
}
