//! Login throttling, per account and per client IP (DESIGN §3): after a few free
//! attempts each further one doubles the wait (1 s, 2 s, 4 s ... up to 15 min). While a key
//! waits, logins for it answer 429 with `Retry-After` before any password is checked.
//!
//! [`Throttle::attempt`] counts an attempt BEFORE it is verified, atomically per key, so
//! N simultaneous attempts count as N: a burst cannot slip past the limit by racing the
//! verification. A successful login then clears its account's count and gives its IP this
//! attempt back ([`Throttle::succeeded`]). Counts are forgotten a day after the last
//! attempt. The clock is injectable so tests do not sleep.
//!
//! Simultaneous logins to one account wait their turn ([`Throttle::turn`]): at most
//! [`CHECKS_PER_ACCOUNT`] are checked at once, fewer than the free failures, so many
//! correct logins at once all succeed (each success clears the count before the next is
//! counted) while a burst of guesses is still counted attempt by attempt.

use std::sync::atomic::{AtomicI64, AtomicUsize, Ordering};
use std::sync::{Arc, RwLock};

use dashmap::DashMap;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::error::{Error, ErrorKind};

/// Milliseconds since the epoch.
pub trait Clock: Send + Sync {
    fn now_ms(&self) -> i64;
}

pub struct SystemClock;

impl Clock for SystemClock {
    fn now_ms(&self) -> i64 {
        chrono::Utc::now().timestamp_millis()
    }
}

/// A clock tests move by hand.
#[derive(Default)]
pub struct ManualClock(AtomicI64);

impl ManualClock {
    pub fn new(now_ms: i64) -> Self {
        Self(AtomicI64::new(now_ms))
    }
    pub fn advance_ms(&self, ms: i64) {
        self.0.fetch_add(ms, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now_ms(&self) -> i64 {
        self.0.load(Ordering::SeqCst)
    }
}

/// Failures allowed before delays start.
const FREE_PER_ACCOUNT: u32 = 5;
const FREE_PER_IP: u32 = 20;
const BASE_DELAY_MS: i64 = 1_000;
const MAX_DELAY_MS: i64 = 15 * 60 * 1_000;
const FORGET_AFTER_MS: i64 = 24 * 3_600 * 1_000;
/// Above this many tracked keys, stale ones are swept on the next failure.
const SWEEP_ABOVE: usize = 10_000;
/// Attempts on one account checked at once (below [`FREE_PER_ACCOUNT`]).
pub const CHECKS_PER_ACCOUNT: usize = FREE_PER_ACCOUNT as usize - 1;
/// Attempts that may wait for their turn on one account; more answer 429 at once.
const WAITING_PER_ACCOUNT: usize = 64;

/// The checks running and waiting on one account.
struct Turns {
    running: Arc<Semaphore>,
    waiting: AtomicUsize,
}

/// An attempt's turn on its account ([`Throttle::turn`]); ends when dropped.
pub struct Turn<'a> {
    throttle: &'a Throttle,
    key: String,
    turns: Option<Arc<Turns>>,
    permit: Option<OwnedSemaphorePermit>,
}

impl Drop for Turn<'_> {
    fn drop(&mut self) {
        self.permit.take();
        self.turns.take();
        // The last one out forgets the account (under the map's lock, so a newcomer
        // either shares this entry or makes a new one).
        self.throttle
            .turns
            .remove_if(&self.key, |_, t| Arc::strong_count(t) == 1);
    }
}

#[derive(Clone, Copy)]
struct Entry {
    failures: u32,
    last_ms: i64,
    until_ms: i64,
}

pub struct Throttle {
    clock: RwLock<Arc<dyn Clock>>,
    entries: DashMap<String, Entry>,
    turns: DashMap<String, Arc<Turns>>,
    /// The 429 message: says what was limited.
    message: &'static str,
}

impl Default for Throttle {
    /// The failed-login throttle.
    fn default() -> Self {
        Self::with_message("Too many failed login attempts, try again later")
    }
}

fn account_key(login: &str) -> String {
    format!("a:{login}")
}

fn ip_key(ip: &str) -> String {
    format!("i:{ip}")
}

impl Throttle {
    /// A throttle whose 429 answers say `message`.
    pub fn with_message(message: &'static str) -> Self {
        Self {
            clock: RwLock::new(Arc::new(SystemClock)),
            entries: DashMap::new(),
            turns: DashMap::new(),
            message,
        }
    }

    pub fn set_clock(&self, clock: Arc<dyn Clock>) {
        if let Ok(mut c) = self.clock.write() {
            *c = clock;
        }
    }

    fn now(&self) -> i64 {
        match self.clock.read() {
            Ok(c) => c.now_ms(),
            Err(_) => SystemClock.now_ms(),
        }
    }

    /// 429 if the account or the IP must still wait.
    pub fn check(&self, login: &str, ip: Option<&str>) -> Result<(), Error> {
        let now = self.now();
        let mut wait_ms = self.wait(&account_key(login), now);
        if let Some(ip) = ip {
            wait_ms = wait_ms.max(self.wait(&ip_key(ip), now));
        }
        if wait_ms <= 0 {
            return Ok(());
        }
        Err(self.too_many(wait_ms))
    }

    /// Waits until an attempt on `account` may be checked (see the module docs); 429 when
    /// too many already wait.
    pub async fn turn(&self, account: &str) -> Result<Turn<'_>, Error> {
        let key = account_key(account);
        let turns = self
            .turns
            .entry(key.clone())
            .or_insert_with(|| {
                Arc::new(Turns {
                    running: Arc::new(Semaphore::new(CHECKS_PER_ACCOUNT)),
                    waiting: AtomicUsize::new(0),
                })
            })
            .clone();
        let mut turn = Turn {
            throttle: self,
            key,
            turns: Some(turns.clone()),
            permit: None,
        };
        if turns.waiting.fetch_add(1, Ordering::AcqRel) >= WAITING_PER_ACCOUNT {
            turns.waiting.fetch_sub(1, Ordering::AcqRel);
            return Err(self.too_many(BASE_DELAY_MS));
        }
        let permit = turns.running.clone().acquire_owned().await;
        turns.waiting.fetch_sub(1, Ordering::AcqRel);
        turn.permit = Some(permit.map_err(Error::internal)?);
        Ok(turn)
    }

    /// Counts one attempt for `account` and `ip` before it is checked; 429 (nothing more
    /// counted) when the IP, then the account, must still wait. An attempt the IP may make
    /// is counted to the IP even when the account refuses it.
    pub fn attempt(&self, account: &str, ip: Option<&str>) -> Result<(), Error> {
        let now = self.now();
        self.sweep(now);
        if let Some(ip) = ip {
            self.take(ip_key(ip), FREE_PER_IP, now)?;
        }
        self.take(account_key(account), FREE_PER_ACCOUNT, now)
    }

    /// The attempt counted by [`Throttle::attempt`] succeeded: the account starts afresh
    /// and the IP gets this attempt back (only failures accumulate per IP).
    pub fn succeeded(&self, account: &str, ip: Option<&str>) {
        self.entries.remove(&account_key(account));
        if let Some(ip) = ip
            && let Some(mut entry) = self.entries.get_mut(&ip_key(ip))
        {
            entry.failures = entry.failures.saturating_sub(1);
        }
    }

    /// Atomically (under the key's entry lock): 429 if the key waits, else counts one.
    fn take(&self, key: String, free: u32, now: i64) -> Result<(), Error> {
        let mut entry = self.entries.entry(key).or_insert(Entry {
            failures: 0,
            last_ms: now,
            until_ms: 0,
        });
        let wait_ms = entry.until_ms - now;
        if wait_ms > 0 {
            drop(entry);
            return Err(self.too_many(wait_ms));
        }
        count(&mut entry, free, now);
        Ok(())
    }

    fn too_many(&self, wait_ms: i64) -> Error {
        let seconds = u64::try_from((wait_ms + 999) / 1000).unwrap_or(1).max(1);
        let mut error = Error::new(ErrorKind::TooManyRequests, self.message);
        error.retry_after = Some(seconds);
        error
    }

    fn sweep(&self, now: i64) {
        if self.entries.len() > SWEEP_ABOVE {
            self.entries
                .retain(|_, e| now - e.last_ms < FORGET_AFTER_MS || e.until_ms > now);
        }
    }

    fn wait(&self, key: &str, now: i64) -> i64 {
        self.entries.get(key).map_or(0, |e| e.until_ms - now)
    }

    pub fn record_failure(&self, login: &str, ip: Option<&str>) {
        let now = self.now();
        self.sweep(now);
        self.bump(account_key(login), FREE_PER_ACCOUNT, now);
        if let Some(ip) = ip {
            self.bump(ip_key(ip), FREE_PER_IP, now);
        }
    }

    fn bump(&self, key: String, free: u32, now: i64) {
        let mut entry = self.entries.entry(key).or_insert(Entry {
            failures: 0,
            last_ms: now,
            until_ms: 0,
        });
        count(&mut entry, free, now);
    }

    pub fn record_success(&self, login: &str) {
        self.entries.remove(&account_key(login));
    }
}

/// Counts one more attempt on `entry`; past `free`, the key waits (doubling each time).
fn count(entry: &mut Entry, free: u32, now: i64) {
    if now - entry.last_ms >= FORGET_AFTER_MS {
        entry.failures = 0;
    }
    entry.failures = entry.failures.saturating_add(1);
    entry.last_ms = now;
    if entry.failures > free {
        let exponent = (entry.failures - free - 1).min(20);
        let delay = BASE_DELAY_MS
            .saturating_mul(1i64 << exponent)
            .min(MAX_DELAY_MS);
        entry.until_ms = now + delay;
    }
}

/// A fixed-window rate limit per key (e.g. OAuth flow starts per IP): `limit` hits per
/// `window_ms`, then 429 with `Retry-After` until the window ends.
pub struct RateLimit {
    limit: u32,
    window_ms: i64,
    message: &'static str,
    clock: Arc<dyn Clock>,
    /// key -> (window start, hits in it)
    entries: DashMap<String, (i64, u32)>,
}

impl RateLimit {
    pub fn new(limit: u32, window_ms: i64, message: &'static str) -> Self {
        Self::with_clock(limit, window_ms, message, Arc::new(SystemClock))
    }

    pub fn with_clock(
        limit: u32,
        window_ms: i64,
        message: &'static str,
        clock: Arc<dyn Clock>,
    ) -> Self {
        Self {
            limit,
            window_ms: window_ms.max(1),
            message,
            clock,
            entries: DashMap::new(),
        }
    }

    /// Counts a hit for `key`; 429 when the key is over its limit in this window.
    pub fn hit(&self, key: &str) -> Result<(), Error> {
        let now = self.clock.now_ms();
        if self.entries.len() > SWEEP_ABOVE {
            self.entries
                .retain(|_, (start, _)| now - *start < self.window_ms);
        }
        let mut entry = self.entries.entry(key.to_string()).or_insert((now, 0));
        if now - entry.0 >= self.window_ms {
            *entry = (now, 0);
        }
        entry.1 = entry.1.saturating_add(1);
        if entry.1 <= self.limit {
            return Ok(());
        }
        let wait_ms = entry.0 + self.window_ms - now;
        let mut error = Error::new(ErrorKind::TooManyRequests, self.message);
        error.retry_after = Some(u64::try_from((wait_ms + 999) / 1000).unwrap_or(1).max(1));
        Err(error)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn delays_grow_and_expire() {
        let clock = Arc::new(ManualClock::new(1_000_000));
        let t = Throttle::default();
        t.set_clock(clock.clone());
        for _ in 0..FREE_PER_ACCOUNT {
            assert!(t.check("a@b.co", Some("1.2.3.4")).is_ok());
            t.record_failure("a@b.co", Some("1.2.3.4"));
        }
        assert!(t.check("a@b.co", None).is_ok());
        t.record_failure("a@b.co", None);
        let e = t.check("a@b.co", None).unwrap_err();
        assert_eq!(e.code(), 429);
        assert_eq!(e.retry_after, Some(1));
        clock.advance_ms(1_000);
        assert!(t.check("a@b.co", None).is_ok());
        t.record_failure("a@b.co", None);
        assert_eq!(t.check("a@b.co", None).unwrap_err().retry_after, Some(2));
        assert!(t.check("other@b.co", None).is_ok());
        t.record_success("a@b.co");
        assert!(t.check("a@b.co", None).is_ok());
    }

    #[test]
    fn attempts_count_before_they_are_checked() {
        let clock = Arc::new(ManualClock::new(1_000_000));
        let t = Throttle::default();
        t.set_clock(clock.clone());
        // A burst of 80 for one account: the free ones plus the one that starts the delay.
        let passed = (0..80).filter(|_| t.attempt("u:7", None).is_ok()).count();
        assert_eq!(passed, FREE_PER_ACCOUNT as usize + 1);
        let e = t.attempt("u:7", None).unwrap_err();
        assert_eq!((e.code(), e.retry_after), (429, Some(1)));
        // Success clears the account and refunds its own IP attempt only.
        t.succeeded("u:7", None);
        assert!(t.attempt("u:7", Some("1.2.3.4")).is_ok());
        t.succeeded("u:7", Some("1.2.3.4"));
        // The IP: FREE_PER_IP attempts over any accounts, then it waits too.
        let ip = "5.6.7.8";
        let passed = (0..100)
            .filter(|i| t.attempt(&format!("x:{i}"), Some(ip)).is_ok())
            .count();
        assert_eq!(passed, FREE_PER_IP as usize + 1);
        assert_eq!(t.attempt("x:fresh", Some(ip)).unwrap_err().code(), 429);
        assert!(t.attempt("x:fresh", Some("9.9.9.9")).is_ok());
    }

    #[test]
    fn rate_limit_windows() {
        let clock = Arc::new(ManualClock::new(1_000_000));
        let limit = RateLimit::with_clock(3, 60_000, "slow down", clock.clone());
        for _ in 0..3 {
            assert!(limit.hit("1.2.3.4").is_ok());
        }
        let e = limit.hit("1.2.3.4").unwrap_err();
        assert_eq!((e.code(), e.message.as_str()), (429, "slow down"));
        assert_eq!(e.retry_after, Some(60));
        assert!(limit.hit("5.6.7.8").is_ok(), "keys are separate");
        clock.advance_ms(60_000);
        assert!(limit.hit("1.2.3.4").is_ok(), "a new window");
    }
}
