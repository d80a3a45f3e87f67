//! One asset per address, one finding per check: scanners report a host once per name it was
//! scanned under (Nmap by design; Nessus when a target list names one address twice) and a
//! check more than once on one port (plugins that find several installs; every policy
//! compliance check as plugin 21156/21157 on port 0). Both are merged here instead of being
//! refused as duplicates.

use std::collections::HashMap;

use cyrisk_core::asset::Asset;
use cyrisk_core::finding::Finding;

use crate::Scan;

/// Evidence kept per merged finding is cut to this many bytes.
const MAX_MERGED_EVIDENCE: usize = 32 * 1024;

/// Whether an asset's id is just its address (as scanners name hosts they know no name
/// for): not a name worth keeping as an alias.
pub(crate) fn is_address(a: &Asset) -> bool {
    a.ip.is_some_and(|ip| ip.to_string() == a.id)
}

/// Merges `b` into `a`: the same machine seen twice.
fn merge_asset(a: &mut Asset, b: Asset) {
    let own_name = (!is_address(&b)).then(|| b.id.clone());
    for name in own_name
        .into_iter()
        .chain(b.hostname.clone())
        .chain(b.aliases.clone())
    {
        if !a.answers_to(&name) {
            a.aliases.push(name);
        }
    }
    if a.hostname.is_none() {
        a.hostname = b.hostname;
        a.aliases.retain(|x| Some(x) != a.hostname.as_ref());
    }
    a.ip = a.ip.or(b.ip);
    a.os = a.os.take().or(b.os);
    // Repeats are removed once the host is whole (in `merge_hosts`), not here: one address
    // with many entries (masscan writes one per port) stays linear.
    a.services.extend(b.services);
    a.facts.extend(b.facts);
    a.end_of_life |= b.end_of_life;
    a.internet_facing |= b.internet_facing;
    a.first_seen = match (a.first_seen, b.first_seen) {
        (Some(x), Some(y)) => Some(x.min(y)),
        (x, y) => x.or(y),
    };
    a.last_seen = a.last_seen.max(b.last_seen);
}

/// Merges the scan's assets that are one machine: the same id, or the same IP address. The
/// first one seen keeps its id; returns the other ids → the id they were merged into.
pub(crate) fn merge_hosts(scan: &mut Scan) -> HashMap<String, String> {
    let mut renames = HashMap::new();
    let mut kept: Vec<Asset> = Vec::with_capacity(scan.assets.len());
    let mut by_id: HashMap<String, usize> = HashMap::new();
    let mut by_ip: HashMap<std::net::IpAddr, usize> = HashMap::new();
    for a in std::mem::take(&mut scan.assets) {
        let slot = by_id
            .get(&a.id)
            .or_else(|| a.ip.as_ref().and_then(|ip| by_ip.get(ip)))
            .copied();
        match slot {
            Some(i) => {
                if kept[i].id != a.id {
                    renames.insert(a.id.clone(), kept[i].id.clone());
                }
                by_id.insert(a.id.clone(), i);
                merge_asset(&mut kept[i], a);
            }
            None => {
                by_id.insert(a.id.clone(), kept.len());
                if let Some(ip) = a.ip {
                    by_ip.insert(ip, kept.len());
                }
                kept.push(a);
            }
        }
    }
    for a in &mut kept {
        // Sorted by port and protocol, the first report of each kept.
        a.services.sort_by_key(|s| (s.port, s.protocol as u8));
        a.services
            .dedup_by(|x, y| x.port == y.port && x.protocol == y.protocol);
        let mut seen = std::collections::HashSet::new();
        a.facts.retain(|f| seen.insert(f.clone()));
    }
    scan.assets = kept;
    for e in &mut scan.exposures {
        if let Some(to) = renames.get(&e.asset) {
            e.asset.clone_from(to);
        }
    }
    let mut seen = std::collections::HashSet::new();
    scan.exposures
        .retain(|e| seen.insert((e.asset.clone(), e.port, e.protocol.clone())));
    renames
}

/// Merges `b` into `a`: one check reported twice on one asset and port.
fn merge_finding(a: &mut Finding, b: Finding) {
    let known: std::collections::HashSet<cyrisk_core::finding::Cve> = a.cves().cloned().collect();
    for c in b.cves() {
        if !known.contains(c) && a.additional_cves.len() < cyrisk_core::finding::MAX_ADDITIONAL_CVES
        {
            a.additional_cves.push(c.clone());
        }
    }
    if let Some(e) = b.evidence.clone()
        && a.evidence.as_deref() != Some(e.as_str())
    {
        let mut joined = match a.evidence.take() {
            Some(x) => format!("{x}\n---\n{e}"),
            None => e,
        };
        if joined.len() > MAX_MERGED_EVIDENCE {
            let mut cut = MAX_MERGED_EVIDENCE;
            while !joined.is_char_boundary(cut) {
                cut -= 1;
            }
            joined.truncate(cut);
            joined.push_str(" …");
        }
        a.evidence = Some(joined);
    }
    if b.severity > a.severity {
        a.severity = b.severity;
    }
    // The worse of the two reports counts: the higher CVSS (from the vector when there is
    // one, as the rating reads it).
    let score = |f: &Finding| {
        f.cvss_vector
            .as_ref()
            .map(|v| v.base_score())
            .or(f.cvss_score.map(|s| s.get()))
            .unwrap_or(-1.0)
    };
    if score(&b) > score(a) {
        a.cvss_vector = b.cvss_vector.clone();
        a.cvss_score = b.cvss_score;
    }
    a.epss = match (a.epss, b.epss) {
        (Some(x), Some(y)) => Some(if y.get() > x.get() { y } else { x }),
        (x, y) => x.or(y),
    };
    a.kev |= b.kev;
    a.first_seen = a.first_seen.min(b.first_seen);
}

/// Merges findings with the same id (the same check on the same asset and port), keeping the
/// first one's place; returns how many were merged away.
pub(crate) fn merge_findings(findings: &mut Vec<Finding>) -> usize {
    let mut at: HashMap<String, usize> = HashMap::new();
    let mut kept: Vec<Finding> = Vec::with_capacity(findings.len());
    let mut merged = 0;
    for f in std::mem::take(findings) {
        match at.get(&f.id) {
            Some(&i) => {
                merge_finding(&mut kept[i], f);
                merged += 1;
            }
            None => {
                at.insert(f.id.clone(), kept.len());
                kept.push(f);
            }
        }
    }
    *findings = kept;
    merged
}
