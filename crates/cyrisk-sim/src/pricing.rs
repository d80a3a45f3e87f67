//! Layer pricing: pure premium, a cost-of-capital risk load, expense and profit loadings,
//! and increased-limit factors. The pricing model is data (`models/pricing-v1.toml`).

use serde::{Deserialize, Serialize};

use crate::error::{Result, check_finite_positive, check_unit, from_toml, invalid};
use crate::simulate::SimResult;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PricingModel {
    pub id: String,
    pub version: String,
    pub currency: String,
    #[serde(default)]
    pub notes: String,
    pub cost_of_capital: f64,
    pub expense_ratio: f64,
    pub profit_margin: f64,
    pub minimum_premium: f64,
    pub ilf_limits: Vec<f64>,
}

impl PricingModel {
    /// The model shipped with this build (`models/pricing-v1.toml`).
    pub fn builtin() -> Self {
        Self::from_toml(include_str!("../../../models/pricing-v1.toml"))
            .expect("the built-in pricing model is validated by the test suite")
    }

    pub fn from_toml(text: &str) -> Result<Self> {
        let m: PricingModel = from_toml(text)?;
        check_unit("cost_of_capital", m.cost_of_capital)?;
        check_unit("expense_ratio", m.expense_ratio)?;
        check_unit("profit_margin", m.profit_margin)?;
        if m.expense_ratio + m.profit_margin >= 1.0 {
            return Err(invalid(
                "profit_margin",
                format!(
                    "expense_ratio + profit_margin must be below 1, got {}",
                    m.expense_ratio + m.profit_margin
                ),
            ));
        }
        if !(m.minimum_premium.is_finite() && m.minimum_premium >= 0.0) {
            return Err(invalid(
                "minimum_premium",
                format!(
                    "must be a finite amount of at least 0, got {}",
                    m.minimum_premium
                ),
            ));
        }
        for (i, l) in m.ilf_limits.iter().enumerate() {
            check_finite_positive(&format!("ilf_limits[{i}]"), *l)?;
            if i > 0 && *l <= m.ilf_limits[i - 1] {
                return Err(invalid(format!("ilf_limits[{i}]"), "limits must increase"));
            }
        }
        Ok(m)
    }
}

/// The premium for a layer and how it is built up.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Premium {
    pub currency: String,
    pub pure_premium: f64,
    /// TVaR 99.5 % − mean of the annual layer loss.
    pub capital: f64,
    pub cost_of_capital: f64,
    pub risk_load: f64,
    pub expense_ratio: f64,
    pub expense_loading: f64,
    pub profit_margin: f64,
    pub profit_loading: f64,
    pub technical_premium: f64,
    pub minimum_premium: f64,
    /// max(technical, minimum).
    pub premium: f64,
    /// premium / limit, when the layer has a limit.
    pub rate_on_line: Option<f64>,
    pub model: String,
}

pub fn premium(r: &SimResult, m: &PricingModel) -> Premium {
    let pure = r.layer.expected_loss;
    let capital = (r.tvar["99.5"] - pure).max(0.0);
    let risk_load = m.cost_of_capital * capital;
    let technical = (pure + risk_load) / (1.0 - m.expense_ratio - m.profit_margin);
    let premium = technical.max(m.minimum_premium);
    Premium {
        currency: m.currency.clone(),
        pure_premium: pure,
        capital,
        cost_of_capital: m.cost_of_capital,
        risk_load,
        expense_ratio: m.expense_ratio,
        expense_loading: technical * m.expense_ratio,
        profit_margin: m.profit_margin,
        profit_loading: technical * m.profit_margin,
        technical_premium: technical,
        minimum_premium: m.minimum_premium,
        premium,
        rate_on_line: r.layer.limit.map(|l| premium / l),
        model: format!("{} {}", m.id, m.version),
    }
}

/// One row of an increased-limit-factor table.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct IlfPoint {
    pub limit: f64,
    pub expected_loss: f64,
    /// Expected layer loss at this limit over that at the base limit.
    pub factor: f64,
}

/// Increased-limit factors from (limit, expected layer loss) pairs, relative to `base`.
pub fn ilf_table(points: &[(f64, f64)], base: f64) -> Vec<IlfPoint> {
    let base_loss = points
        .iter()
        .find(|(l, _)| *l == base)
        .map_or(f64::NAN, |(_, e)| *e);
    points
        .iter()
        .map(|&(limit, expected_loss)| IlfPoint {
            limit,
            expected_loss,
            factor: if base_loss > 0.0 {
                expected_loss / base_loss
            } else {
                f64::NAN
            },
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const SHIPPED: &str = include_str!("../../../models/pricing-v1.toml");

    #[test]
    fn shipped_model_is_valid_and_errors_name_fields() {
        PricingModel::from_toml(SHIPPED).unwrap();
        let e = PricingModel::from_toml(
            &SHIPPED.replace("expense_ratio = 0.25", "expense_ratio = 0.96"),
        )
        .unwrap_err();
        assert_eq!(e.field, "profit_margin");
        let e = PricingModel::from_toml(
            &SHIPPED.replace("2000000.0, 5000000.0", "5000000.0, 2000000.0"),
        )
        .unwrap_err();
        assert_eq!(e.field, "ilf_limits[2]");
    }
}
