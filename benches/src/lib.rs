//! Synthetic data generators shared by the benches.
