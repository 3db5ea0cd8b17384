//! Test support: a real server per test (in-process, `roost::app::start` on
//! 127.0.0.1:0) over a fresh SQLite file in a fresh temporary directory, or over a freshly
//! created PostgreSQL database when `TEST_DATABASE_URL` is set; clients of both transports.
//!
//! Scenarios are `async fn name(s: Setup)`; `scenarios!(name, ...)` turns each into four
//! tests: `name::rest`, `name::socketio` (SQLite) and `name::pg_rest`, `name::pg_socketio`
//! (PostgreSQL; these return at once, printing a note, when `TEST_DATABASE_URL` is unset).

#![allow(dead_code)]

pub mod check;
pub mod client;
pub mod rest;
pub mod roles;
mod server;
pub mod smtp;
pub mod socket;

use std::time::Duration;

pub use check::*;
pub use client::{Client, Conn, FeathersError, Res, expect_err, ok, q};
pub use rest::RestClient;
pub use server::{PgDatabase, TempDir, TestServer};
pub use socket::SocketClient;

use roost::config::Config;

pub const ADMIN_EMAIL: &str = "admin@roost.test";
pub const ADMIN_PASSWORD: &str = "Admin-Passw0rd-For-Tests!";
/// 40 bytes: the configured HS256 secret of every test server.
pub const SECRET: &str = "test-secret-0123456789-abcdefghijklmnopq";
/// A password the policy accepts (>= 12 characters, not common, not the email).
pub const PASSWORD: &str = "Quiet-Lantern-Orbit-77";

/// How long to wait for something that must happen (an event, a disconnect): a failure
/// deadline, never a pass condition. That something must NOT happen is shown with a
/// sentinel instead (`SocketClient::next_of`), never by waiting.
pub const WAIT: Duration = Duration::from_secs(5);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    Rest,
    Socket,
}

/// What one generated test runs a scenario with.
#[derive(Debug, Clone, Copy)]
pub struct Setup {
    pub backend: Backend,
    pub transport: Transport,
}

impl Setup {
    pub fn new(backend: Backend, transport: Transport) -> Self {
        Self { backend, transport }
    }

    /// The PostgreSQL variant, when `TEST_DATABASE_URL` gives a database. Without one,
    /// `.ci/test` filters these tests out (nextest reports them skipped); run by hand they
    /// return at once, and under `CI` they fail: CI must never pass them unrun.
    pub fn postgres(transport: Transport) -> Option<Self> {
        if std::env::var("TEST_DATABASE_URL").is_ok_and(|v| !v.is_empty()) {
            Some(Self::new(Backend::Postgres, transport))
        } else if std::env::var_os("CI").is_some() {
            panic!("CI is set but TEST_DATABASE_URL is not: PostgreSQL variants cannot run");
        } else {
            None
        }
    }

    pub fn is_rest(&self) -> bool {
        self.transport == Transport::Rest
    }

    /// A server with the test defaults.
    pub async fn server(&self) -> TestServer {
        self.server_with(|_| {}).await
    }

    /// A server with the test defaults, then `edit` applied to its config.
    pub async fn server_with(&self, edit: impl FnOnce(&mut Config)) -> TestServer {
        TestServer::start(*self, edit).await
    }
}

/// Generates the four tests of each scenario (see the module docs).
#[macro_export]
macro_rules! scenarios {
    ($($name:ident),* $(,)?) => {$(
        mod $name {
            #[allow(unused_imports)]
            use $crate::support::{Backend, Setup, Transport};

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn rest() {
                super::$name(Setup::new(Backend::Sqlite, Transport::Rest)).await
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn socketio() {
                super::$name(Setup::new(Backend::Sqlite, Transport::Socket)).await
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn pg_rest() {
                if let Some(s) = Setup::postgres(Transport::Rest) {
                    super::$name(s).await
                }
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn pg_socketio() {
                if let Some(s) = Setup::postgres(Transport::Socket) {
                    super::$name(s).await
                }
            }
        }
    )*};
}

/// Like `scenarios!`, for scenarios about one transport only: `name::sqlite`, `name::pg`.
/// The scenario receives a `Setup` whose transport is the one given.
#[macro_export]
macro_rules! single_transport {
    ($transport:ident: $($name:ident),* $(,)?) => {$(
        mod $name {
            #[allow(unused_imports)]
            use $crate::support::{Backend, Setup, Transport};

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                super::$name(Setup::new(Backend::Sqlite, Transport::$transport)).await
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn pg() {
                if let Some(s) = Setup::postgres(Transport::$transport) {
                    super::$name(s).await
                }
            }
        }
    )*};
}
