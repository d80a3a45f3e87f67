//! `cyrisk serve`: the HTTP service on the embedded SQLite default or PostgreSQL.

use std::io::Write;
use std::net::SocketAddr;
use std::sync::Arc;

use clap::Args;
use cyrisk_api::{AppState, Metrics, Options};
use cyrisk_core::{Bundle, KevCatalog, RatingModel};
use cyrisk_store::{LoadTarget, Principal, Role};

use crate::commands::KEV_SNAPSHOT;
use crate::db::{Db, open};
use crate::input_error;

/// The example bundles, loaded by `--demo` into an empty database.
const DEMO: [(&str, &str); 3] = [
    (
        "sme-external-scan",
        include_str!("../../../examples/sme-external-scan.json"),
    ),
    (
        "manufacturer",
        include_str!("../../../examples/manufacturer.json"),
    ),
    (
        "power-utility",
        include_str!("../../../examples/power-utility.json"),
    ),
];

#[derive(Debug, Args)]
pub(crate) struct ServeArgs {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:8080")]
    addr: SocketAddr,
    #[command(flatten)]
    db: Db,
    /// On an empty database, load the example organisations and print an admin key.
    #[arg(long)]
    demo: bool,
    /// Largest request body accepted, in MiB.
    #[arg(long, default_value_t = 64, value_parser = clap::value_parser!(u64).range(1..=4096))]
    body_limit_mib: u64,
}

pub(crate) fn serve(a: &ServeArgs, out: &mut dyn Write) -> anyhow::Result<()> {
    // Logs to standard error; RUST_LOG sets the level (default: warnings and errors).
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .try_init();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    rt.block_on(async {
        let store = open(&a.db).await?;
        if a.demo && store.list_organizations(1, 0).await?.is_empty() {
            for (name, text) in DEMO {
                let b =
                    Bundle::from_json(text).map_err(|e| anyhow::anyhow!("example {name}: {e}"))?;
                store
                    .load_bundle(LoadTarget::ByName, &b, &Principal::operator())
                    .await?;
            }
            let key = store
                .create_key("demo admin", Role::Admin, None, Some("demo"))
                .await?;
            writeln!(
                out,
                "demo: loaded {} example organisations; admin key (shown once):\n  {}",
                DEMO.len(),
                key.key
            )?;
        }
        let state = app_state(store.clone())?;
        let options = Options {
            body_limit: (a.body_limit_mib * 1024 * 1024) as usize,
        };
        let listener = tokio::net::TcpListener::bind(a.addr)
            .await
            .map_err(|e| input_error(format!("cannot listen on {}: {e}", a.addr)))?;
        writeln!(
            out,
            "cyrisk listening on http://{} ({:?}); API docs at http://{}/docs",
            listener.local_addr()?,
            store.backend(),
            listener.local_addr()?
        )?;
        out.flush()?;
        axum::serve(listener, cyrisk_api::app(state, &options))
            .with_graceful_shutdown(async {
                let _ = tokio::signal::ctrl_c().await;
            })
            .await?;
        store.close().await;
        Ok(())
    })
}

/// The service's state over a store: the built-in models and the bundled KEV snapshot.
pub(crate) fn app_state(store: cyrisk_store::Store) -> anyhow::Result<AppState> {
    let kev = KevCatalog::from_json(KEV_SNAPSHOT)
        .map_err(|e| anyhow::anyhow!("bundled KEV snapshot: {e}"))?;
    Ok(AppState {
        store,
        model: Arc::new(RatingModel::builtin()),
        kev: Arc::new(kev),
        severity: Arc::new(cyrisk_sim::severity::SeverityModel::builtin()),
        pricing: Arc::new(cyrisk_sim::pricing::PricingModel::builtin()),
        metrics: Arc::new(Metrics::default()),
        feeds: Default::default(),
    })
}
