//! Validated numeric newtypes that cross crate boundaries: a probability is never a bare
//! `f64`, an amount of money is never negative or NaN.

use std::fmt;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Why a number was refused by one of the newtypes below.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum UnitError {
    #[error("must be a probability between 0 and 1, got {0}")]
    Probability(f64),
    #[error("must be a finite amount of at least 0, got {0}")]
    Money(f64),
    #[error("must be a finite score, got {0}")]
    Score(f64),
}

/// A probability in `[0, 1]`.
#[derive(Debug, Clone, Copy, PartialEq, PartialOrd, Serialize, Deserialize, JsonSchema)]
#[serde(try_from = "f64", into = "f64")]
#[schemars(with = "f64", extend("minimum" = 0.0, "maximum" = 1.0))]
pub struct Probability(f64);

impl Probability {
    pub const ZERO: Probability = Probability(0.0);
    pub const ONE: Probability = Probability(1.0);

    pub fn new(p: f64) -> Result<Self, UnitError> {
        if (0.0..=1.0).contains(&p) {
            Ok(Self(p))
        } else {
            Err(UnitError::Probability(p))
        }
    }

    /// Clamps a computed value into `[0, 1]`; NaN becomes 0. For values the code derived
    /// itself, never for user input.
    pub fn saturating(p: f64) -> Self {
        if p.is_nan() {
            Self(0.0)
        } else {
            Self(p.clamp(0.0, 1.0))
        }
    }

    pub fn get(self) -> f64 {
        self.0
    }
}

impl TryFrom<f64> for Probability {
    type Error = UnitError;
    fn try_from(p: f64) -> Result<Self, UnitError> {
        Self::new(p)
    }
}

impl From<Probability> for f64 {
    fn from(p: Probability) -> f64 {
        p.0
    }
}

/// A non-negative, finite amount of money in the organisation's currency.
#[derive(Debug, Clone, Copy, PartialEq, PartialOrd, Serialize, Deserialize, JsonSchema)]
#[serde(try_from = "f64", into = "f64")]
#[schemars(with = "f64", extend("minimum" = 0.0))]
pub struct Money(f64);

impl Money {
    pub const ZERO: Money = Money(0.0);

    pub fn new(amount: f64) -> Result<Self, UnitError> {
        if amount.is_finite() && amount >= 0.0 {
            Ok(Self(amount))
        } else {
            Err(UnitError::Money(amount))
        }
    }

    pub fn get(self) -> f64 {
        self.0
    }
}

impl TryFrom<f64> for Money {
    type Error = UnitError;
    fn try_from(v: f64) -> Result<Self, UnitError> {
        Self::new(v)
    }
}

impl From<Money> for f64 {
    fn from(m: Money) -> f64 {
        m.0
    }
}

impl fmt::Display for Money {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:.2}", self.0)
    }
}

/// An ISO 4217 currency code (three upper-case letters). CNY unless a bundle says otherwise.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(try_from = "String", into = "String")]
#[schemars(with = "String", extend("pattern" = r"^[A-Z]{3}$"))]
pub struct Currency(String);

impl Currency {
    pub fn cny() -> Self {
        Self("CNY".to_owned())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl Default for Currency {
    fn default() -> Self {
        Self::cny()
    }
}

impl TryFrom<String> for Currency {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        if s.len() == 3 && s.bytes().all(|b| b.is_ascii_uppercase()) {
            Ok(Self(s))
        } else {
            Err(format!(
                "must be a three-letter ISO 4217 code such as \"CNY\", got {s:?}"
            ))
        }
    }
}

impl From<Currency> for String {
    fn from(c: Currency) -> String {
        c.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn probability_bounds() {
        assert!(Probability::new(0.0).is_ok());
        assert!(Probability::new(1.0).is_ok());
        assert!(Probability::new(1.01).is_err());
        assert!(Probability::new(-0.01).is_err());
        assert!(Probability::new(f64::NAN).is_err());
        assert_eq!(Probability::saturating(f64::NAN).get(), 0.0);
        assert_eq!(Probability::saturating(3.0).get(), 1.0);
    }

    #[test]
    fn money_rejects_negative_and_nan() {
        assert!(Money::new(-1.0).is_err());
        assert!(Money::new(f64::INFINITY).is_err());
        assert!(Money::new(f64::NAN).is_err());
        assert_eq!(Money::new(12.5).unwrap().get(), 12.5);
    }

    #[test]
    fn currency_is_three_upper_case_letters() {
        assert!(Currency::try_from("CNY".to_owned()).is_ok());
        assert!(Currency::try_from("cny".to_owned()).is_err());
        assert!(Currency::try_from("YUAN".to_owned()).is_err());
    }
}
