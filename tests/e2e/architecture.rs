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

#[test]
fn cyrisk_core_depends_on_no_io_async_or_database_crate() {
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
    let names: HashMap<&str, &str> = meta["packages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| (p["id"].as_str().unwrap(), p["name"].as_str().unwrap()))
        .collect();
    let nodes: HashMap<&str, &serde_json::Value> = meta["resolve"]["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| (n["id"].as_str().unwrap(), n))
        .collect();
    let core = names
        .iter()
        .find(|(_, n)| **n == "cyrisk-core")
        .map(|(id, _)| *id)
        .expect("cyrisk-core in metadata");

    // Walk normal (non-dev, non-build) dependencies transitively.
    let mut seen = BTreeSet::new();
    let mut stack = vec![core];
    while let Some(id) = stack.pop() {
        for dep in nodes[id]["deps"].as_array().unwrap() {
            let normal = dep["dep_kinds"]
                .as_array()
                .unwrap()
                .iter()
                .any(|k| k["kind"].is_null());
            let pkg = dep["pkg"].as_str().unwrap();
            if normal && seen.insert(names[pkg]) {
                stack.push(pkg);
            }
        }
    }
    assert!(
        seen.contains("cvss") && seen.contains("serde"),
        "dependency walk found nothing: {seen:?}"
    );
    let bad: Vec<_> = FORBIDDEN_IN_CORE
        .iter()
        .filter(|c| seen.contains(*c))
        .collect();
    assert!(bad.is_empty(), "cyrisk-core depends on {bad:?}");
}

#[test]
fn cyrisk_core_source_does_no_io_and_reads_no_clock() {
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
    let mut files = vec![root().join("crates/cyrisk-core/src")];
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
    assert!(checked >= 10, "found only {checked} source files");
}
