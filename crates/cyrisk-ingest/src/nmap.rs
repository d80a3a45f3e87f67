//! Nmap XML (`nmap -oX`), streamed: hosts that are up become assets (address, host names,
//! OS guess, open ports with service, product, version and CPE), and open ports in a risky
//! class become exposures. Nmap reports no vulnerabilities, so there are no findings.
//!
//! Other tools write the same format: masscan (`-oX`) writes no `<status>` and one `<host>`
//! per open port, so a host without a status counts as up when it has an open port, and the
//! entries of one address (Nmap too lists an address once per name it was scanned under) are
//! merged into one asset. A file that lists hosts of which none yields an asset says so.

use std::io::BufRead;

use chrono::{DateTime, NaiveDate};
use cyrisk_core::asset::{Asset, AssetKind, Service, Transport};

use crate::exposure::{Exposure, classify};
use crate::xml::{Ev, XmlStream, attr};
use crate::{Format, IngestError, Scan};

#[derive(Debug, Clone, Copy)]
pub struct Options {
    /// The date for hosts whose scan time is missing.
    pub default_date: NaiveDate,
}

#[derive(Default)]
struct Host {
    /// `<status state=…>`: `None` when the writer gave none (masscan).
    up: Option<bool>,
    addr: Option<String>,
    hostnames: Vec<String>,
    os: Option<String>,
    seen: Option<NaiveDate>,
    ports: Vec<Port>,
}

#[derive(Default)]
struct Port {
    port: u16,
    protocol: String,
    open: bool,
    service: Option<String>,
    product: Option<String>,
    version: Option<String>,
    cpe: Option<String>,
}

fn epoch_date(s: Option<&str>) -> Option<NaiveDate> {
    s.and_then(|s| s.trim().parse::<i64>().ok())
        .filter(|t| *t > 0)
        .and_then(|t| DateTime::from_timestamp(t, 0))
        .map(|d| d.date_naive())
}

/// Parses an Nmap XML file.
pub fn parse<R: BufRead>(input: R, options: Options) -> Result<Scan, IngestError> {
    let mut xml = XmlStream::new(input, Format::Nmap)?;
    let mut scan = Scan::new(Format::Nmap);
    let mut hosts_in_file = 0usize;
    let mut hosts_down = 0usize;
    let mut run_date = None;
    let mut host: Option<Host> = None;
    let mut port: Option<Port> = None;
    let mut in_cpe = false;
    let mut cpe_text = String::new();
    let mut root_checked = false;
    loop {
        match xml.next()? {
            Ev::Eof => break,
            Ev::Start(name, attrs) => {
                if !root_checked {
                    root_checked = true;
                    if name != "nmaprun" {
                        return Err(xml.error(format!(
                            "not an Nmap XML file: the root element is <{name}>, not <nmaprun>"
                        )));
                    }
                    run_date = epoch_date(attr(&attrs, "start"));
                    continue;
                }
                match name.as_str() {
                    "host" => {
                        hosts_in_file += 1;
                        host = Some(Host {
                            seen: epoch_date(attr(&attrs, "endtime"))
                                .or(epoch_date(attr(&attrs, "starttime"))),
                            ..Host::default()
                        });
                    }
                    "status" => {
                        if let Some(h) = host.as_mut() {
                            h.up = Some(attr(&attrs, "state") == Some("up"));
                        }
                    }
                    "address" => {
                        if let Some(h) = host.as_mut()
                            && matches!(attr(&attrs, "addrtype"), Some("ipv4" | "ipv6"))
                            && h.addr.is_none()
                        {
                            h.addr = attr(&attrs, "addr").map(str::to_owned);
                        }
                    }
                    "hostname" => {
                        if let Some(h) = host.as_mut()
                            && let Some(name) = attr(&attrs, "name").map(str::trim)
                            && !name.is_empty()
                            && !h.hostnames.iter().any(|n| n.eq_ignore_ascii_case(name))
                        {
                            h.hostnames.push(name.to_owned());
                        }
                    }
                    "osmatch" => {
                        if let Some(h) = host.as_mut()
                            && h.os.is_none()
                        {
                            h.os = attr(&attrs, "name").map(str::to_owned);
                        }
                    }
                    "port" if host.is_some() => {
                        let id = attr(&attrs, "portid").unwrap_or_default();
                        let n: u16 = id.parse().map_err(|_| {
                            xml.error(format!("<port> portid={id:?} is not a port number"))
                        })?;
                        port = Some(Port {
                            port: n,
                            protocol: attr(&attrs, "protocol").unwrap_or("tcp").to_owned(),
                            ..Port::default()
                        });
                    }
                    "state" => {
                        if let Some(p) = port.as_mut() {
                            p.open = attr(&attrs, "state") == Some("open");
                        }
                    }
                    "service" => {
                        if let Some(p) = port.as_mut() {
                            let get = |k| attr(&attrs, k).map(str::to_owned);
                            p.service = get("name");
                            p.product = get("product");
                            p.version = get("version");
                        }
                    }
                    "cpe" if port.is_some() => {
                        in_cpe = true;
                        cpe_text.clear();
                    }
                    _ => {}
                }
            }
            Ev::Text(t) => {
                if in_cpe && cpe_text.len() < 1024 {
                    cpe_text.push_str(&t);
                }
            }
            Ev::End(name) => match name.as_str() {
                "cpe" if in_cpe => {
                    in_cpe = false;
                    if let Some(p) = port.as_mut()
                        && p.cpe.is_none()
                    {
                        p.cpe = Some(cpe_text.trim().to_owned()).filter(|c| !c.is_empty());
                    }
                }
                "port" => {
                    if let (Some(h), Some(p)) = (host.as_mut(), port.take()) {
                        h.ports.push(p);
                    }
                }
                "host" => {
                    if let Some(h) = host.take()
                        && !finish_host(&mut scan, h, run_date.unwrap_or(options.default_date))
                    {
                        hosts_down += 1;
                    }
                }
                _ => {}
            },
        }
    }
    if !root_checked {
        return Err(xml.error("no XML element: the file is empty or not XML"));
    }
    if run_date.is_none() && scan.scan_date.is_none() && !scan.assets.is_empty() {
        scan.warnings.push(format!(
            "the file records no scan time: its hosts are dated {} (the import date)",
            options.default_date
        ));
    }
    crate::merge::merge_hosts(&mut scan);
    if hosts_in_file == 0 {
        scan.warnings
            .push("the file lists no <host>: nothing was found to import".to_owned());
    } else if scan.assets.is_empty() {
        scan.warnings.push(format!(
            "the file lists {hosts_in_file} host(s) but none is up with an address: nothing was imported from it"
        ));
    } else if hosts_down > 0 {
        scan.warnings.push(format!(
            "{hosts_down} of {hosts_in_file} host entries were down or had no address, and were skipped"
        ));
    }
    Ok(scan)
}

/// Adds a host that is up as an asset; `false` when it is not (down, or no address).
fn finish_host(scan: &mut Scan, h: Host, default_date: NaiveDate) -> bool {
    // No `<status>` (masscan): up if anything answered.
    let up = h.up.unwrap_or_else(|| h.ports.iter().any(|p| p.open));
    let Some(addr) = h.addr.filter(|_| up) else {
        return false;
    };
    let seen = h.seen.unwrap_or(default_date);
    scan.scan_date = Some(scan.scan_date.map_or(seen, |d| d.max(seen)));
    let mut services = Vec::new();
    for p in h.ports.into_iter().filter(|p| p.open) {
        if let Some(class) = classify(p.port, p.service.as_deref(), p.product.as_deref()) {
            scan.exposures.push(Exposure {
                asset: addr.clone(),
                port: p.port,
                protocol: p.protocol.clone(),
                service: p.service.clone(),
                product: p.product.clone(),
                class,
            });
        }
        services.push(Service {
            port: p.port,
            protocol: if p.protocol == "udp" {
                Transport::Udp
            } else {
                Transport::Tcp
            },
            name: p.service,
            product: p.product,
            version: p.version,
            cpe: p.cpe,
        });
    }
    let mut names = h.hostnames.into_iter();
    scan.assets.push(Asset {
        id: addr.clone(),
        kind: AssetKind::Host,
        hostname: names.next(),
        aliases: names.collect(),
        ip: addr.parse().ok(),
        internet_facing: false,
        services,
        vendor: None,
        product: None,
        version: None,
        cpe: None,
        end_of_life: false,
        kev_product: false,
        criticality: Default::default(),
        data_classes: Vec::new(),
        declared: false,
        owner: None,
        first_seen: Some(seen),
        last_seen: Some(seen),
        os: h.os,
        stale: false,
        facts: Vec::new(),
        self_declared: false,
    });
    true
}
