//! The CISA Known Exploited Vulnerabilities catalogue, parsed from its published JSON.

use std::collections::{HashMap, HashSet};

use chrono::NaiveDate;
use serde::Deserialize;

use crate::finding::Cve;

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{path}: {message}")]
pub struct KevError {
    pub path: String,
    pub message: String,
}

/// One catalogue snapshot: which CVEs are known exploited, and which vendor/product pairs
/// have KEV history (used for perimeter appliances with no CVE-level finding).
#[derive(Debug, Clone, Default)]
pub struct KevCatalog {
    pub version: String,
    pub released: Option<String>,
    cves: HashMap<Cve, KevEntry>,
    products: HashSet<(String, String)>,
    /// CVEs per normalised (vendor, product), in catalogue order.
    by_product: HashMap<(String, String), Vec<Cve>>,
    vendors: HashSet<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct KevEntry {
    /// The vendor and product as the catalogue names them (`vendorProject`, `product`).
    pub vendor: String,
    pub product: String,
    pub date_added: Option<NaiveDate>,
    pub due_date: Option<NaiveDate>,
    pub ransomware: bool,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Doc {
    catalog_version: String,
    date_released: Option<String>,
    vulnerabilities: Vec<Entry>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Entry {
    #[serde(rename = "cveID")]
    cve_id: String,
    vendor_project: String,
    product: String,
    date_added: Option<String>,
    due_date: Option<String>,
    known_ransomware_campaign_use: Option<String>,
}

fn norm(s: &str) -> String {
    s.trim().to_lowercase()
}

impl KevCatalog {
    pub fn from_json(text: &str) -> Result<Self, KevError> {
        let de = &mut serde_json::Deserializer::from_str(text);
        let doc: Doc = serde_path_to_error::deserialize(de).map_err(|e| KevError {
            path: e.path().to_string(),
            message: e.into_inner().to_string(),
        })?;
        let mut cat = KevCatalog {
            version: doc.catalog_version,
            released: doc.date_released,
            ..Default::default()
        };
        for (i, v) in doc.vulnerabilities.into_iter().enumerate() {
            let cve = Cve::parse(&v.cve_id).map_err(|m| KevError {
                path: format!("vulnerabilities[{i}].cveID"),
                message: m,
            })?;
            let date = |s: Option<String>, field: &str| -> Result<Option<NaiveDate>, KevError> {
                s.map(|s| {
                    NaiveDate::parse_from_str(&s, "%Y-%m-%d").map_err(|e| KevError {
                        path: format!("vulnerabilities[{i}].{field}"),
                        message: format!("{s:?} is not a YYYY-MM-DD date: {e}"),
                    })
                })
                .transpose()
            };
            let entry = KevEntry {
                vendor: v.vendor_project.clone(),
                product: v.product.clone(),
                date_added: date(v.date_added, "dateAdded")?,
                due_date: date(v.due_date, "dueDate")?,
                ransomware: v.known_ransomware_campaign_use.as_deref() == Some("Known"),
            };
            cat.vendors.insert(norm(&v.vendor_project));
            cat.products
                .insert((norm(&v.vendor_project), norm(&v.product)));
            cat.cves.insert(cve, entry);
        }
        Ok(cat)
    }

    /// Every CVE in the catalogue (in no particular order).
    pub fn cves(&self) -> impl Iterator<Item = &Cve> {
        self.cves.keys()
    }

    pub fn len(&self) -> usize {
        self.cves.len()
    }

    pub fn is_empty(&self) -> bool {
        self.cves.is_empty()
    }

    pub fn contains(&self, cve: &Cve) -> bool {
        self.cves.contains_key(cve)
    }

    pub fn get(&self, cve: &Cve) -> Option<&KevEntry> {
        self.cves.get(cve)
    }

    /// The KEV-listed CVEs of a product (matched as in [`KevCatalog::has_product_history`]),
    /// sorted.
    pub fn cves_for(&self, vendor: &str, product: &str) -> Vec<&Cve> {
        let (v, p) = (norm(vendor), norm(product));
        let mut out: Vec<&Cve> = self
            .by_product
            .iter()
            .filter(|((pv, pp), _)| *pv == v && (*pp == p || pp.contains(&p)))
            .flat_map(|(_, cves)| cves.iter())
            .collect();
        out.sort();
        out.dedup();
        out
    }

    /// Whether this vendor (and product, when given) has any KEV-listed vulnerability.
    /// Matching is case-insensitive; a product match also accepts the product name
    /// appearing inside the catalogue's product (e.g. "FortiOS" in "FortiOS SSL-VPN").
    pub fn has_product_history(&self, vendor: &str, product: Option<&str>) -> bool {
        let v = norm(vendor);
        match product {
            None => self.vendors.contains(&v),
            Some(p) => {
                let p = norm(p);
                self.products.contains(&(v.clone(), p.clone()))
                    || self
                        .products
                        .iter()
                        .any(|(pv, pp)| *pv == v && pp.contains(&p))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DOC: &str = r#"{"title":"t","catalogVersion":"2025.08.25","dateReleased":"2025-08-25T17:04:19Z","count":1,
      "vulnerabilities":[{"cveID":"CVE-2024-3400","vendorProject":"Palo Alto Networks","product":"PAN-OS",
      "vulnerabilityName":"x","dateAdded":"2024-04-12","shortDescription":"x","requiredAction":"x",
      "dueDate":"2024-04-19","knownRansomwareCampaignUse":"Unknown","notes":"","cwes":[]}]}"#;

    #[test]
    fn parses_entries_and_products() {
        let k = KevCatalog::from_json(DOC).unwrap();
        assert_eq!(k.version, "2025.08.25");
        assert!(k.contains(&Cve::parse("CVE-2024-3400").unwrap()));
        assert!(!k.contains(&Cve::parse("CVE-2024-0001").unwrap()));
        assert!(k.has_product_history("palo alto networks", Some("pan-os")));
        assert!(!k.has_product_history("palo alto networks", Some("cortex")));
    }

    #[test]
    fn bad_date_names_the_field() {
        let bad = DOC.replace("2024-04-19", "19/04/2024");
        let e = KevCatalog::from_json(&bad).unwrap_err();
        assert_eq!(e.path, "vulnerabilities[0].dueDate");
    }
}
