//! Operator commands that work on the database directly: migrate, organisations, API keys.

use std::fmt::Write as _;
use std::io::Write;
use std::path::PathBuf;

use clap::{Args, Subcommand};
use cyrisk_core::Bundle;
use cyrisk_store::{LoadTarget, Principal, Role, Store, StoreError};

use crate::commands::{Format, read};
use crate::input_error;

/// Where the data lives.
#[derive(Debug, Clone, Args)]
pub(crate) struct Db {
    /// sqlite://PATH (created if missing) or postgres://USER@HOST/DB.
    #[arg(
        long,
        env = "CYRISK_DATABASE_URL",
        default_value = "sqlite://cyrisk.db",
        global = true
    )]
    database_url: String,
}

#[derive(Debug, Subcommand)]
pub(crate) enum OrgsCommand {
    /// Create or update an organisation from an assessment bundle; prints its id.
    Load {
        bundle: PathBuf,
        /// Update this organisation [default: the one with the bundle's name, else a new one].
        #[arg(long)]
        org: Option<String>,
        #[command(flatten)]
        db: Db,
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
    },
    /// List organisations.
    List {
        #[command(flatten)]
        db: Db,
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
    },
}

#[derive(Debug, Subcommand)]
pub(crate) enum KeysCommand {
    /// Create an API key; the key is printed once and only its hash is stored.
    Create {
        #[arg(long)]
        name: String,
        /// admin, insurer, enterprise or assessor.
        #[arg(long, value_parser = ["admin", "insurer", "enterprise", "assessor"])]
        role: String,
        /// The organisation an enterprise or assessor key is bound to.
        #[arg(long)]
        org: Option<String>,
        #[command(flatten)]
        db: Db,
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
    },
    /// List keys (never the keys themselves).
    List {
        #[command(flatten)]
        db: Db,
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
    },
    /// Assign an assessor key to one more organisation (an engagement).
    Assign {
        /// The assessor key's id.
        id: String,
        /// The organisation to assign it to.
        #[arg(long = "org", value_name = "ID")]
        org: String,
        #[command(flatten)]
        db: Db,
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
    },
    /// Revoke a key by id.
    Revoke {
        id: String,
        #[command(flatten)]
        db: Db,
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
    },
}

impl Db {
    /// The database URL as given (may hold a password: redact before printing).
    pub(crate) fn url(&self) -> &str {
        &self.database_url
    }
}

/// Store errors the user caused (bad URL, unknown id, invalid request) are input errors.
fn store_error(e: StoreError) -> anyhow::Error {
    match e {
        StoreError::UnsupportedUrl { .. }
        | StoreError::NotFound { .. }
        | StoreError::Invalid(_)
        | StoreError::Connect { .. } => {
            let mut msg = e.to_string();
            if let StoreError::Connect { source, .. } = &e {
                let _ = write!(msg, ": {source}");
            }
            input_error(msg)
        }
        other => anyhow::Error::new(other).context("database"),
    }
}

pub(crate) fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?)
}

pub(crate) async fn open(db: &Db) -> anyhow::Result<Store> {
    Store::open(&db.database_url).await.map_err(store_error)
}

pub(crate) fn migrate(db: &Db, out: &mut dyn Write) -> anyhow::Result<()> {
    runtime()?.block_on(async {
        let store = open(db).await?;
        store.close().await;
        writeln!(
            out,
            "{}: schema up to date ({:?})",
            cyrisk_store::redact(&db.database_url),
            store.backend()
        )?;
        Ok(())
    })
}

pub(crate) fn orgs(cmd: &OrgsCommand, out: &mut dyn Write) -> anyhow::Result<()> {
    runtime()?.block_on(async {
        match cmd {
            OrgsCommand::Load { bundle, org, db, format } => {
                // Validate before touching the database: bad input writes nothing.
                let text = read(bundle, "bundle")?;
                let b = Bundle::from_json(&text).map_err(|e| input_error(format!("{}: {e}", bundle.display())))?;
                let store = open(db).await?;
                let target = org.as_deref().map_or(LoadTarget::ByName, LoadTarget::Id);
                let summary = store.load_bundle(target, &b, &Principal::operator()).await.map_err(store_error)?;
                store.close().await;
                match format {
                    Format::Json => writeln!(out, "{}", serde_json::to_string_pretty(&summary)?)?,
                    Format::Text => writeln!(
                        out,
                        "{}\n({} organisation, inputs version {}: {} assets, {} findings ({} with a new or changed state), {} controls, {} incidents)",
                        summary.org_id,
                        if summary.created { "new" } else { "updated" },
                        summary.inputs_version,
                        summary.assets,
                        summary.findings,
                        summary.findings_changed_state,
                        summary.controls,
                        summary.incidents
                    )?,
                }
            }
            OrgsCommand::List { db, format } => {
                let store = open(db).await?;
                let orgs = store.list_organizations(10_000, 0).await.map_err(store_error)?;
                store.close().await;
                match format {
                    Format::Json => writeln!(out, "{}", serde_json::to_string_pretty(&orgs)?)?,
                    Format::Text => {
                        for o in &orgs {
                            writeln!(out, "{}  {:<40} {:<18} v{}", o.id, o.name, o.industry, o.inputs_version)?;
                        }
                        if orgs.is_empty() {
                            writeln!(out, "no organisations yet: cyrisk orgs load BUNDLE")?;
                        }
                    }
                }
            }
        }
        Ok(())
    })
}

pub(crate) fn keys(cmd: &KeysCommand, out: &mut dyn Write) -> anyhow::Result<()> {
    runtime()?.block_on(async {
        match cmd {
            KeysCommand::Create {
                name,
                role,
                org,
                db,
                format,
            } => {
                let role = Role::parse(role).map_err(store_error)?;
                let store = open(db).await?;
                let key = store
                    .create_key(name, role, org.as_deref(), Some("cli"))
                    .await
                    .map_err(store_error)?;
                store.close().await;
                match format {
                    Format::Json => writeln!(out, "{}", serde_json::to_string(&key)?)?,
                    Format::Text => writeln!(
                        out,
                        "id:  {}\nkey: {}\n(the key is shown only now; store it safely)",
                        key.id, key.key
                    )?,
                }
            }
            KeysCommand::List { db, format } => {
                let store = open(db).await?;
                let keys = store.list_keys().await.map_err(store_error)?;
                store.close().await;
                match format {
                    Format::Json => writeln!(out, "{}", serde_json::to_string_pretty(&keys)?)?,
                    Format::Text => {
                        for k in &keys {
                            writeln!(
                                out,
                                "{}  {:<10} {:<24} {}…  {}{}",
                                k.id,
                                k.role.as_str(),
                                k.name,
                                k.prefix,
                                k.org_id.as_deref().unwrap_or("-"),
                                if k.revoked_at.is_some() {
                                    "  (revoked)"
                                } else {
                                    ""
                                }
                            )?;
                        }
                    }
                }
            }
            KeysCommand::Assign {
                id,
                org,
                db,
                format,
            } => {
                let store = open(db).await?;
                store
                    .assign(id, org, Some("cli"))
                    .await
                    .map_err(store_error)?;
                store.close().await;
                match format {
                    Format::Json => {
                        writeln!(out, "{}", serde_json::json!({ "key": id, "assigned": org }))?
                    }
                    Format::Text => writeln!(out, "assigned key {id} to organisation {org}")?,
                }
            }
            KeysCommand::Revoke { id, db, format } => {
                let store = open(db).await?;
                store
                    .revoke_key(id, Some("cli"))
                    .await
                    .map_err(store_error)?;
                store.close().await;
                match format {
                    Format::Json => writeln!(out, "{}", serde_json::json!({ "revoked": id }))?,
                    Format::Text => writeln!(out, "revoked {id}")?,
                }
            }
        }
        Ok(())
    })
}
