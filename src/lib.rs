//! Roost: an identity and access server that speaks the FeathersJS v5 service protocol.

// Unit tests may unwrap: a panic there is a failed test, not a crash.
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used))]

pub mod accounts;
pub mod app;
pub mod auth;
pub mod bootstrap;
pub mod config;
pub mod error;
pub mod hooks;
pub mod metrics;
pub mod net;
pub mod notify;
pub mod oauth;
pub mod openapi;
pub mod proxies;
pub mod realtime;
pub mod service;
pub mod services;
pub mod socketio;
pub mod store;
pub mod transport;
