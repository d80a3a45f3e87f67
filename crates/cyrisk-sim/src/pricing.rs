//! Layer pricing: pure premium, a parameter-risk load, a cost-of-capital risk load on the
//! capital the layer takes from a book, expense and profit loadings, a minimum premium, and
//! increased-limit factors. The pricing model is data (`models/pricing-v2.toml`; v1 kept).

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
    /// Load for the uncertainty in the rate itself: `parameter_risk × σ × pure premium`, σ
    /// the rating's `log_rate_sigma` (0 when a model file predates it).
    #[serde(default)]
    pub parameter_risk: f64,
    /// The book whose tail the layer's capital is allocated from (v2). Without it the
    /// capital is the layer's stand-alone TVaR 99.5 % − mean (v1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub book: Option<BookTail>,
}

/// What pricing needs of the book a risk joins: its annual loss's standard deviation and
/// tail capital, from a simulation of the book (`cyrisk portfolio`).
///
/// A risk X joining a book S takes capital by the Euler allocation of a standard-deviation
/// capital rule K = z · σ_S, z = (TVaR 99.5 % − mean) / σ_S of the book: K_X = z · Cov(X, S) /
/// σ_S, and for a risk independent of the book Cov(X, S) = Var(X) (Kreps, "Riskiness
/// leverage models", PCAS 2005; Tasche, "Allocating portfolio economic capital to
/// sub-portfolios", 2000). Shared-technology catastrophes make risks dependent; this single-
/// risk rule leaves that to the portfolio engine and says so.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BookTail {
    /// ISO 4217 code of the two amounts.
    pub currency: String,
    /// Standard deviation of the book's annual layer loss.
    pub std_dev: f64,
    /// TVaR 99.5 % − mean of the book's annual layer loss.
    pub tail_capital: f64,
    /// How the figures were made (book, seed, years).
    #[serde(default)]
    pub source: String,
}

impl PricingModel {
    /// The default model shipped with this build (`models/pricing-v2.toml`).
    pub fn builtin() -> Self {
        Self::from_toml(include_str!("../../../models/pricing-v2.toml"))
            .expect("the built-in pricing model is validated by the test suite")
    }

    /// The first pricing model (`models/pricing-v1.toml`): stand-alone capital.
    pub fn builtin_v1() -> Self {
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
        if !(m.parameter_risk.is_finite() && (0.0..=5.0).contains(&m.parameter_risk)) {
            return Err(invalid(
                "parameter_risk",
                format!("must be between 0 and 5, got {}", m.parameter_risk),
            ));
        }
        if let Some(b) = &m.book {
            if b.currency != m.currency {
                return Err(invalid(
                    "book.currency",
                    format!(
                        "must be the model's currency {}, got {}",
                        m.currency, b.currency
                    ),
                ));
            }
            check_finite_positive("book.std_dev", b.std_dev)?;
            check_finite_positive("book.tail_capital", b.tail_capital)?;
        }
        Ok(m)
    }
}

/// The premium for a layer and how it is built up.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Premium {
    pub currency: String,
    pub pure_premium: f64,
    /// `parameter_risk × σ × pure premium`.
    pub parameter_risk_load: f64,
    /// How the capital was found: `book_co_tvar` (the layer's co-TVaR 99.5 % in a simulated
    /// book, minus its expected loss), `book_covariance` (allocated from the reference book's
    /// tail statistics) or `stand_alone` (TVaR 99.5 % − mean of the layer alone).
    pub capital_method: &'static str,
    /// The capital the layer takes.
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

impl BookTail {
    /// The capital a risk whose annual layer loss has standard deviation `std_dev` (in a
    /// currency worth `fx` units of the book's) takes: z · Var(X) / σ_S, converted back.
    pub fn capital_for(&self, std_dev: f64, fx: f64) -> f64 {
        let z = self.tail_capital / self.std_dev;
        z * (std_dev * fx).powi(2) / self.std_dev / fx
    }
}

/// What the premium depends on besides the simulation.
#[derive(Debug, Clone, PartialEq)]
pub struct PricingContext {
    /// The rating's standard deviation of ln λ (0 for a scenario without one).
    pub log_rate_sigma: f64,
    /// ISO 4217 code of the layer's amounts; `None` is the pricing model's currency.
    pub currency: Option<String>,
    /// Units of the pricing model's (and book's) currency per unit of the layer's.
    pub to_model_currency: f64,
    /// Capital already allocated to the layer from a simulated book, in the layer's currency
    /// (co-TVaR 99.5 % − expected loss, `cyrisk price --book`); overrides the model's method.
    pub allocated_capital: Option<f64>,
}

impl Default for PricingContext {
    fn default() -> Self {
        Self {
            log_rate_sigma: 0.0,
            currency: None,
            to_model_currency: 1.0,
            allocated_capital: None,
        }
    }
}

/// The premium for the simulated layer `r`.
///
/// technical = (pure + parameter-risk load + cost of capital × capital) / (1 − expense ratio
/// − profit margin); premium = max(technical, minimum premium). Capital: with a book,
/// z · Var(X) / σ_S (see [`BookTail`]), in the layer's currency; without, TVaR 99.5 % − mean.
pub fn premium(r: &SimResult, m: &PricingModel) -> Premium {
    premium_in(r, m, &PricingContext::default())
}

/// [`premium`] with the rating's uncertainty and the exchange rate to the book's currency.
pub fn premium_in(r: &SimResult, m: &PricingModel, ctx: &PricingContext) -> Premium {
    let pure = r.layer.expected_loss;
    let (capital_method, capital) = match (ctx.allocated_capital, &m.book) {
        (Some(c), _) => ("book_co_tvar", c.max(0.0)),
        (None, Some(b)) => {
            // Never more than the layer would need alone.
            let alone = (r.tvar["99.5"] - pure).max(0.0);
            (
                "book_covariance",
                b.capital_for(r.std_dev, ctx.to_model_currency).min(alone),
            )
        }
        (None, None) => ("stand_alone", (r.tvar["99.5"] - pure).max(0.0)),
    };
    let parameter_risk_load = m.parameter_risk * ctx.log_rate_sigma.max(0.0) * pure;
    let risk_load = m.cost_of_capital * capital;
    let technical =
        (pure + parameter_risk_load + risk_load) / (1.0 - m.expense_ratio - m.profit_margin);
    let minimum = m.minimum_premium / ctx.to_model_currency;
    let premium = technical.max(minimum);
    Premium {
        currency: ctx.currency.clone().unwrap_or_else(|| m.currency.clone()),
        pure_premium: pure,
        parameter_risk_load,
        capital_method,
        capital,
        cost_of_capital: m.cost_of_capital,
        risk_load,
        expense_ratio: m.expense_ratio,
        expense_loading: technical * m.expense_ratio,
        profit_margin: m.profit_margin,
        profit_loading: technical * m.profit_margin,
        technical_premium: technical,
        minimum_premium: minimum,
        premium,
        rate_on_line: r.layer.limit.map(|l| premium / l),
        model: format!("{} {}", m.id, m.version),
    }
}

/// The technical premium from the layer's expected loss and standard deviation alone, by
/// the book method ([`BookTail`]); `None` when the pricing model has no book (its capital
/// then needs the simulated tail: use [`premium_in`]). Used where many variants of one risk
/// are compared (the priced plan); unlike [`premium_in`] it cannot cap the capital at the
/// stand-alone TVaR, which binds only for risks large against the book.
pub fn technical_from_moments(
    expected_loss: f64,
    std_dev: f64,
    m: &PricingModel,
    ctx: &PricingContext,
) -> Option<f64> {
    let capital = m.book.as_ref()?.capital_for(std_dev, ctx.to_model_currency);
    let load = m.parameter_risk * ctx.log_rate_sigma.max(0.0) * expected_loss;
    Some(
        (expected_loss + load + m.cost_of_capital * capital)
            / (1.0 - m.expense_ratio - m.profit_margin),
    )
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
