//! `cyrisk serve`: the HTTP service on the embedded SQLite default or PostgreSQL, with
//! background workers in the same process. The only module of the CLI that uses the HTTP
//! layer (`cyrisk-api`); every other command calls the application layer (`cyrisk-app`).

use std::io::Write;
use std::net::SocketAddr;

use clap::Args;
use cyrisk_api::{AppState, Options};
use cyrisk_app::App;
use cyrisk_app::jobs::{Worker, WorkerOptions};
use cyrisk_core::Bundle;
use cyrisk_store::{LoadTarget, Principal, Role};

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
    /// On an empty database, load the example organisations, give a demo insurer a book of
    /// policies on them (each priced by a quote), and print an admin and an insurer key.
    #[arg(long)]
    demo: bool,
    /// Background workers running jobs in this process (0: none; run `cyrisk worker`
    /// elsewhere).
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u16).range(0..=256))]
    workers: u16,
    /// Largest request body accepted, in MiB.
    #[arg(long, default_value_t = 64, value_parser = clap::value_parser!(u64).range(1..=4096))]
    body_limit_mib: u64,
    #[command(flatten)]
    hooks: crate::jobs::WebhookArgs,
}

/// Logs to standard error; RUST_LOG sets the level (default: warnings and errors).
pub(crate) fn init_logging() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .try_init();
}

/// `cyrisk openapi`: the HTTP API's description (it lives with `serve`, the only command that
/// touches the HTTP layer).
pub(crate) fn print_openapi(out: &mut dyn Write) -> anyhow::Result<()> {
    write!(out, "{}", cyrisk_api::openapi_json())?;
    Ok(())
}

pub(crate) fn serve(a: &ServeArgs, out: &mut dyn Write) -> anyhow::Result<()> {
    init_logging();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    rt.block_on(async {
        let store = open(&a.db).await?;
        let empty = store.list_organizations(1, 0).await?.is_empty();
        if a.demo && !empty {
            writeln!(
                out,
                "demo: the database already holds organisations: nothing loaded and no key shown \
                 (create one: cyrisk keys create --role admin --name me)"
            )?;
        }
        let seed_book = a.demo && empty;
        if a.demo && empty {
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
        let app = App::builtin(store.clone())
            .and_then(|app| app.with_webhook_policy(a.hooks.policy()))
            .map_err(|e| anyhow::anyhow!("{e}"))?
            .with_reports(std::sync::Arc::new(cyrisk_report::Renderer))
            .with_analytics(std::sync::Arc::new(cyrisk_analytics::Analytics));
        if seed_book {
            let (insurer, bound) = demo_book(&app).await?;
            writeln!(
                out,
                "demo: a book of {bound} policies for the demo insurer; its key (shown once):\n  {insurer}"
            )?;
        }
        let options = Options {
            body_limit: (a.body_limit_mib * 1024 * 1024) as usize,
        };
        let listener = tokio::net::TcpListener::bind(a.addr)
            .await
            .map_err(|e| input_error(format!("cannot listen on {}: {e}", a.addr)))?;
        writeln!(
            out,
            "cyrisk listening on http://{} ({:?}); API docs at http://{}/docs; live rating page at http://{}/app; {} background workers",
            listener.local_addr()?,
            store.backend(),
            listener.local_addr()?,
            listener.local_addr()?,
            a.workers
        )?;
        out.flush()?;
        // The PDF report's fonts, read now (off the request path) so a missing package shows at
        // start; without them PDF requests answer 503 with the same message, HTML still works.
        std::thread::spawn(|| {
            if let Err(e) = cyrisk_report::pdf::check_fonts() {
                eprintln!("warning: PDF reports are unavailable: {e}");
            }
        });
        // One shutdown signal for the server and the workers.
        let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
        let workers = (a.workers > 0).then(|| {
            let worker = Worker::new(
                app.clone(),
                WorkerOptions {
                    concurrency: usize::from(a.workers),
                    ..WorkerOptions::default()
                },
            );
            let mut rx = stop_rx.clone();
            tokio::spawn(async move {
                worker
                    .run(async move {
                        let _ = rx.wait_for(|s| *s).await;
                    })
                    .await;
            })
        });
        let mut rx = stop_rx.clone();
        let server = axum::serve(listener, cyrisk_api::app(AppState::new(app), &options))
            .with_graceful_shutdown(async move {
                let _ = rx.wait_for(|s| *s).await;
            });
        tokio::spawn(async move {
            crate::jobs::shutdown_signal().await;
            let _ = stop_tx.send(true);
        });
        server.await?;
        if let Some(w) = workers {
            let _ = w.await;
        }
        store.close().await;
        Ok(())
    })
}

/// Layers of the demo book, by example: (deductible, per-occurrence limit), in the
/// organisation's currency.
const DEMO_LAYERS: [(&str, f64, f64); 3] = [
    ("sme-external-scan", 50_000.0, 1_000_000.0),
    ("manufacturer", 250_000.0, 5_000_000.0),
    ("power-utility", 500_000.0, 10_000_000.0),
];

/// The demo insurer's book: a key, and on each example organisation a one-year policy that
/// began 30 days ago, bound at the premium its quote priced. Returns the insurer's key and
/// the policies bound.
async fn demo_book(app: &App) -> anyhow::Result<(String, usize)> {
    let store = &app.store;
    let key = store
        .create_key("demo insurer", Role::Insurer, None, Some("demo"))
        .await?;
    let operator = Principal::operator();
    let today = cyrisk_app::today();
    let orgs = store.list_organizations(100, 0).await?;
    let mut bound = 0;
    for (example, deductible, limit) in DEMO_LAYERS {
        let Some((_, text)) = DEMO.iter().find(|(n, _)| *n == example) else {
            continue;
        };
        let name = Bundle::from_json(text)
            .map_err(|e| anyhow::anyhow!("example {example}: {e}"))?
            .profile()
            .name
            .clone();
        let Some(org) = orgs.iter().find(|o| o.name == name) else {
            continue;
        };
        let quote = app
            .quote(
                &operator,
                &cyrisk_app::quotes::QuoteRequest {
                    organization_id: org.id.clone(),
                    deductible,
                    limit,
                    aggregate_limit: None,
                    trials: 20_000,
                    seed: 1,
                },
            )
            .await
            .map_err(|e| anyhow::anyhow!("demo quote for {example}: {e}"))?;
        let doc: serde_json::Value = serde_json::from_str(&quote.quote)?;
        let premium = doc["premium"]["premium"]
            .as_f64()
            .ok_or_else(|| anyhow::anyhow!("demo quote for {example} has no premium"))?;
        app.bind_policy(
            &operator,
            cyrisk_app::policies::BindRequest {
                organization_id: org.id.clone(),
                insurer_key_id: Some(key.id.clone()),
                quote_id: Some(quote.id.clone()),
                starts_on: today - chrono::Duration::days(30),
                ends_on: today + chrono::Duration::days(334),
                currency: None,
                deductible,
                limit,
                premium: premium.round(),
            },
        )
        .await
        .map_err(|e| anyhow::anyhow!("demo policy for {example}: {e}"))?;
        bound += 1;
    }
    Ok((key.key, bound))
}
