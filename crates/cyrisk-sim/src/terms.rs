//! Policy terms of the layer being priced: per-occurrence deductible and limit, an annual
//! aggregate limit, and per-coverage sublimits.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::error::{Result, invalid};
use crate::severity::Coverage;

/// `limit xs deductible` per occurrence, capped at `aggregate_limit` a year. Sublimits cap
/// what each coverage contributes to an occurrence before the deductible applies.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Layer {
    pub deductible: f64,
    /// `None`: unlimited.
    pub limit: Option<f64>,
    pub aggregate_limit: Option<f64>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub sublimits: BTreeMap<Coverage, f64>,
}

impl Default for Layer {
    fn default() -> Self {
        Self {
            deductible: 0.0,
            limit: None,
            aggregate_limit: None,
            sublimits: BTreeMap::new(),
        }
    }
}

fn amount(field: &str, v: f64) -> Result<f64> {
    if v.is_finite() && v >= 0.0 {
        Ok(v)
    } else {
        Err(invalid(
            field,
            format!("must be a finite amount of at least 0, got {v}"),
        ))
    }
}

impl Layer {
    pub fn new(
        deductible: f64,
        limit: Option<f64>,
        aggregate_limit: Option<f64>,
        sublimits: BTreeMap<Coverage, f64>,
    ) -> Result<Self> {
        let deductible = amount("deductible", deductible)?;
        if let Some(l) = limit {
            amount("limit", l)?;
            if l == 0.0 {
                return Err(invalid("limit", "must be above 0"));
            }
            if deductible > l {
                return Err(invalid(
                    "deductible",
                    format!("{deductible} is above the limit {l}: the policy could never pay"),
                ));
            }
        }
        if let Some(a) = aggregate_limit {
            amount("aggregate_limit", a)?;
            if a == 0.0 {
                return Err(invalid("aggregate_limit", "must be above 0"));
            }
            if let Some(l) = limit
                && a < l
            {
                return Err(invalid(
                    "aggregate_limit",
                    format!("{a} is below the per-occurrence limit {l}"),
                ));
            }
        }
        for (c, v) in &sublimits {
            amount(&format!("sublimits.{}", c.as_str()), *v)?;
        }
        Ok(Self {
            deductible,
            limit,
            aggregate_limit,
            sublimits,
        })
    }

    /// Sublimits as an array indexed by coverage (infinity where none).
    pub(crate) fn sublimit_array(&self) -> [f64; Coverage::COUNT] {
        let mut a = [f64::INFINITY; Coverage::COUNT];
        for (c, v) in &self.sublimits {
            a[c.index()] = *v;
        }
        a
    }

    /// The layer's share of one occurrence's covered loss.
    #[inline]
    pub fn occurrence(&self, covered: f64) -> f64 {
        (covered - self.deductible)
            .max(0.0)
            .min(self.limit.unwrap_or(f64::INFINITY))
    }

    #[inline]
    pub fn annual(&self, sum_of_occurrences: f64) -> f64 {
        sum_of_occurrences.min(self.aggregate_limit.unwrap_or(f64::INFINITY))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_terms_are_rejected_with_the_field() {
        let none = BTreeMap::new;
        assert_eq!(
            Layer::new(-1.0, None, None, none()).unwrap_err().field,
            "deductible"
        );
        assert_eq!(
            Layer::new(f64::NAN, None, None, none()).unwrap_err().field,
            "deductible"
        );
        assert_eq!(
            Layer::new(0.0, Some(-5.0), None, none()).unwrap_err().field,
            "limit"
        );
        assert_eq!(
            Layer::new(10.0, Some(5.0), None, none()).unwrap_err().field,
            "deductible"
        );
        assert_eq!(
            Layer::new(0.0, Some(10.0), Some(5.0), none())
                .unwrap_err()
                .field,
            "aggregate_limit"
        );
        let mut s = BTreeMap::new();
        s.insert(Coverage::Extortion, f64::INFINITY);
        assert_eq!(
            Layer::new(0.0, None, None, s).unwrap_err().field,
            "sublimits.extortion"
        );
    }

    #[test]
    fn occurrence_and_annual() {
        let l = Layer::new(50.0, Some(500.0), Some(800.0), BTreeMap::new()).unwrap();
        assert_eq!(l.occurrence(40.0), 0.0);
        assert_eq!(l.occurrence(100.0), 50.0);
        assert_eq!(l.occurrence(10_000.0), 500.0);
        assert_eq!(l.annual(1000.0), 800.0);
    }
}
