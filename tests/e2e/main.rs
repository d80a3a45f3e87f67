//! End-to-end tests: one binary, a module per feature.

mod api;
mod architecture;
mod book;
mod cli;
mod field;
mod golden;
mod ingest;
mod integrity;
mod jobs;
mod market;
mod monitoring;
mod plan;
mod policy_loop;
mod portfolio;
mod rating_props;
mod report;
mod simulation;
mod store;
mod support;
mod web;
