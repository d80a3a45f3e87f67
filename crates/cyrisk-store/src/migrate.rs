//! Migrations per backend, embedded in the binary (so a deployed `cyrisk` needs no files) and
//! applied with sqlx's migrator through its public `MigrationSource` trait.

use std::borrow::Cow;

use futures_core::future::BoxFuture;
use sqlx::error::BoxDynError;
use sqlx::migrate::{Migration, MigrationSource, MigrationType, Migrator};

use crate::{Backend, Result, Store, StoreError};

/// (version, description, SQL) per backend, in order. Never edit a released one.
const SQLITE: &[(i64, &str, &str)] = &[
    (
        1,
        "init",
        include_str!("../migrations/sqlite/0001_init.sql"),
    ),
    (
        2,
        "org links",
        include_str!("../migrations/sqlite/0002_org_links.sql"),
    ),
    (
        3,
        "quotes",
        include_str!("../migrations/sqlite/0003_quotes.sql"),
    ),
    (
        4,
        "policies",
        include_str!("../migrations/sqlite/0004_policies.sql"),
    ),
    (
        5,
        "imports",
        include_str!("../migrations/sqlite/0005_imports.sql"),
    ),
    (
        6,
        "feeds",
        include_str!("../migrations/sqlite/0006_feeds.sql"),
    ),
    (
        7,
        "integrity",
        include_str!("../migrations/sqlite/0007_integrity.sql"),
    ),
    (
        8,
        "feed dates and cves",
        include_str!("../migrations/sqlite/0008_feed_dates_and_cves.sql"),
    ),
    (
        9,
        "dispute snapshot",
        include_str!("../migrations/sqlite/0009_dispute_snapshot.sql"),
    ),
    (
        10,
        "jobs",
        include_str!("../migrations/sqlite/0010_jobs.sql"),
    ),
    (
        11,
        "underwriting",
        include_str!("../migrations/sqlite/0011_underwriting.sql"),
    ),
    (
        12,
        "monitoring",
        include_str!("../migrations/sqlite/0012_monitoring.sql"),
    ),
    (
        13,
        "policy lifecycle",
        include_str!("../migrations/sqlite/0013_policy_lifecycle.sql"),
    ),
    (
        14,
        "tickets",
        include_str!("../migrations/sqlite/0014_tickets.sql"),
    ),
    (
        15,
        "claims",
        include_str!("../migrations/sqlite/0015_claims.sql"),
    ),
    (
        16,
        "sessions",
        include_str!("../migrations/sqlite/0016_sessions.sql"),
    ),
    (
        17,
        "book_simulations",
        include_str!("../migrations/sqlite/0017_book_simulations.sql"),
    ),
];
const POSTGRES: &[(i64, &str, &str)] = &[
    (
        1,
        "init",
        include_str!("../migrations/postgres/0001_init.sql"),
    ),
    (
        2,
        "org links",
        include_str!("../migrations/postgres/0002_org_links.sql"),
    ),
    (
        3,
        "quotes",
        include_str!("../migrations/postgres/0003_quotes.sql"),
    ),
    (
        4,
        "policies",
        include_str!("../migrations/postgres/0004_policies.sql"),
    ),
    (
        5,
        "imports",
        include_str!("../migrations/postgres/0005_imports.sql"),
    ),
    (
        6,
        "feeds",
        include_str!("../migrations/postgres/0006_feeds.sql"),
    ),
    (
        7,
        "integrity",
        include_str!("../migrations/postgres/0007_integrity.sql"),
    ),
    (
        8,
        "feed dates and cves",
        include_str!("../migrations/postgres/0008_feed_dates_and_cves.sql"),
    ),
    (
        9,
        "dispute snapshot",
        include_str!("../migrations/postgres/0009_dispute_snapshot.sql"),
    ),
    (
        10,
        "jobs",
        include_str!("../migrations/postgres/0010_jobs.sql"),
    ),
    (
        11,
        "underwriting",
        include_str!("../migrations/postgres/0011_underwriting.sql"),
    ),
    (
        12,
        "monitoring",
        include_str!("../migrations/postgres/0012_monitoring.sql"),
    ),
    (
        13,
        "policy lifecycle",
        include_str!("../migrations/postgres/0013_policy_lifecycle.sql"),
    ),
    (
        14,
        "tickets",
        include_str!("../migrations/postgres/0014_tickets.sql"),
    ),
    (
        15,
        "claims",
        include_str!("../migrations/postgres/0015_claims.sql"),
    ),
    (
        16,
        "sessions",
        include_str!("../migrations/postgres/0016_sessions.sql"),
    ),
    (
        17,
        "book_simulations",
        include_str!("../migrations/postgres/0017_book_simulations.sql"),
    ),
];

#[derive(Debug)]
struct Embedded(&'static [(i64, &'static str, &'static str)]);

impl<'s> MigrationSource<'s> for Embedded {
    fn resolve(self) -> BoxFuture<'s, std::result::Result<Vec<Migration>, BoxDynError>> {
        Box::pin(async move {
            Ok(self
                .0
                .iter()
                .map(|(v, d, sql)| {
                    Migration::new(
                        *v,
                        Cow::Borrowed(*d),
                        MigrationType::Simple,
                        Cow::Borrowed(*sql),
                        false,
                    )
                })
                .collect())
        })
    }
}

impl Store {
    /// Applies the migrations this build knows and the database has not seen.
    pub async fn migrate(&self) -> Result<()> {
        let source = match self.backend {
            Backend::Sqlite => Embedded(SQLITE),
            Backend::Postgres => Embedded(POSTGRES),
        };
        let migrator = Migrator::new(source).await.map_err(StoreError::Migrate)?;
        migrator.run(&self.pool).await.map_err(StoreError::Migrate)
    }
}

#[cfg(test)]
mod tests {
    use super::{POSTGRES, SQLITE};

    /// Every migration file on disk is embedded, in order, for both backends.
    #[test]
    fn all_migration_files_are_embedded() {
        for (dir, embedded) in [("sqlite", SQLITE), ("postgres", POSTGRES)] {
            let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("migrations")
                .join(dir);
            let mut files: Vec<String> = std::fs::read_dir(&path)
                .unwrap()
                .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .filter(|n| n.ends_with(".sql"))
                .collect();
            files.sort();
            assert_eq!(files.len(), embedded.len(), "{dir}: files {files:?}");
            for (i, (file, (version, _, sql))) in files.iter().zip(embedded).enumerate() {
                assert_eq!(*version, i as i64 + 1, "{dir}/{file}");
                assert_eq!(
                    std::fs::read_to_string(path.join(file)).unwrap(),
                    *sql,
                    "{dir}/{file} is not the embedded one"
                );
            }
        }
    }
}
