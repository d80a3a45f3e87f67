//! cyrisk-sim: money. Event-level loss simulation for one organisation, the exact aggregate
//! distribution (FFT form of Panjer's recursion), layer pricing, and portfolio accumulation with
//! catastrophe scenarios.
//!
//! Pure and synchronous: values in, values out; parallel with rayon, reproducible for a seed
//! whatever the thread count (one RNG stream per batch of years, reduced in batch order).

pub mod bridge;
pub mod demo;
pub mod error;
pub mod exact;
pub mod frequency;
pub mod lognormal;
pub mod market;
pub mod money_plan;
pub mod portfolio;
pub mod pricing;
pub mod recalibrate;
pub mod scenario;
pub mod severity;
pub mod simulate;
pub mod stats;
pub mod terms;
pub mod validation;
