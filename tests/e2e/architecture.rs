//! Invariants stated in ARCHITECTURE.md, checked.

use std::collections::{BTreeSet, HashMap};

use crate::support::root;

/// Crates whose presence would mean cyrisk-core does I/O, async or talks to a database/HTTP.
const FORBIDDEN_IN_CORE: [&str; 12] = [
    "tokio",
    "async-std",
    "futures",
    "mio",
    "hyper",
    "reqwest",
    "axum",
    "sqlx",
    "polars",
    "rusqlite",
    "tower",
    "ureq",
];

/// The workspace's resolved dependency graph (`cargo metadata`): package names by id and, per
/// package, its normal (non-dev, non-build) dependencies.
struct Graph {
    names: HashMap<String, String>,
    deps: HashMap<String, Vec<String>>,
}

impl Graph {
    fn load() -> Self {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let out = std::process::Command::new(cargo)
            .args(["metadata", "--format-version", "1", "--manifest-path"])
            .arg(root().join("Cargo.toml"))
            .output()
            .expect("running cargo metadata");
        assert!(
            out.status.success(),
            "cargo metadata: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let meta: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        let names = meta["packages"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| {
                (
                    p["id"].as_str().unwrap().to_owned(),
                    p["name"].as_str().unwrap().to_owned(),
                )
            })
            .collect();
        let deps = meta["resolve"]["nodes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|n| {
                let normal = n["deps"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .filter(|d| {
                        d["dep_kinds"]
                            .as_array()
                            .unwrap()
                            .iter()
                            .any(|k| k["kind"].is_null())
                    })
                    .map(|d| d["pkg"].as_str().unwrap().to_owned())
                    .collect();
                (n["id"].as_str().unwrap().to_owned(), normal)
            })
            .collect();
        Self { names, deps }
    }

    /// Names of every package `crate_name` depends on, transitively, through normal
    /// dependencies.
    fn closure(&self, crate_name: &str) -> BTreeSet<String> {
        let start = self
            .names
            .iter()
            .find(|(_, n)| *n == crate_name)
            .map(|(id, _)| id.clone())
            .unwrap_or_else(|| panic!("{crate_name} in metadata"));
        let mut seen = BTreeSet::new();
        let mut stack = vec![start];
        while let Some(id) = stack.pop() {
            for dep in &self.deps[&id] {
                if seen.insert(self.names[dep].clone()) {
                    stack.push(dep.clone());
                }
            }
        }
        seen
    }
}

#[test]
fn the_pure_crates_depend_on_no_io_async_or_database_crate() {
    let g = Graph::load();
    for (krate, expected) in [
        ("cyrisk-core", ["cvss", "serde"]),
        ("cyrisk-sim", ["cyrisk-core", "statrs"]),
        ("cyrisk-ingest", ["cyrisk-core", "quick-xml"]),
    ] {
        let seen = g.closure(krate);
        assert!(
            expected.iter().all(|e| seen.contains(*e)),
            "{krate}: dependency walk found {seen:?}"
        );
        let bad: Vec<_> = FORBIDDEN_IN_CORE
            .iter()
            .filter(|c| seen.contains(**c))
            .collect();
        assert!(bad.is_empty(), "{krate} depends on {bad:?}");
    }
}

/// The application layer holds the use cases and serves no HTTP: no server framework, no API
/// description, no router. Its one HTTP client — webhook delivery, through reqwest, which
/// brings hyper, http, tower and tower-http with it — is allowed; nothing of the server side
/// is.
#[test]
fn cyrisk_app_depends_on_no_http_server_crate() {
    let g = Graph::load();
    let seen = g.closure("cyrisk-app");
    assert!(
        seen.contains("cyrisk-store") && seen.contains("tokio"),
        "dependency walk found {seen:?}"
    );
    let bad: Vec<_> = [
        "axum",
        "utoipa",
        "utoipa-axum",
        "utoipa-swagger-ui",
        "matchit",
        "cyrisk-api",
    ]
    .iter()
    .filter(|c| seen.contains(**c))
    .collect();
    assert!(bad.is_empty(), "cyrisk-app depends on {bad:?}");
    // Nothing but the binary (and the test and bench harnesses) depends on the API crate.
    for (id, name) in &g.names {
        if g.deps
            .get(id)
            .is_some_and(|d| d.iter().any(|p| g.names[p] == "cyrisk-api"))
        {
            assert!(
                name == "cyrisk-cli" || name == "cyrisk-benches",
                "{name} depends on cyrisk-api"
            );
        }
    }
    // The report renderer (typst) and the book analytics (polars) are leaves: only the binary
    // depends on them; the application holds them as a `ReportRenderer` and a `BookAnalytics`.
    for leaf in ["cyrisk-report", "cyrisk-analytics"] {
        for (id, name) in &g.names {
            if g.deps
                .get(id)
                .is_some_and(|d| d.iter().any(|p| g.names[p] == leaf))
            {
                assert_eq!(name, "cyrisk-cli", "{name} depends on {leaf}");
            }
        }
    }
}

/// Every CLI command but `serve` (and `openapi`, which prints the API's description and lives
/// with it) calls the application layer, never the HTTP one.
#[test]
fn only_serve_in_the_cli_uses_the_http_layer() {
    let dir = root().join("crates/cyrisk-cli/src");
    let mut checked = 0;
    for e in std::fs::read_dir(&dir).unwrap() {
        let p = e.unwrap().path();
        if p.extension().is_none_or(|x| x != "rs") {
            continue;
        }
        checked += 1;
        let text = std::fs::read_to_string(&p).unwrap();
        let uses = text.contains("cyrisk_api") || text.contains("AppState");
        let name = p.file_name().unwrap().to_string_lossy().into_owned();
        assert_eq!(
            uses,
            name == "serve.rs",
            "{name}: only serve.rs may use cyrisk_api"
        );
    }
    assert!(checked >= 8, "found only {checked} source files");
}

#[test]
fn the_pure_crates_do_no_io_and_read_no_clock() {
    let forbidden = [
        "std::fs",
        "std::net::Tcp",
        "std::net::Udp",
        "TcpStream",
        "UdpSocket",
        "std::process",
        "std::env",
        "std::io::stdin",
        "std::io::stdout",
        "File::open",
        "async fn",
        ".await",
        "SystemTime::now",
        "Instant::now",
        "Local::now",
        "Utc::now",
        "println!",
        "eprintln!",
    ];
    let mut files = vec![
        root().join("crates/cyrisk-core/src"),
        root().join("crates/cyrisk-sim/src"),
        root().join("crates/cyrisk-ingest/src"),
    ];
    let mut checked = 0;
    while let Some(p) = files.pop() {
        if p.is_dir() {
            files.extend(std::fs::read_dir(&p).unwrap().map(|e| e.unwrap().path()));
        } else if p.extension().is_some_and(|e| e == "rs") {
            checked += 1;
            let text = std::fs::read_to_string(&p).unwrap();
            for f in forbidden {
                assert!(!text.contains(f), "{} uses {f}", p.display());
            }
        }
    }
    assert!(checked >= 40, "found only {checked} source files");
}
