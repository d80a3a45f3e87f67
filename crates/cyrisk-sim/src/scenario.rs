//! An explicit loss scenario, so an actuary can check the engine against their own model:
//! an annual frequency and a severity (one lognormal, or several coverages each hit with a
//! probability), written in TOML.
//!
//! ```toml
//! name = "ransomware, mid-size manufacturer"
//! frequency = 0.3
//! [severity]
//! interval = [50000.0, 5000000.0]   # or mu = …, sigma = …; optional tail = { quantile, shape }
//! ```

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::error::{Result, check_unit, from_toml, invalid};
use crate::frequency::Frequency;
use crate::lognormal::{LogNormal, SeveritySpec};
use crate::severity::{Component, ComponentKind, Coverage, EventModel, EventType};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScenarioFile {
    #[serde(default)]
    pub name: String,
    /// Expected events a year.
    pub frequency: f64,
    /// Gamma shape for a negative binomial count; absent for Poisson.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dispersion_shape: Option<f64>,
    /// One severity for every event.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub severity: Option<SeveritySpec>,
    /// Or per coverage, each hit with its probability.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub coverages: BTreeMap<Coverage, CoverageSpec>,
    /// Correlation of the coverages' amounts within one event.
    #[serde(default)]
    pub correlation: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CoverageSpec {
    #[serde(default = "one")]
    pub probability: f64,
    #[serde(flatten)]
    pub severity: SeveritySpec,
}

fn one() -> f64 {
    1.0
}

impl ScenarioFile {
    pub fn from_toml(text: &str) -> Result<Self> {
        let s: ScenarioFile = from_toml(text)?;
        s.frequency()?;
        s.events()?;
        Ok(s)
    }

    pub fn frequency(&self) -> Result<Frequency> {
        let f = match self.dispersion_shape {
            None => Frequency::poisson(self.frequency),
            Some(k) => Frequency::negative_binomial(self.frequency, k),
        };
        f.map_err(|e| {
            invalid(
                e.field
                    .replace("frequency.lambda", "frequency")
                    .replace("frequency.shape", "dispersion_shape"),
                e.message,
            )
        })
    }

    pub fn events(&self) -> Result<EventModel> {
        match (&self.severity, self.coverages.is_empty()) {
            (Some(spec), true) => {
                let ln = LogNormal::from_spec(spec, "severity")?;
                Ok(EventModel::single(
                    ln,
                    Coverage::BusinessInterruption,
                    EventType::Other,
                ))
            }
            (None, false) => {
                check_unit("correlation", self.correlation)?;
                let comps = self
                    .coverages
                    .iter()
                    .map(|(c, spec)| {
                        let f = format!("coverages.{}", c.as_str());
                        check_unit(&format!("{f}.probability"), spec.probability)?;
                        Ok(Component {
                            coverage: *c,
                            probability: spec.probability,
                            kind: ComponentKind::Lognormal(LogNormal::from_spec(
                                &spec.severity,
                                &f,
                            )?),
                        })
                    })
                    .collect::<Result<Vec<_>>>()?;
                Ok(EventModel::components(
                    comps,
                    self.correlation,
                    EventType::Other,
                ))
            }
            (Some(_), false) => Err(invalid(
                "severity",
                "give either [severity] or [coverages.*], not both",
            )),
            (None, true) => Err(invalid(
                "severity",
                "is missing: give [severity] or [coverages.*]",
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_both_forms_and_names_bad_fields() {
        let one = ScenarioFile::from_toml(
            "frequency = 0.3\n[severity]\ninterval = [50000.0, 5000000.0]\n",
        )
        .unwrap();
        assert!(one.events().unwrap().as_single().is_some());
        let many = ScenarioFile::from_toml(
            "frequency = 0.3\ncorrelation = 0.4\n[coverages.extortion]\nprobability = 0.5\ninterval = [1e5, 1e6]\n[coverages.business_interruption]\nmu = 12.0\nsigma = 1.1\n",
        )
        .unwrap();
        assert!(many.events().unwrap().as_single().is_none());
        let e = ScenarioFile::from_toml("frequency = -1\n[severity]\ninterval = [1.0, 2.0]\n")
            .unwrap_err();
        assert_eq!(e.field, "frequency");
        let e = ScenarioFile::from_toml("frequency = 0.1\n[severity]\ninterval = [5.0, 2.0]\n")
            .unwrap_err();
        assert_eq!(e.field, "severity.interval");
        let e = ScenarioFile::from_toml("frequency = 0.1\n").unwrap_err();
        assert_eq!(e.field, "severity");
        let e = ScenarioFile::from_toml("frequency = 0.1\n[severity]\nmu = 1.0\nsigma = nan\n")
            .unwrap_err();
        assert_eq!(e.field, "severity.sigma");
    }
}
