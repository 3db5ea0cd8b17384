//! Roost's one integration test binary.
//!
//! Every test starts its own server in-process (`roost::app::start` on 127.0.0.1:0) over
//! a fresh SQLite file, or a freshly created PostgreSQL database when `TEST_DATABASE_URL`
//! is set, and drives it like a Feathers client would. Scenarios are written once against
//! `support::Client` and run over REST and over Socket.IO (see `support::scenarios!`).
//!
//! Run: `cargo test --release --test main` (add `TEST_DATABASE_URL=postgres://...` for the
//! PostgreSQL variants).

#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests fail by panicking.

mod support;

// Scenario modules live in tests/cases/ so that cargo builds one test binary (every
// tests/*.rs file would be a binary of its own).

#[path = "cases/accounts.rs"]
mod accounts;
#[path = "cases/architecture.rs"]
mod architecture;
#[path = "cases/audit.rs"]
mod audit;
#[path = "cases/auth.rs"]
mod auth;
#[path = "cases/auth_strategies.rs"]
mod auth_strategies;
#[path = "cases/authz.rs"]
mod authz;
#[path = "cases/authz_fields.rs"]
mod authz_fields;
#[path = "cases/authz_groups.rs"]
mod authz_groups;
#[path = "cases/authz_own.rs"]
mod authz_own;
#[path = "cases/authz_realtime.rs"]
mod authz_realtime;
#[path = "cases/bad_input.rs"]
mod bad_input;
#[path = "cases/cluster.rs"]
mod cluster;
#[path = "cases/crud.rs"]
mod crud;
#[path = "cases/errors.rs"]
mod errors;
#[path = "cases/escalation.rs"]
mod escalation;
#[path = "cases/escalation_property.rs"]
mod escalation_property;
#[path = "cases/faults.rs"]
mod faults;
#[path = "cases/http_limits.rs"]
mod http_limits;
#[path = "cases/jwks.rs"]
mod jwks;
#[path = "cases/login_cost.rs"]
mod login_cost;
#[path = "cases/metrics.rs"]
mod metrics;
#[path = "cases/oauth.rs"]
mod oauth;
#[path = "cases/oauth_link.rs"]
mod oauth_link;
#[path = "cases/pagination.rs"]
mod pagination;
#[path = "cases/query.rs"]
mod query;
#[path = "cases/realtime.rs"]
mod realtime;
#[path = "cases/resources.rs"]
mod resources;
#[path = "cases/rest.rs"]
mod rest;
#[path = "cases/rest_qs.rs"]
mod rest_qs;
#[path = "cases/sessions.rs"]
mod sessions;
#[path = "cases/socket.rs"]
mod socket;
#[path = "cases/startup.rs"]
mod startup;
#[path = "cases/status.rs"]
mod status;
#[path = "cases/takeover.rs"]
mod takeover;
