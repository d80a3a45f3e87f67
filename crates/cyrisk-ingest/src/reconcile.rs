//! A new scan against what is stored for the organisation (the finding lifecycle):
//!
//! - a finding seen again stays in its state, and its age keeps counting from when it was
//!   first seen; one that had been fixed and is seen again reopens;
//! - a finding from the same scanner that is no longer seen on an asset the scan covered moves
//!   to `fixed_pending_verification` (fixed on the scan date), and one already pending that is
//!   still absent is `closed`: the second scan verifies the fix;
//! - findings from other sources (a pentest, a CSV, another scanner) are never closed by it;
//! - only a scan loaded by a third party is evidence (`Options::verifying`): one the rated
//!   party loads itself adds what it sees but changes nothing stored, and its fixes are
//!   declarations that keep counting as before until verified;
//! - assets a scanner saw but the inventory never declared are created with `declared: false`
//!   (the rating counts them as unknown assets); stored assets a scan import finds unseen for
//!   `stale_after_days` are marked `stale` (zombie candidates), and seeing one clears it. A CSV
//!   of assets is a declaration: it neither flags nor marks stale.
//!
//! Pure: the stored bundle and the scan in, the rows to write and the counts out.

use std::collections::{HashMap, HashSet};

use chrono::{Duration, NaiveDate};
use cyrisk_core::asset::Asset;
use cyrisk_core::bundle::AssessmentBundle;
use cyrisk_core::finding::{Finding, FindingState};
use serde::Serialize;

use crate::Scan;

#[derive(Debug, Clone, Copy)]
pub struct Options {
    /// The scan's date when the file records none (and the date fixes and staleness are
    /// measured at).
    pub default_date: NaiveDate,
    /// A stored asset unseen for longer than this is marked stale.
    pub stale_after_days: i64,
    /// The scan was loaded by a third party (an assessor, the insurer, an admin, the
    /// operator), so it is evidence: a finding it no longer sees is fixed, and verified fixed
    /// when already pending. A scan the rated party loads itself is a declaration: it adds
    /// what it sees (new assets, new findings, reopened ones) but changes nothing already
    /// stored, and a finding it no longer sees becomes a declared fix that keeps counting as
    /// before ([`Finding::counts_as`]) until a verifying scan confirms it.
    pub verifying: bool,
}

/// What an import changes, counted.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Counts {
    pub assets_created: usize,
    pub assets_updated: usize,
    /// Stored assets newly marked stale by this import.
    pub assets_stale: usize,
    /// Findings new to the organisation, or reopened after a fix.
    pub findings_opened: usize,
    /// Findings seen again while unresolved.
    pub findings_still_open: usize,
    /// Findings from the same scanner no longer seen on a scanned asset: moved to
    /// `fixed_pending_verification`, or to `closed` when already pending.
    pub findings_closed: usize,
    /// Of `findings_closed`, those verified fixed (pending → closed).
    pub findings_fix_verified: usize,
    /// Of `findings_closed`, fixes the rated party's own scan declared: they keep counting
    /// as before until a verifying scan confirms them.
    pub findings_fix_declared: usize,
    /// Scanned assets the inventory does not declare.
    pub unknown_assets: Vec<String>,
    /// Stored assets marked stale by this import.
    pub stale_assets: Vec<String>,
}

/// The rows to upsert and what they amount to.
#[derive(Debug, Clone, PartialEq)]
pub struct Reconciled {
    pub assets: Vec<Asset>,
    pub findings: Vec<Finding>,
    pub counts: Counts,
    pub scan_date: NaiveDate,
    /// Scanned hosts that could not be told apart from stored assets, and the like.
    pub warnings: Vec<String>,
}

/// The scanner a finding came from: the part of `source` before the first `:`.
fn scanner(f: &Finding) -> Option<&str> {
    f.source.as_deref().and_then(|s| s.split(':').next())
}

/// The services after a scan: what the scan saw, each port keeping what the stored record
/// knew and the scan did not say (product, version, CPE, name); ports the scan no longer sees
/// are gone — unless the scan is older than the stored record, which then only adds ports and
/// fills what the record lacks. Linear in the number of services.
fn merge_services(stored: &Asset, seen: &Asset, older: bool) -> Vec<cyrisk_core::asset::Service> {
    use cyrisk_core::asset::Service;
    let key = |s: &Service| (s.port, s.protocol as u8);
    let known: HashMap<(u16, u8), &Service> = stored.services.iter().map(|s| (key(s), s)).collect();
    let fill = |mine: &mut Service, theirs: &Service| {
        for (m, t) in [
            (&mut mine.name, &theirs.name),
            (&mut mine.product, &theirs.product),
            (&mut mine.version, &theirs.version),
            (&mut mine.cpe, &theirs.cpe),
        ] {
            if m.is_none() {
                m.clone_from(t);
            }
        }
    };
    let mut out: Vec<Service> = if older {
        stored.services.clone()
    } else {
        Vec::new()
    };
    let mut at: HashMap<(u16, u8), usize> =
        out.iter().enumerate().map(|(i, s)| (key(s), i)).collect();
    for s in &seen.services {
        match at.get(&key(s)) {
            // Older scan, port known: the record stands; the scan only fills its gaps.
            Some(&i) if older => fill(&mut out[i], s),
            Some(&i) => out[i] = s.clone(),
            None => {
                let mut s = s.clone();
                if let Some(k) = known.get(&key(&s)) {
                    fill(&mut s, k);
                }
                at.insert(key(&s), out.len());
                out.push(s);
            }
        }
    }
    out.sort_by_key(key);
    out
}

/// A stored asset updated with what a scan saw of it. A scan older than the stored record
/// only fills what the record lacks.
fn merge_asset(stored: &Asset, seen: &Asset) -> Asset {
    let mut a = stored.clone();
    // A scan older than the record does not undo it — unless the record is the rated party's
    // own word, which a third party's observation always corrects.
    let older = !stored.self_declared
        && matches!((seen.last_seen, stored.last_seen), (Some(s), Some(t)) if s < t);
    a.self_declared = false;
    if seen.ip.is_some() && (!older || a.ip.is_none()) {
        a.ip = seen.ip;
    }
    // A stored host name stays; names the scan adds become aliases.
    for name in seen.hostname.iter().chain(&seen.aliases) {
        if a.hostname.is_none() {
            a.hostname = Some(name.clone());
        } else if !a.answers_to(name) {
            a.aliases.push(name.clone());
        }
    }
    if seen.os.is_some() && (!older || a.os.is_none()) {
        a.os.clone_from(&seen.os);
    }
    if !seen.services.is_empty() {
        a.services = merge_services(stored, seen, older);
    }
    if !seen.facts.is_empty() && (!older || a.facts.is_empty()) {
        a.facts.clone_from(&seen.facts);
    }
    if seen.cpe.is_some() && (!older || a.cpe.is_none()) {
        a.cpe.clone_from(&seen.cpe);
    }
    for (mine, theirs) in [
        (&mut a.vendor, &seen.vendor),
        (&mut a.product, &seen.product),
        (&mut a.version, &seen.version),
    ] {
        if theirs.is_some() && (!older || mine.is_none()) {
            mine.clone_from(theirs);
        }
    }
    a.end_of_life |= seen.end_of_life;
    a.internet_facing |= seen.internet_facing;
    a.first_seen = match (a.first_seen, seen.first_seen) {
        (Some(x), Some(y)) => Some(x.min(y)),
        (x, y) => x.or(y),
    };
    a.last_seen = match (a.last_seen, seen.last_seen) {
        (Some(x), Some(y)) => Some(x.max(y)),
        (x, y) => x.or(y),
    };
    a.stale = false;
    a
}

/// The stored assets by id, by name (host name, aliases, id; as [`Asset::answers_to`]
/// compares them) and by address: lookups in constant time, so an import is linear in the
/// scan and the inventory.
struct Inventory<'a> {
    by_id: HashMap<&'a str, &'a Asset>,
    by_name: HashMap<String, Vec<&'a Asset>>,
    by_ip: HashMap<std::net::IpAddr, Vec<&'a Asset>>,
}

/// A name as [`Asset::answers_to`] compares it.
fn norm(name: &str) -> String {
    name.trim().trim_end_matches('.').to_ascii_lowercase()
}

impl<'a> Inventory<'a> {
    fn new(stored: &'a [Asset]) -> Self {
        let mut inv = Inventory {
            by_id: HashMap::with_capacity(stored.len()),
            by_name: HashMap::new(),
            by_ip: HashMap::new(),
        };
        for a in stored {
            inv.by_id.insert(a.id.as_str(), a);
            let mut names: Vec<String> = std::iter::once(&a.id)
                .chain(&a.hostname)
                .chain(&a.aliases)
                .map(|n| norm(n))
                .filter(|n| !n.is_empty())
                .collect();
            names.sort_unstable();
            names.dedup();
            for n in names {
                inv.by_name.entry(n).or_default().push(a);
            }
            if let Some(ip) = a.ip {
                inv.by_ip.entry(ip).or_default().push(a);
            }
        }
        inv
    }

    /// The stored asset a scanned one is: the same id; else the one stored asset that
    /// answers to one of its names (host name, aliases); else the one stored asset with its
    /// IP address. Two or more candidates are ambiguous: no match, and a warning.
    fn resolve(&self, seen: &Asset, warnings: &mut Vec<String>) -> Option<&'a Asset> {
        if let Some(a) = self.by_id.get(seen.id.as_str()) {
            return Some(a);
        }
        // Whether there are none, one or several candidates is all that matters (and a few of
        // them for the warning): stop at six distinct ones, so a name thousands of stored
        // assets share costs the same as any other (hosts × stored assets otherwise, inside
        // the import's write transaction).
        let mut by_name: Vec<&'a Asset> = Vec::new();
        'names: for n in seen.hostname.iter().chain(&seen.aliases) {
            for a in self.by_name.get(&norm(n)).into_iter().flatten() {
                if !by_name.iter().any(|b| b.id == a.id) {
                    by_name.push(a);
                    if by_name.len() > 5 {
                        break 'names;
                    }
                }
            }
        }
        by_name.sort_by(|a, b| a.id.cmp(&b.id));
        let by_ip: Vec<&'a Asset> = seen
            .ip
            .and_then(|ip| self.by_ip.get(&ip))
            .map(|v| v.iter().take(6).copied().collect())
            .unwrap_or_default();
        for candidates in [by_name, by_ip] {
            match candidates.as_slice() {
                [] => {}
                [one] => return Some(one),
                many => {
                    warnings.push(format!(
                        "scanned host {:?} could be any of the stored assets {}: kept apart",
                        seen.id,
                        many.iter()
                            .take(5)
                            .map(|a| format!("{:?}", a.id))
                            .collect::<Vec<_>>()
                            .join(", ")
                    ));
                    return None;
                }
            }
        }
        None
    }
}

/// States a reviewer accepted (or the scanner's finding was judged): they hold only while the
/// scanner reports the same thing.
fn is_accepted(s: FindingState) -> bool {
    matches!(
        s,
        FindingState::FalsePositive | FindingState::RiskAccepted | FindingState::UnfixedMitigated
    )
}

/// What a scanner says a finding is, beyond its id: its CVEs, severity, CVSS and asset.
fn material(f: &Finding) -> (Vec<&str>, Option<u8>, Option<String>, Option<u64>, &str) {
    let mut cves: Vec<&str> = f.cves().map(|c| c.as_str()).collect();
    cves.sort_unstable();
    (
        cves,
        f.severity.map(|s| s as u8),
        f.cvss_vector.as_ref().map(|v| v.to_string()),
        f.cvss_score.map(|s| s.get().to_bits()),
        &f.asset,
    )
}

/// Reconciles a scan with the stored inputs.
pub fn reconcile(stored: &AssessmentBundle, scan: &Scan, options: Options) -> Reconciled {
    let scan_date = scan.scan_date.unwrap_or(options.default_date);
    let discovery = matches!(scan.format, crate::Format::Nessus | crate::Format::Nmap);
    let mut counts = Counts::default();
    let mut warnings = Vec::new();
    // Scanned hosts the inventory already has (by id, name or address) take its id.
    let inventory = Inventory::new(&stored.assets);
    let mut renamed: HashMap<&str, &str> = HashMap::new();
    let mut seen_assets: Vec<Asset> = Vec::with_capacity(scan.assets.len());
    for original in &scan.assets {
        let mut a = original.clone();
        // A scanner names hosts by what it reached them as (an address, a host name): match
        // them to the inventory. A spreadsheet of assets names them by their ids: two
        // declared assets may well share an address.
        if discovery
            && let Some(s) = inventory.resolve(original, &mut warnings)
            && s.id != original.id
        {
            renamed.insert(original.id.as_str(), s.id.as_str());
            if !s.answers_to(&original.id) && !crate::merge::is_address(original) {
                a.aliases.push(original.id.clone());
            }
            a.id.clone_from(&s.id);
        }
        seen_assets.push(a);
    }
    let stored_assets: HashMap<&str, &Asset> =
        stored.assets.iter().map(|a| (a.id.as_str(), a)).collect();
    let mut assets = Vec::new();
    let scanned: HashSet<&str> = seen_assets.iter().map(|a| a.id.as_str()).collect();
    for seen in &seen_assets {
        let merged = match stored_assets.get(seen.id.as_str()) {
            // The rated party's own scan changes nothing already stored.
            Some(s) if !options.verifying => {
                if !s.declared {
                    counts.unknown_assets.push(s.id.clone());
                }
                continue;
            }
            Some(s) => {
                let m = merge_asset(s, seen);
                if &m != *s {
                    counts.assets_updated += 1;
                }
                m
            }
            None => {
                counts.assets_created += 1;
                let mut a = seen.clone();
                // A scanner finds what is there, not what was declared; a spreadsheet of
                // assets is a declaration and says so itself (`declared` column).
                if discovery {
                    a.declared = false;
                }
                a.stale = false;
                a
            }
        };
        if !merged.declared {
            counts.unknown_assets.push(merged.id.clone());
        }
        assets.push(merged);
    }
    let stale_before = scan_date - Duration::days(options.stale_after_days);
    for a in &stored.assets {
        // Only a third party's scan is evidence of what is (not) there.
        if !discovery || !options.verifying || scanned.contains(a.id.as_str()) || a.stale {
            continue;
        }
        if a.last_seen
            .or(a.first_seen)
            .is_some_and(|d| d < stale_before)
        {
            let mut s = a.clone();
            s.stale = true;
            counts.assets_stale += 1;
            counts.stale_assets.push(s.id.clone());
            assets.push(s);
        }
    }

    let stored_findings: HashMap<&str, &Finding> =
        stored.findings.iter().map(|f| (f.id.as_str(), f)).collect();
    let seen_ids: HashSet<&str> = scan.findings.iter().map(|f| f.id.as_str()).collect();
    let mut findings = Vec::new();
    for f in &scan.findings {
        let mut out = f.clone();
        if let Some(to) = renamed.get(f.asset.as_str()) {
            out.asset = (*to).to_owned();
        }
        match stored_findings.get(f.id.as_str()) {
            // Accepted as a false positive, a risk or mitigated: that holds while the scanner
            // reports the same thing; a verifying scan reporting it differently reopens it.
            Some(g) if is_accepted(g.state) => {
                if options.verifying && material(g) != material(&out) {
                    counts.findings_opened += 1;
                    warnings.push(format!(
                        "finding {:?} was {} but the scan now reports it differently: reopened",
                        g.id,
                        g.state.as_str()
                    ));
                    out.state = FindingState::Open;
                } else {
                    if g.state != FindingState::FalsePositive {
                        counts.findings_still_open += 1;
                    }
                    if !options.verifying {
                        continue;
                    }
                    out.state = g.state;
                    out.first_seen = g.first_seen.min(f.first_seen);
                }
                out.fixed_at = None;
            }
            Some(g) if g.state.is_unresolved() => {
                counts.findings_still_open += 1;
                if !options.verifying {
                    continue;
                }
                out.state = g.state;
                out.first_seen = g.first_seen.min(f.first_seen);
                out.fixed_at = None;
            }
            Some(g) => {
                // Fixed before, back now. A fix declared over an accepted state goes back to
                // it; anything else reopens. The rated party's scan reopens the stored finding
                // as it is.
                counts.findings_opened += 1;
                if !options.verifying {
                    out = (*g).clone();
                }
                out.state = match g.counts_as {
                    Some(s) if s.is_unresolved() => s,
                    _ => FindingState::Open,
                };
                out.fixed_at = None;
            }
            None => counts.findings_opened += 1,
        }
        out.counts_as = None;
        // A verifying scan rewrites every finding it saw (its data, and who recorded it).
        if options.verifying || stored_findings.get(f.id.as_str()) != Some(&&out) {
            findings.push(out);
        }
    }
    let scanners: HashSet<&str> = scan.findings.iter().filter_map(scanner).collect();
    let scan_scanner = match scan.format {
        crate::Format::Nessus => Some("nessus"),
        crate::Format::Nmap => Some("nmap"),
        crate::Format::CsvFindings => Some("csv"),
        _ => None,
    };
    for g in &stored.findings {
        if seen_ids.contains(g.id.as_str()) || !scanned.contains(g.asset.as_str()) {
            continue;
        }
        let same_scanner =
            scanner(g).is_some_and(|s| scanners.contains(s) || Some(s) == scan_scanner);
        if !same_scanner {
            continue;
        }
        let fixed_on = scan_date.max(g.first_seen);
        let mut c = g.clone();
        match g.state {
            s if s.is_unresolved() && !options.verifying => {
                // Declared fixed by the rated party's own scan: the store keeps it counting
                // as before until verified, and its fix date is not the rated party's to set.
                counts.findings_fix_declared += 1;
                c.state = FindingState::FixedPendingVerification;
            }
            s if s.is_unresolved() => {
                c.state = FindingState::FixedPendingVerification;
                c.fixed_at = Some(g.fixed_at.unwrap_or(fixed_on));
            }
            FindingState::FixedPendingVerification if options.verifying => {
                counts.findings_fix_verified += 1;
                c.state = FindingState::Closed;
                c.fixed_at = Some(g.fixed_at.unwrap_or(fixed_on));
            }
            _ => continue,
        }
        counts.findings_closed += 1;
        c.counts_as = None;
        findings.push(c);
    }
    Reconciled {
        assets,
        findings,
        counts,
        scan_date,
        warnings,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn asset(id: &str, last_seen: &str) -> Asset {
        serde_json::from_value(serde_json::json!({
            "id": id, "kind": "host", "last_seen": last_seen, "first_seen": last_seen
        }))
        .unwrap()
    }

    fn stored(assets: Vec<Asset>) -> AssessmentBundle {
        serde_json::from_value(serde_json::json!({
            "profile": { "name": "x", "industry": "retail", "annual_revenue": 1e8,
                         "employees": 100, "region": "CN-BJ" },
        }))
        .map(|mut b: AssessmentBundle| {
            b.assets = assets;
            b
        })
        .unwrap()
    }

    fn options() -> Options {
        Options {
            default_date: "2026-06-01".parse().unwrap(),
            stale_after_days: 90,
            verifying: true,
        }
    }

    /// Thousands of stored assets under one host name (an attack found this: each scanned
    /// host used to collect and sort them all) are ambiguous for every scanned host with that
    /// name, reported with a few of them, and matched by nothing.
    #[test]
    fn a_name_shared_by_thousands_of_stored_assets_is_ambiguous_and_cheap() {
        let many: Vec<Asset> = (0..20_000)
            .map(|i| {
                let mut a = asset(&format!("s{i:05}"), "2026-05-01");
                a.hostname = Some("same.example".into());
                a
            })
            .collect();
        let b = stored(many);
        let mut scan = Scan::new(crate::Format::Nmap);
        for i in 0..2_000 {
            let mut a = asset(&format!("10.0.{}.{}", i / 250, i % 250), "2026-06-01");
            a.hostname = Some("SAME.example".into());
            scan.assets.push(a);
        }
        scan.scan_date = Some("2026-06-01".parse().unwrap());
        let r = reconcile(&b, &scan, options());
        let ambiguous: Vec<&String> = r
            .warnings
            .iter()
            .filter(|w| w.contains("could be any of the stored assets"))
            .collect();
        assert_eq!(ambiguous.len(), 2_000);
        assert!(
            ambiguous[0].contains("\"s00000\", \"s00001\""),
            "{}",
            ambiguous[0]
        );
        assert_eq!(
            r.counts.unknown_assets.len(),
            2_000,
            "kept apart, not merged"
        );
    }

    #[test]
    fn scans_flag_unknown_and_stale_assets_spreadsheets_do_not() {
        let old = asset("old", "2026-01-01");
        let recent = asset("recent", "2026-05-01");
        let b = stored(vec![old, recent]);
        let mut scan = Scan::new(crate::Format::Nmap);
        scan.assets.push(asset("new", "2026-06-01"));
        scan.scan_date = Some("2026-06-01".parse().unwrap());
        let r = reconcile(&b, &scan, options());
        assert_eq!(r.counts.unknown_assets, ["new"]);
        assert_eq!(r.counts.stale_assets, ["old"]);
        assert!(r.assets.iter().any(|a| a.id == "old" && a.stale));

        let mut csv = Scan::new(crate::Format::CsvAssets);
        csv.assets.push(asset("new", "2026-06-01"));
        let r = reconcile(&b, &csv, options());
        assert!(r.counts.unknown_assets.is_empty() && r.counts.stale_assets.is_empty());
        assert!(r.assets[0].declared);
    }
}
