//! Prometheus metrics, served as text at `GET /metrics` (`transport::status::metrics`).
//!
//! Every metric is defined here, once; the rest of the code calls the small methods of
//! [`Metrics`] (`app.metrics.login(..)`), held by the app like any other state (no global
//! registry: two apps in one process count apart). Labels take only bounded values: the
//! registered service path (or `unknown`, never a raw URL path), the method, a status code
//! the server itself answered, a route template. Gauges of state that lives elsewhere
//! (sockets, hashing jobs, pool connections) are read at scrape time ([`Sample`]), so they
//! cannot drift.
//!
//! | metric | type | labels |
//! |---|---|---|
//! | `roost_requests_total` | counter | `transport`, `service`, `method`, `status` |
//! | `roost_request_duration_seconds` | histogram | `transport`, `service`, `method` |
//! | `roost_calls_refused_total` | counter | `transport`, `reason` (`unauthenticated` 401, `forbidden` 403, `throttled` 429, `unavailable` 503) |
//! | `roost_http_requests_total` | counter | `route` (template), `status` — routes other than services and Socket.IO |
//! | `roost_logins_total` | counter | `result` (`success`, `failure`, `throttled`) |
//! | `roost_events_published_total` | counter | `service`, `event` |
//! | `roost_events_delivered_total` | counter | `service` |
//! | `roost_sockets_connected` | gauge | — |
//! | `roost_password_jobs` / `roost_password_jobs_capacity` / `roost_password_buffers` | gauge | — |
//! | `roost_db_pool_connections` / `roost_db_pool_idle_connections` | gauge | — |
//! | `roost_bus_enabled` | gauge | — (0: no cluster bus) |
//! | `roost_bus_messages_received_total` | counter | — |
//! | `roost_bus_lag_seconds` / `roost_bus_last_lag_seconds` | histogram / gauge | — |

use std::time::Duration;

use prometheus::{
    Gauge, Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, Opts,
    Registry, TextEncoder,
};

/// The content type of the text exposition format.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// The label of a service path or method that is not registered.
pub const UNKNOWN: &str = "unknown";

/// The transport a call came in on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    Rest,
    Socketio,
}

impl Transport {
    pub const fn as_str(self) -> &'static str {
        match self {
            Transport::Rest => "rest",
            Transport::Socketio => "socketio",
        }
    }

    const fn index(self) -> usize {
        match self {
            Transport::Rest => 0,
            Transport::Socketio => 1,
        }
    }
}

/// How a login (a call that binds the connection) ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Login {
    Success,
    /// Wrong credentials, or any other refusal.
    Failure,
    /// Not checked: too many attempts (429) or the password gate full (503).
    Throttled,
}

impl Login {
    const ALL: [Login; 3] = [Login::Success, Login::Failure, Login::Throttled];

    const fn as_str(self) -> &'static str {
        match self {
            Login::Success => "success",
            Login::Failure => "failure",
            Login::Throttled => "throttled",
        }
    }

    /// The result of a login that answered `status`.
    pub fn from_status(status: u16) -> Self {
        match status {
            200..=299 => Login::Success,
            429 | 503 => Login::Throttled,
            _ => Login::Failure,
        }
    }
}

/// Why a call was refused, by status.
const REFUSALS: [(u16, &str); 4] = [
    (401, "unauthenticated"),
    (403, "forbidden"),
    (429, "throttled"),
    (503, "unavailable"),
];

/// State read at scrape time.
#[derive(Debug, Default, Clone, Copy)]
pub struct Sample {
    pub sockets: usize,
    /// Password hashes and checks running or waiting (`PasswordGate`).
    pub password_jobs: usize,
    /// Workers + queue: more jobs than this are refused with 503.
    pub password_capacity: usize,
    /// Workers holding their 19 MiB hashing buffer (freed after a few idle seconds).
    pub password_buffers: usize,
    /// Open connections of the database pool, and how many of them are idle.
    pub pool_connections: u32,
    pub pool_idle: usize,
    pub bus_enabled: bool,
}

/// The metrics of one app (see the module docs). A clone shares the same counters (the
/// cluster bus listener counts into the app's).
#[derive(Clone)]
pub struct Metrics {
    registry: Registry,
    requests: IntCounterVec,
    duration: HistogramVec,
    /// By transport, then by [`REFUSALS`] order: resolved once.
    refused: [[IntCounter; 4]; 2],
    http: IntCounterVec,
    /// By [`Login::ALL`] order.
    logins: [IntCounter; 3],
    published: IntCounterVec,
    delivered: IntCounterVec,
    sockets: IntGauge,
    password_jobs: IntGauge,
    password_capacity: IntGauge,
    password_buffers: IntGauge,
    pool_connections: IntGauge,
    pool_idle: IntGauge,
    bus_enabled: IntGauge,
    bus_received: IntCounter,
    bus_lag: Histogram,
    bus_last_lag: Gauge,
}

/// Seconds, from 1 ms to 10 s: bus lag and the like.
const LAG_BUCKETS: &[f64] = &[
    0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

impl Metrics {
    /// Every metric, registered in a registry of its own.
    pub fn new() -> prometheus::Result<Self> {
        let registry = Registry::new();
        let counter_vec = |name: &str, help: &str, labels: &[&str]| {
            let vec = IntCounterVec::new(Opts::new(name, help), labels)?;
            registry.register(Box::new(vec.clone()))?;
            Ok::<_, prometheus::Error>(vec)
        };
        let gauge = |name: &str, help: &str| {
            let gauge = IntGauge::new(name, help)?;
            registry.register(Box::new(gauge.clone()))?;
            Ok::<_, prometheus::Error>(gauge)
        };
        let requests = counter_vec(
            "roost_requests_total",
            "Service calls answered, by transport, service path, method and status",
            &["transport", "service", "method", "status"],
        )?;
        let duration = HistogramVec::new(
            HistogramOpts::new(
                "roost_request_duration_seconds",
                "Time to answer a service call, by transport, service path and method",
            ),
            &["transport", "service", "method"],
        )?;
        registry.register(Box::new(duration.clone()))?;
        let refused_vec = counter_vec(
            "roost_calls_refused_total",
            "Service calls refused: unauthenticated (401), forbidden (403), throttled (429), \
             unavailable (503, e.g. the password gate full)",
            &["transport", "reason"],
        )?;
        let refused_of = |transport: Transport| {
            REFUSALS.map(|(_, reason)| refused_vec.with_label_values(&[transport.as_str(), reason]))
        };
        let refused = [refused_of(Transport::Rest), refused_of(Transport::Socketio)];
        let http = counter_vec(
            "roost_http_requests_total",
            "HTTP requests to the server's own routes (not services, not Socket.IO), by route \
             template and status",
            &["route", "status"],
        )?;
        let logins_vec = counter_vec(
            "roost_logins_total",
            "Logins (authentication create) by result: success, failure, throttled",
            &["result"],
        )?;
        let logins = Login::ALL.map(|l| logins_vec.with_label_values(&[l.as_str()]));
        let published = counter_vec(
            "roost_events_published_total",
            "Realtime events published after a commit on this instance, by service and event",
            &["service", "event"],
        )?;
        let delivered = counter_vec(
            "roost_events_delivered_total",
            "Realtime events sent to a Socket.IO connection of this instance (one per \
             recipient), by service",
            &["service"],
        )?;
        let sockets = gauge(
            "roost_sockets_connected",
            "Socket.IO connections open on this instance",
        )?;
        let password_jobs = gauge(
            "roost_password_jobs",
            "Password hashes and checks running or waiting for a worker",
        )?;
        let password_capacity = gauge(
            "roost_password_jobs_capacity",
            "Password jobs accepted at once (workers + queue); more are refused with 503",
        )?;
        let password_buffers = gauge(
            "roost_password_buffers",
            "Password workers holding their 19 MiB hashing buffer (freed after 5 idle seconds)",
        )?;
        let pool_connections = gauge(
            "roost_db_pool_connections",
            "Open connections of the database pool",
        )?;
        let pool_idle = gauge(
            "roost_db_pool_idle_connections",
            "Idle connections of the database pool",
        )?;
        let bus_enabled = gauge(
            "roost_bus_enabled",
            "1 when the cluster bus runs on this instance, 0 when it is off",
        )?;
        let bus_received = IntCounter::new(
            "roost_bus_messages_received_total",
            "Cluster bus messages received from other instances",
        )?;
        registry.register(Box::new(bus_received.clone()))?;
        let bus_lag = Histogram::with_opts(
            HistogramOpts::new(
                "roost_bus_lag_seconds",
                "Time from a message's sending on another instance to its receipt here \
                 (wall clocks: includes their skew)",
            )
            .buckets(LAG_BUCKETS.to_vec()),
        )?;
        registry.register(Box::new(bus_lag.clone()))?;
        let bus_last_lag = Gauge::new(
            "roost_bus_last_lag_seconds",
            "The lag of the last cluster bus message received",
        )?;
        registry.register(Box::new(bus_last_lag.clone()))?;
        Ok(Self {
            registry,
            requests,
            duration,
            refused,
            http,
            logins,
            published,
            delivered,
            sockets,
            password_jobs,
            password_capacity,
            password_buffers,
            pool_connections,
            pool_idle,
            bus_enabled,
            bus_received,
            bus_lag,
            bus_last_lag,
        })
    }

    /// One service call answered with `status` after `elapsed`. `service` is a registered
    /// path or [`UNKNOWN`]; `method` a service method name or [`UNKNOWN`].
    pub fn call(
        &self,
        transport: Transport,
        service: &str,
        method: &str,
        status: u16,
        elapsed: Duration,
    ) {
        let labels = [transport.as_str(), service, method];
        self.requests
            .with_label_values(&[labels[0], labels[1], labels[2], status_label(status)])
            .inc();
        self.duration
            .with_label_values(&labels)
            .observe(elapsed.as_secs_f64());
        if let Some(i) = REFUSALS.iter().position(|(code, _)| *code == status)
            && let Some(counter) = self.refused[transport.index()].get(i)
        {
            counter.inc();
        }
    }

    /// A request to one of the server's own routes (`route` is its template).
    pub fn http(&self, route: &str, status: u16) {
        self.http
            .with_label_values(&[route, status_label(status)])
            .inc();
    }

    pub fn login(&self, result: Login) {
        let i = Login::ALL.iter().position(|l| *l == result).unwrap_or(1);
        if let Some(counter) = self.logins.get(i) {
            counter.inc();
        }
    }

    /// A committed mutation's event, published by this instance.
    pub fn event_published(&self, service: &str, event: &str) {
        self.published.with_label_values(&[service, event]).inc();
    }

    /// An event sent to `recipients` connections of this instance.
    pub fn events_delivered(&self, service: &str, recipients: usize) {
        if recipients > 0 {
            self.delivered
                .with_label_values(&[service])
                .inc_by(recipients as u64);
        }
    }

    /// A cluster bus message received `lag` after it was sent (`None`: not known).
    pub fn bus_received(&self, lag: Option<Duration>) {
        self.bus_received.inc();
        if let Some(lag) = lag {
            let secs = lag.as_secs_f64();
            self.bus_lag.observe(secs);
            self.bus_last_lag.set(secs);
        }
    }

    /// The text exposition of every metric, with the gauges set from `sample`.
    pub fn render(&self, sample: &Sample) -> String {
        let int = |n: usize| i64::try_from(n).unwrap_or(i64::MAX);
        self.sockets.set(int(sample.sockets));
        self.password_jobs.set(int(sample.password_jobs));
        self.password_capacity.set(int(sample.password_capacity));
        self.password_buffers.set(int(sample.password_buffers));
        self.pool_connections
            .set(i64::from(sample.pool_connections));
        self.pool_idle.set(int(sample.pool_idle));
        self.bus_enabled.set(i64::from(sample.bus_enabled));
        TextEncoder::new()
            .encode_to_string(&self.registry.gather())
            .unwrap_or_else(|e| {
                tracing::warn!(error = %e, "cannot encode the metrics");
                String::new()
            })
    }
}

/// `"404"` for 404, without allocating. Only codes the server answers are named; any
/// other is `"other"`, so the label stays bounded whatever happens.
fn status_label(status: u16) -> &'static str {
    match status {
        200 => "200",
        201 => "201",
        204 => "204",
        302 => "302",
        303 => "303",
        304 => "304",
        307 => "307",
        400 => "400",
        401 => "401",
        402 => "402",
        403 => "403",
        404 => "404",
        405 => "405",
        406 => "406",
        408 => "408",
        409 => "409",
        410 => "410",
        411 => "411",
        413 => "413",
        415 => "415",
        422 => "422",
        429 => "429",
        500 => "500",
        501 => "501",
        502 => "502",
        503 => "503",
        504 => "504",
        _ => "other",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_counters_and_gauges() {
        let m = Metrics::new().unwrap();
        m.call(
            Transport::Rest,
            "users",
            "find",
            200,
            Duration::from_millis(3),
        );
        m.call(Transport::Socketio, UNKNOWN, UNKNOWN, 429, Duration::ZERO);
        m.login(Login::from_status(201));
        m.login(Login::from_status(503));
        let text = m.render(&Sample {
            sockets: 2,
            ..Sample::default()
        });
        for line in [
            r#"roost_requests_total{method="find",service="users",status="200",transport="rest"} 1"#,
            r#"roost_requests_total{method="unknown",service="unknown",status="429",transport="socketio"} 1"#,
            r#"roost_calls_refused_total{reason="throttled",transport="socketio"} 1"#,
            r#"roost_calls_refused_total{reason="throttled",transport="rest"} 0"#,
            r#"roost_logins_total{result="success"} 1"#,
            r#"roost_logins_total{result="throttled"} 1"#,
            r#"roost_logins_total{result="failure"} 0"#,
            r#"roost_request_duration_seconds_count{method="find",service="users",transport="rest"} 1"#,
            "roost_sockets_connected 2",
            "roost_bus_enabled 0",
        ] {
            assert!(text.lines().any(|l| l == line), "{line} not in\n{text}");
        }
    }

    #[test]
    fn status_labels_are_bounded() {
        assert_eq!(status_label(404), "404");
        assert_eq!(status_label(599), "other");
        assert_eq!(status_label(7), "other");
    }
}
