//! The one error type of the crate: an input or model that cannot be simulated, with the
//! field it is about.

/// Invalid input: `field` names it (`layer.limit`, `coverages.extortion.interval`).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{}{message}", if field.is_empty() { String::new() } else { format!("{field}: ") })]
pub struct SimError {
    pub field: String,
    pub message: String,
}

pub(crate) fn invalid(field: impl Into<String>, message: impl Into<String>) -> SimError {
    SimError {
        field: field.into(),
        message: message.into(),
    }
}

pub type Result<T> = std::result::Result<T, SimError>;

/// Parses TOML into `T`, naming the field of any error.
pub(crate) fn from_toml<T: serde::de::DeserializeOwned>(text: &str) -> Result<T> {
    let de = toml::Deserializer::parse(text).map_err(|e| invalid("", e.to_string()))?;
    serde_path_to_error::deserialize(de).map_err(|e| {
        let path = e.path().to_string();
        let path = if path == "." { String::new() } else { path };
        invalid(path, e.into_inner().message().to_owned())
    })
}

pub(crate) fn check_finite_positive(field: &str, v: f64) -> Result<()> {
    if v.is_finite() && v > 0.0 {
        Ok(())
    } else {
        Err(invalid(
            field,
            format!("must be a finite number above 0, got {v}"),
        ))
    }
}

pub(crate) fn check_unit(field: &str, v: f64) -> Result<()> {
    if (0.0..=1.0).contains(&v) {
        Ok(())
    } else {
        Err(invalid(field, format!("must be between 0 and 1, got {v}")))
    }
}
