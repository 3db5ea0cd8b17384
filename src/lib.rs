//! Roost: an identity and access server that speaks the FeathersJS v5 service protocol.

pub mod app;
pub mod auth;
pub mod bootstrap;
pub mod config;
pub mod error;
pub mod hooks;
pub mod realtime;
pub mod service;
pub mod services;
pub mod store;
pub mod transport;
