//! Migrations per backend, embedded in the binary (so a deployed `cyrisk` needs no files) and
//! applied with sqlx's migrator through its public `MigrationSource` trait.

use std::borrow::Cow;

use futures_core::future::BoxFuture;
use sqlx::error::BoxDynError;
use sqlx::migrate::{Migration, MigrationSource, MigrationType, Migrator};

use crate::{Backend, Result, Store, StoreError};

/// (version, description, SQL) per backend, in order. Never edit a released one.
const SQLITE: &[(i64, &str, &str)] = &[(
    1,
    "init",
    include_str!("../migrations/sqlite/0001_init.sql"),
)];
const POSTGRES: &[(i64, &str, &str)] = &[(
    1,
    "init",
    include_str!("../migrations/postgres/0001_init.sql"),
)];

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
