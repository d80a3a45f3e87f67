//! The assessment bundle: one JSON document with everything known about one organisation.
//! [`AssessmentBundle`] is the wire shape; [`Bundle`] is the validated form the rating reads.

use std::collections::HashMap;

use chrono::NaiveDate;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::asset::Asset;
use crate::control::{ControlId, ControlResult};
use crate::finding::{Cve, Finding};
use crate::incident::Incident;
use crate::kev::KevCatalog;
use crate::profile::Profile;
use crate::units::Probability;

/// The version of the bundle format this build reads and writes.
pub const BUNDLE_SCHEMA_VERSION: u32 = 1;

fn schema_version() -> u32 {
    BUNDLE_SCHEMA_VERSION
}

/// Everything known about one organisation: profile, assets, findings, controls, incidents.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AssessmentBundle {
    #[serde(default = "schema_version")]
    pub schema_version: u32,
    pub profile: Profile,
    #[serde(default)]
    pub assets: Vec<Asset>,
    #[serde(default)]
    pub findings: Vec<Finding>,
    #[serde(default)]
    pub controls: Vec<ControlResult>,
    #[serde(default)]
    pub incidents: Vec<Incident>,
    /// Date of the most recent scan that produced the findings.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scan_date: Option<NaiveDate>,
}

/// A bundle that failed to parse or validate. `path` names the offending field in the
/// document (`findings[3].fixed_at`), `message` says what is wrong with which value.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{}{message}", if path.is_empty() { String::new() } else { format!("{path}: ") })]
pub struct BundleError {
    pub path: String,
    pub message: String,
}

impl BundleError {
    fn at(path: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            path: path.into(),
            message: message.into(),
        }
    }
}

impl AssessmentBundle {
    /// Parses a bundle from JSON; errors name the JSON path of the offending field.
    pub fn from_json(text: &str) -> Result<Self, BundleError> {
        let de = &mut serde_json::Deserializer::from_str(text);
        serde_path_to_error::deserialize(de).map_err(|e| {
            let path = e.path().to_string();
            let inner = e.into_inner();
            let path = if path == "." { String::new() } else { path };
            BundleError::at(path, inner.to_string())
        })
    }

    /// Checks what types cannot: unique ids, references, date order, value ranges.
    pub fn validate(self) -> Result<Bundle, BundleError> {
        if self.schema_version != BUNDLE_SCHEMA_VERSION {
            return Err(BundleError::at(
                "schema_version",
                format!(
                    "unsupported version {}, this build reads {BUNDLE_SCHEMA_VERSION}",
                    self.schema_version
                ),
            ));
        }
        let p = &self.profile;
        if let Some(e) = crate::schema::name_error(&p.name) {
            return Err(BundleError::at("profile.name", e));
        }
        if let Some(e) = crate::schema::name_error(&p.region) {
            return Err(BundleError::at("profile.region", e));
        }
        if let Some(d) = &p.data
            && d.sensitive_personal_records > d.personal_records
        {
            return Err(BundleError::at(
                "profile.data.sensitive_personal_records",
                format!(
                    "{} exceeds personal_records {}",
                    d.sensitive_personal_records, d.personal_records
                ),
            ));
        }

        let mut asset_index: HashMap<&str, u32> = HashMap::with_capacity(self.assets.len());
        for (i, a) in self.assets.iter().enumerate() {
            if let Some(e) = crate::schema::name_error(&a.id) {
                return Err(BundleError::at(format!("assets[{i}].id"), e));
            }
            if asset_index.insert(a.id.as_str(), i as u32).is_some() {
                return Err(BundleError::at(
                    format!("assets[{i}].id"),
                    format!("duplicate asset id {:?}", a.id),
                ));
            }
            if let (Some(first), Some(last)) = (a.first_seen, a.last_seen)
                && last < first
            {
                return Err(BundleError::at(
                    format!("assets[{i}].last_seen"),
                    format!("{last} is before first_seen {first}"),
                ));
            }
        }

        let mut finding_asset = Vec::with_capacity(self.findings.len());
        let mut finding_ids: HashMap<&str, ()> = HashMap::with_capacity(self.findings.len());
        for (i, f) in self.findings.iter().enumerate() {
            if let Some(e) = crate::schema::name_error(&f.id) {
                return Err(BundleError::at(format!("findings[{i}].id"), e));
            }
            if finding_ids.insert(f.id.as_str(), ()).is_some() {
                return Err(BundleError::at(
                    format!("findings[{i}].id"),
                    format!("duplicate finding id {:?}", f.id),
                ));
            }
            let Some(&ai) = asset_index.get(f.asset.as_str()) else {
                return Err(BundleError::at(
                    format!("findings[{i}].asset"),
                    format!("refers to asset {:?}, which is not in assets", f.asset),
                ));
            };
            finding_asset.push(ai);
            if let Some(fixed) = f.fixed_at
                && fixed < f.first_seen
            {
                return Err(BundleError::at(
                    format!("findings[{i}].fixed_at"),
                    format!("{fixed} is before first_seen {}", f.first_seen),
                ));
            }
            if f.additional_cves.len() > crate::finding::MAX_ADDITIONAL_CVES {
                return Err(BundleError::at(
                    format!("findings[{i}].additional_cves"),
                    format!(
                        "{} CVEs; at most {} per finding",
                        f.additional_cves.len(),
                        crate::finding::MAX_ADDITIONAL_CVES
                    ),
                ));
            }
            if f.cvss_vector.is_none() && f.cvss_score.is_none() && f.severity.is_none() {
                return Err(BundleError::at(
                    format!("findings[{i}]"),
                    "needs at least one of cvss_vector, cvss_score or severity",
                ));
            }
        }

        for (i, c) in self.controls.iter().enumerate() {
            match (c.control, c.level) {
                (ControlId::Mlps, Some(level)) if !(1..=5).contains(&level) => {
                    return Err(BundleError::at(
                        format!("controls[{i}].level"),
                        format!("MLPS levels are 1 to 5, got {level}"),
                    ));
                }
                (ControlId::Mlps, None) => {
                    return Err(BundleError::at(
                        format!("controls[{i}].level"),
                        "an mlps result needs the level (1 to 5) it was assessed at",
                    ));
                }
                (other, Some(_)) if other != ControlId::Mlps => {
                    return Err(BundleError::at(
                        format!("controls[{i}].level"),
                        format!("only mlps results carry a level, not {}", other.as_str()),
                    ));
                }
                _ => {}
            }
        }

        let mut incident_ids: HashMap<&str, ()> = HashMap::new();
        for (i, inc) in self.incidents.iter().enumerate() {
            if let Some(e) = crate::schema::name_error(&inc.id) {
                return Err(BundleError::at(format!("incidents[{i}].id"), e));
            }
            if incident_ids.insert(inc.id.as_str(), ()).is_some() {
                return Err(BundleError::at(
                    format!("incidents[{i}].id"),
                    format!("duplicate incident id {:?}", inc.id),
                ));
            }
            if !(inc.downtime_hours.is_finite() && inc.downtime_hours >= 0.0) {
                return Err(BundleError::at(
                    format!("incidents[{i}].downtime_hours"),
                    format!(
                        "must be a finite number of hours of at least 0, got {}",
                        inc.downtime_hours
                    ),
                ));
            }
            let mut prev = ("started", inc.started);
            for (name, date) in [
                ("detected", inc.detected),
                ("contained", inc.contained),
                ("recovered", inc.recovered),
            ] {
                if let Some(d) = date {
                    if d < prev.1 {
                        return Err(BundleError::at(
                            format!("incidents[{i}].{name}"),
                            format!("{d} is before {} {}", prev.0, prev.1),
                        ));
                    }
                    prev = (name, d);
                }
            }
        }

        Ok(Bundle {
            raw: self,
            finding_asset,
        })
    }
}

/// A validated bundle: every reference resolves, every date is in order.
#[derive(Debug, Clone, PartialEq)]
pub struct Bundle {
    raw: AssessmentBundle,
    /// `finding_asset[i]` is the index in `assets` of `findings[i].asset`.
    finding_asset: Vec<u32>,
}

impl Bundle {
    pub fn from_json(text: &str) -> Result<Self, BundleError> {
        AssessmentBundle::from_json(text)?.validate()
    }

    pub fn raw(&self) -> &AssessmentBundle {
        &self.raw
    }

    pub fn into_raw(self) -> AssessmentBundle {
        self.raw
    }

    pub fn profile(&self) -> &Profile {
        &self.raw.profile
    }

    pub fn assets(&self) -> &[Asset] {
        &self.raw.assets
    }

    pub fn findings(&self) -> &[Finding] {
        &self.raw.findings
    }

    pub fn controls(&self) -> &[ControlResult] {
        &self.raw.controls
    }

    pub fn incidents(&self) -> &[Incident] {
        &self.raw.incidents
    }

    /// Adds a control result the service derived (the remediation record's patch cadence).
    /// Control results refer to nothing else in the bundle, so it stays valid.
    pub fn push_control(&mut self, c: ControlResult) {
        self.raw.controls.push(c);
    }

    /// Index into [`Bundle::assets`] of the asset finding `i` is on.
    pub fn finding_asset(&self, i: usize) -> usize {
        self.finding_asset[i] as usize
    }

    /// Marks findings whose CVE is in the catalogue as KEV-listed, and assets whose
    /// vendor/product has KEV history; returns how many findings changed.
    pub fn apply_kev(&mut self, kev: &KevCatalog) -> usize {
        for a in &mut self.raw.assets {
            if let Some(vendor) = &a.vendor
                && !a.kev_product
            {
                a.kev_product = kev.has_product_history(vendor, a.product.as_deref());
            }
        }
        let mut changed = 0;
        for f in &mut self.raw.findings {
            if !f.kev && f.cves().any(|c| kev.contains(c)) {
                f.kev = true;
                changed += 1;
            }
        }
        changed
    }

    /// Sets the EPSS probability of findings with a CVE `lookup` (the latest feed snapshot)
    /// knows — the highest over all the finding's CVEs — replacing an older value from the
    /// scanner; returns how many it set.
    pub fn apply_epss(&mut self, lookup: impl Fn(&Cve) -> Option<Probability>) -> usize {
        let mut filled = 0;
        for f in &mut self.raw.findings {
            let best = f
                .cves()
                .filter_map(&lookup)
                .max_by(|a, b| a.get().total_cmp(&b.get()));
            if let Some(p) = best {
                f.epss = Some(p);
                filled += 1;
            }
        }
        filled
    }

    /// Mutable access for what-if analysis; the changes it allows (state, flags) cannot break
    /// the references validation checked.
    pub(crate) fn findings_mut(&mut self) -> &mut [Finding] {
        &mut self.raw.findings
    }

    pub(crate) fn assets_mut(&mut self) -> &mut [Asset] {
        &mut self.raw.assets
    }

    pub(crate) fn controls_mut(&mut self) -> &mut Vec<ControlResult> {
        &mut self.raw.controls
    }
}

/// The JSON Schema (draft 2020-12) of [`AssessmentBundle`], pretty-printed. Committed as
/// `models/bundle.schema.json` and kept in sync by a test.
pub fn json_schema() -> String {
    let schema = schemars::schema_for!(AssessmentBundle);
    serde_json::to_string_pretty(&schema).unwrap_or_default()
}
