//! Annual event counts: Poisson, or negative binomial (Poisson with a gamma-distributed rate)
//! for uncertainty about the rate itself.

use serde::Serialize;

use crate::error::{Result, invalid};

/// Highest annual rate accepted for one organisation.
pub const MAX_RATE: f64 = 100.0;

#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(tag = "distribution", rename_all = "snake_case")]
pub enum Frequency {
    Poisson {
        lambda: f64,
    },
    /// Mean `lambda`, variance `lambda + lambda² / shape`.
    NegativeBinomial {
        lambda: f64,
        shape: f64,
    },
}

impl Frequency {
    pub fn poisson(lambda: f64) -> Result<Self> {
        check_rate(lambda)?;
        Ok(Self::Poisson { lambda })
    }

    pub fn negative_binomial(lambda: f64, shape: f64) -> Result<Self> {
        check_rate(lambda)?;
        if !(shape.is_finite() && shape > 0.0) {
            return Err(invalid(
                "frequency.shape",
                format!("must be a finite number above 0, got {shape}"),
            ));
        }
        Ok(Self::NegativeBinomial { lambda, shape })
    }

    pub fn mean(&self) -> f64 {
        match *self {
            Self::Poisson { lambda } | Self::NegativeBinomial { lambda, .. } => lambda,
        }
    }

    /// P(N = n) for n = 0, 1, …, until the tail is below 1e-16 (at least up to `min_len`).
    pub fn pmf(&self, min_len: usize) -> Vec<f64> {
        let mut out = Vec::new();
        let (mut p, ratio): (f64, Box<dyn Fn(usize) -> f64>) = match *self {
            Self::Poisson { lambda } => ((-lambda).exp(), Box::new(move |n| lambda / n as f64)),
            Self::NegativeBinomial { lambda, shape } => {
                let q = lambda / (shape + lambda);
                (
                    (shape / (shape + lambda)).powf(shape),
                    Box::new(move |n| (shape + n as f64 - 1.0) / n as f64 * q),
                )
            }
        };
        let mut cum = 0.0;
        let mut n = 0usize;
        loop {
            out.push(p);
            cum += p;
            n += 1;
            if (n >= min_len && 1.0 - cum < 1e-16) || n > 100_000 {
                break;
            }
            p *= ratio(n);
        }
        out
    }
}

fn check_rate(lambda: f64) -> Result<()> {
    if lambda.is_finite() && (0.0..=MAX_RATE).contains(&lambda) {
        Ok(())
    } else {
        Err(invalid(
            "frequency.lambda",
            format!("must be an annual rate between 0 and {MAX_RATE}, got {lambda}"),
        ))
    }
}

/// Sampling support for simulating loss years only: the chance of a year without events,
/// and the count distribution given at least one event.
#[derive(Debug, Clone)]
pub(crate) struct CountSampler {
    pub p0: f64,
    /// cdf[i] = P(N ≤ i + 1 | N ≥ 1).
    cdf: Vec<f64>,
}

impl CountSampler {
    pub fn new(f: &Frequency) -> Self {
        let pmf = f.pmf(2);
        let p0 = pmf[0];
        let rest = 1.0 - p0;
        let mut acc = 0.0;
        let mut cdf: Vec<f64> = pmf[1..]
            .iter()
            .map(|p| {
                acc += p / rest;
                acc
            })
            .collect();
        if let Some(last) = cdf.last_mut() {
            *last = 1.0;
        }
        Self { p0, cdf }
    }

    /// Events in a year known to have at least one, from a uniform draw.
    #[inline]
    pub fn positive_count(&self, u: f64) -> u32 {
        let i = if self.cdf.len() <= 16 {
            self.cdf
                .iter()
                .position(|&c| u < c)
                .unwrap_or(self.cdf.len() - 1)
        } else {
            self.cdf
                .partition_point(|&c| c <= u)
                .min(self.cdf.len() - 1)
        };
        i as u32 + 1
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pmfs_sum_to_one_with_the_right_mean() {
        for f in [
            Frequency::poisson(0.3).unwrap(),
            Frequency::negative_binomial(2.0, 1.5).unwrap(),
        ] {
            let pmf = f.pmf(1);
            let total: f64 = pmf.iter().sum();
            let mean: f64 = pmf.iter().enumerate().map(|(n, p)| n as f64 * p).sum();
            assert!((total - 1.0).abs() < 1e-12);
            assert!((mean - f.mean()).abs() < 1e-9, "{mean}");
        }
    }

    #[test]
    fn bad_rates_are_rejected() {
        assert!(Frequency::poisson(f64::NAN).is_err());
        assert!(Frequency::poisson(-0.1).is_err());
        assert!(Frequency::poisson(1e6).is_err());
        assert!(Frequency::negative_binomial(0.2, 0.0).is_err());
    }
}
