//! Nessus v2 (`.nessus`) XML, streamed: hosts become assets (IP, FQDN, OS, open ports from
//! the service checks, first/last seen from the host's scan times), report items with a
//! severity above 0 become findings (plugin, CVE, CVSS v4/v3/v2 vector and score, EPSS, the
//! scanner's KEV flag, plugin output as evidence), and severity-0 items become asset facts.
//!
//! Memory stays at one report item plus the assets and findings built so far: the policy
//! section and any element the model does not use are skipped as they stream past.

use std::collections::BTreeSet;
use std::io::BufRead;

use chrono::NaiveDate;
use cyrisk_core::asset::{Asset, AssetKind, Service, Transport};
use cyrisk_core::cvss::{CvssVector, Severity};
use cyrisk_core::finding::{Cve, CvssScore, Finding, FindingState};
use cyrisk_core::units::Probability;

use crate::exposure::{Exposure, classify};
use crate::xml::{Ev, XmlStream, attr};
use crate::{Format, IngestError, Scan};

/// Plugin output kept as evidence is cut to this many bytes.
pub const MAX_EVIDENCE_BYTES: usize = 8 * 1024;

/// What the reader needs besides the bytes.
#[derive(Debug, Clone, Copy)]
pub struct Options {
    /// First seen for findings on a host whose scan start time is missing or unreadable.
    pub default_date: NaiveDate,
}

#[derive(Default)]
struct Host {
    name: String,
    ip: Option<String>,
    fqdn: Option<String>,
    netbios: Option<String>,
    os: Option<String>,
    start: Option<NaiveDate>,
    end: Option<NaiveDate>,
    /// Host times written but unreadable: (tag, value).
    unreadable: Vec<(String, String)>,
    /// Items whose CVE list was cut to the most one finding keeps.
    cves_cut: usize,
    services: BTreeSet<(u16, String, String)>,
    end_of_life: bool,
    facts: Vec<cyrisk_core::asset::AssetFact>,
}

#[derive(Default)]
struct Item {
    port: u16,
    protocol: String,
    service: String,
    severity: u8,
    plugin_id: String,
    plugin_name: String,
    cves: Vec<String>,
    cvss2_vector: Option<String>,
    cvss2_score: Option<String>,
    cvss3_vector: Option<String>,
    cvss3_score: Option<String>,
    cvss4_vector: Option<String>,
    cvss4_score: Option<String>,
    epss: Option<String>,
    kev: bool,
    unsupported: bool,
    output: Option<String>,
    /// A policy-compliance check (`cm:compliance-check-name`) and its result.
    check: Option<String>,
    check_result: Option<String>,
}

/// Where the reader is.
enum In {
    Outside,
    HostProperties,
    Tag(String),
    Item,
    ItemField(String),
}

/// Parses a Nessus v2 file.
pub fn parse<R: BufRead>(input: R, options: Options) -> Result<Scan, IngestError> {
    let mut xml = XmlStream::new(input, Format::Nessus)?;
    let mut scan = Scan::new(Format::Nessus);
    let mut pending: Vec<Pending> = Vec::new();
    let mut hosts_in_file = 0usize;
    let mut host: Option<Host> = None;
    let mut item: Option<Item> = None;
    let mut at = In::Outside;
    let mut text = String::new();
    let mut root_checked = false;
    loop {
        match xml.next()? {
            Ev::Eof => break,
            Ev::Start(name, attrs) => {
                if !root_checked {
                    root_checked = true;
                    if name != "NessusClientData_v2" {
                        return Err(xml.error(format!(
                            "not a Nessus v2 file: the root element is <{name}>, not <NessusClientData_v2>"
                        )));
                    }
                    continue;
                }
                match (&at, name.as_str()) {
                    (In::Outside, "ReportHost") => {
                        let Some(n) = attr(&attrs, "name").filter(|n| !n.trim().is_empty()) else {
                            return Err(xml.error("<ReportHost> without a name"));
                        };
                        hosts_in_file += 1;
                        host = Some(Host {
                            name: n.trim().to_owned(),
                            ..Host::default()
                        });
                    }
                    (In::Outside, "HostProperties") if host.is_some() => at = In::HostProperties,
                    (In::HostProperties, "tag") => {
                        at = In::Tag(attr(&attrs, "name").unwrap_or_default().to_owned());
                        text.clear();
                    }
                    (In::Outside, "ReportItem") if host.is_some() => {
                        let num = |key: &str| -> Result<u32, IngestError> {
                            attr(&attrs, key)
                                .unwrap_or("0")
                                .trim()
                                .parse()
                                .map_err(|_| {
                                    xml.error(format!(
                                        "<ReportItem> {key}={:?} is not a number",
                                        attr(&attrs, key).unwrap_or_default()
                                    ))
                                })
                        };
                        let port = num("port")?;
                        let severity = num("severity")?;
                        if port > u32::from(u16::MAX) || severity > 4 {
                            return Err(xml.error(format!(
                                "<ReportItem> port {port} or severity {severity} out of range"
                            )));
                        }
                        item = Some(Item {
                            port: port as u16,
                            protocol: attr(&attrs, "protocol").unwrap_or("tcp").to_owned(),
                            service: attr(&attrs, "svc_name").unwrap_or_default().to_owned(),
                            severity: severity as u8,
                            plugin_id: attr(&attrs, "pluginID").unwrap_or_default().to_owned(),
                            plugin_name: attr(&attrs, "pluginName").unwrap_or_default().to_owned(),
                            ..Item::default()
                        });
                        at = In::Item;
                    }
                    (In::Item, field) => {
                        at = In::ItemField(field.to_owned());
                        text.clear();
                    }
                    _ => {}
                }
            }
            Ev::Text(t) => {
                if matches!(at, In::Tag(_) | In::ItemField(_))
                    && text.len() < MAX_EVIDENCE_BYTES * 2
                {
                    text.push_str(&t);
                }
            }
            Ev::End(name) => match (&at, name.as_str()) {
                (In::Tag(tag), "tag") => {
                    if let Some(h) = host.as_mut() {
                        host_property(h, tag, text.trim());
                    }
                    at = In::HostProperties;
                }
                (In::HostProperties, "HostProperties") => at = In::Outside,
                (In::ItemField(field), n) if field == n => {
                    if let Some(i) = item.as_mut() {
                        item_field(i, field, &text);
                    }
                    at = In::Item;
                }
                (In::Item, "ReportItem") => {
                    if let (Some(h), Some(i)) = (host.as_mut(), item.take()) {
                        finish_item(&mut pending, h, i);
                    }
                    at = In::Outside;
                }
                (In::Outside, "ReportHost") => {
                    if let Some(h) = host.take() {
                        finish_host(&mut scan, &mut pending, h);
                    }
                }
                _ => {}
            },
        }
    }
    if !root_checked {
        return Err(xml.error("no XML element: the file is empty or not XML"));
    }
    finish(&mut scan, pending, options);
    if hosts_in_file == 0 {
        scan.warnings
            .push("the file has no <ReportHost>: nothing was found to import".to_owned());
    }
    Ok(scan)
}

/// A report item made a finding, waiting for its host's final id and date.
struct Pending {
    host: String,
    plugin: String,
    port: u16,
    protocol: String,
    /// The host's first-seen date, if its times could be read.
    date: Option<NaiveDate>,
    finding: Finding,
}

/// Merges hosts that are one address, gives each finding its id and date, and merges a
/// check reported more than once on one port.
fn finish(scan: &mut Scan, pending: Vec<Pending>, options: Options) {
    let renames = crate::merge::merge_hosts(scan);
    let undated = pending.iter().filter(|p| p.date.is_none()).count();
    // An undated host takes the scan's own date (its other hosts'), and only without any
    // the import date, saying so.
    let fallback = scan.scan_date.unwrap_or(options.default_date);
    if undated > 0 {
        scan.warnings.push(format!(
            "{undated} finding(s) on hosts without a readable scan time are dated {fallback} ({})",
            if scan.scan_date.is_some() {
                "the newest time in the file"
            } else {
                "the import date: the file records no readable time"
            }
        ));
    }
    for p in pending {
        let host = renames.get(&p.host).unwrap_or(&p.host);
        let mut f = p.finding;
        f.id = format!("nessus:{}:{host}:{}/{}", p.plugin, p.port, p.protocol);
        f.asset.clone_from(host);
        f.first_seen = p.date.unwrap_or(fallback);
        scan.findings.push(f);
    }
    crate::merge::merge_findings(&mut scan.findings);
}

fn host_property(h: &mut Host, tag: &str, value: &str) {
    if value.is_empty() {
        return;
    }
    match tag {
        "host-ip" => h.ip = Some(value.to_owned()),
        "host-fqdn" => h.fqdn = Some(value.to_owned()),
        "netbios-name" => h.netbios = Some(value.to_owned()),
        "operating-system" => h.os = Some(value.lines().next().unwrap_or(value).to_owned()),
        // The written time, in whatever form (Nessus's own, ISO 8601 in web application
        // scans); the epoch form only when the written one is absent.
        "HOST_START" | "HOST_END" | "HOST_START_TIMESTAMP" | "HOST_END_TIMESTAMP" => {
            let Some(d) = crate::dates::parse(value) else {
                h.unreadable.push((tag.to_owned(), value.to_owned()));
                return;
            };
            let epoch = tag.ends_with("_TIMESTAMP");
            let slot = if tag.starts_with("HOST_START") {
                &mut h.start
            } else {
                &mut h.end
            };
            if !epoch || slot.is_none() {
                *slot = Some(d);
            }
        }
        _ => {}
    }
}

fn item_field(i: &mut Item, field: &str, text: &str) {
    let value = text.trim();
    let some = || Some(value.to_owned()).filter(|v| !v.is_empty());
    match field {
        "cve" if !value.is_empty() => i.cves.push(value.to_owned()),
        "cvss_vector" => i.cvss2_vector = some(),
        "cvss_base_score" => i.cvss2_score = some(),
        "cvss3_vector" => i.cvss3_vector = some(),
        "cvss3_base_score" => i.cvss3_score = some(),
        "cvss4_vector" => i.cvss4_vector = some(),
        "cvss4_base_score" => i.cvss4_score = some(),
        "epss_score" => i.epss = some(),
        "cisa-known-exploited" => i.kev = !value.is_empty(),
        "unsupported_by_vendor" => i.unsupported = value.eq_ignore_ascii_case("true"),
        "compliance-check-name" => i.check = some(),
        "compliance-result" => i.check_result = some(),
        "plugin_output" => {
            let mut out = value.to_owned();
            if out.len() > MAX_EVIDENCE_BYTES {
                let mut cut = MAX_EVIDENCE_BYTES;
                while !out.is_char_boundary(cut) {
                    cut -= 1;
                }
                out.truncate(cut);
                out.push_str(" …");
            }
            i.output = Some(out).filter(|o| !o.is_empty());
        }
        _ => {}
    }
}

fn severity_of(level: u8) -> Severity {
    match level {
        0 => Severity::Info,
        1 => Severity::Low,
        2 => Severity::Medium,
        3 => Severity::High,
        _ => Severity::Critical,
    }
}

/// The best CVSS the item carries: v4, else v3, else v2 (Nessus writes v2 as `CVSS2#…`).
/// A vector that does not parse is dropped in favour of the next; a lone score is kept.
fn best_cvss(i: &Item) -> (Option<CvssVector>, Option<CvssScore>) {
    let candidates = [
        (i.cvss4_vector.as_deref(), i.cvss4_score.as_deref()),
        (i.cvss3_vector.as_deref(), i.cvss3_score.as_deref()),
        (
            i.cvss2_vector
                .as_deref()
                .map(|v| v.trim_start_matches("CVSS2#")),
            i.cvss2_score.as_deref(),
        ),
    ];
    let score = |s: Option<&str>| {
        s.and_then(|s| s.trim().parse::<f64>().ok())
            .and_then(|v| CvssScore::try_from(v).ok())
    };
    for (vector, s) in candidates {
        if let Some(v) = vector.and_then(|v| CvssVector::parse(v).ok()) {
            return (Some(v), score(s));
        }
    }
    let lone = candidates.iter().find_map(|(_, s)| score(*s));
    (None, lone)
}

fn finish_item(pending: &mut Vec<Pending>, h: &mut Host, i: Item) {
    if i.port > 0 {
        h.services
            .insert((i.port, i.protocol.clone(), i.service.clone()));
    }
    h.end_of_life |= i.unsupported;
    let source = format!("nessus:{}", i.plugin_id);
    if i.severity == 0 {
        h.facts.push(cyrisk_core::asset::AssetFact {
            source,
            name: i.plugin_name,
            port: Some(i.port).filter(|p| *p > 0),
        });
        return;
    }
    let (cvss_vector, cvss_score) = best_cvss(&i);
    let epss = i
        .epss
        .as_deref()
        .and_then(|e| e.trim().parse::<f64>().ok())
        .and_then(|e| Probability::new(e).ok());
    let mut seen = std::collections::HashSet::new();
    let mut cves: Vec<Cve> = i
        .cves
        .iter()
        .filter_map(|c| Cve::parse(c).ok())
        .filter(|c| seen.insert(c.clone()))
        .collect();
    if cves.len() > 1 + cyrisk_core::finding::MAX_ADDITIONAL_CVES {
        cves.truncate(1 + cyrisk_core::finding::MAX_ADDITIONAL_CVES);
        h.cves_cut += 1;
    }
    let mut cves = cves.into_iter();
    pending.push(Pending {
        host: h.name.clone(),
        plugin: i.plugin_id,
        port: i.port,
        protocol: i.protocol,
        date: None,
        finding: Finding {
            // Id, asset and first seen are set once the host and the file are read.
            id: String::new(),
            asset: String::new(),
            title: Some(i.plugin_name).filter(|t| !t.is_empty()),
            cve: cves.next(),
            additional_cves: cves.collect(),
            cvss_vector,
            cvss_score,
            severity: Some(severity_of(i.severity)),
            epss,
            kev: i.kev,
            state: FindingState::Open,
            counts_as: None,
            first_seen: NaiveDate::default(),
            fixed_at: None,
            source: Some(source),
            // A compliance check without plugin output is known by its name and result.
            evidence: i.output.or_else(|| {
                i.check.map(|c| match i.check_result {
                    Some(r) => format!("{c}: [{r}]"),
                    None => c,
                })
            }),
        },
    });
}

fn finish_host(scan: &mut Scan, pending: &mut [Pending], h: Host) {
    let seen = h.end.or(h.start);
    if let Some(d) = seen {
        scan.scan_date = Some(scan.scan_date.map_or(d, |s| s.max(d)));
    }
    for (tag, value) in &h.unreadable {
        scan.warnings.push(format!(
            "host {:?}: {tag} {value:?} is not a date cyrisk reads{}",
            h.name,
            if seen.is_some() {
                ""
            } else {
                "; its findings take the scan's date"
            }
        ));
    }
    if h.cves_cut > 0 {
        let kept = 1 + cyrisk_core::finding::MAX_ADDITIONAL_CVES;
        scan.warnings.push(format!(
            "host {:?}: {} item(s) list more than {kept} CVEs; the first {kept} of each are kept",
            h.name, h.cves_cut
        ));
    }
    let first = h.start.or(seen);
    for p in pending.iter_mut().rev() {
        if p.host != h.name || p.date.is_some() {
            break;
        }
        p.date = first;
    }
    let services: Vec<Service> = h
        .services
        .iter()
        .map(|(port, proto, name)| Service {
            port: *port,
            protocol: if proto.eq_ignore_ascii_case("udp") {
                Transport::Udp
            } else {
                Transport::Tcp
            },
            name: Some(name.clone()).filter(|n| !n.is_empty() && n != "general"),
            product: None,
            version: None,
            cpe: None,
        })
        .collect();
    for s in &services {
        if let Some(class) = classify(s.port, s.name.as_deref(), None) {
            scan.exposures.push(Exposure {
                asset: h.name.clone(),
                port: s.port,
                protocol: if s.protocol == Transport::Udp {
                    "udp"
                } else {
                    "tcp"
                }
                .to_owned(),
                service: s.name.clone(),
                product: None,
                class,
            });
        }
    }
    let ip =
        h.ip.as_deref()
            .or(Some(h.name.as_str()))
            .and_then(|s| s.trim().parse().ok());
    let hostname = h.fqdn.or(h.netbios);
    scan.assets.push(Asset {
        id: h.name.clone(),
        kind: AssetKind::Host,
        aliases: Vec::new(),
        hostname,
        ip,
        internet_facing: false,
        services,
        vendor: None,
        product: None,
        version: None,
        cpe: None,
        end_of_life: h.end_of_life,
        kev_product: false,
        criticality: Default::default(),
        data_classes: Vec::new(),
        declared: false,
        owner: None,
        first_seen: h.start.or(seen),
        last_seen: seen,
        os: h.os,
        stale: false,
        facts: h.facts,
        self_declared: false,
    });
}
