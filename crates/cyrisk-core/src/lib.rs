//! cyrisk-core: the domain model of an organisation's cyber risk and the explained rating.
//!
//! Values in, values out: this crate does no I/O, has no async and knows no database or
//! HTTP framework (checked by a test in the `tests` package). Parsing helpers take text the
//! caller has already read.

pub mod asset;
pub mod bundle;
pub mod control;
pub mod cvss;
pub mod factor;
pub mod finding;
pub mod incident;
pub mod kev;
pub mod model;
pub mod monitoring;
pub mod peril;
pub mod plan;
pub mod profile;
pub mod rating;
pub mod schema;
pub mod underwriting;
pub mod units;

pub use bundle::{AssessmentBundle, Bundle, BundleError};
pub use kev::KevCatalog;
pub use model::{ModelError, RatingModel};
pub use plan::{Action, ItemMoney, Plan, PlanItem, PlanMoney, apply, plan};
pub use rating::{Rating, rate, rate_many, score_of};
