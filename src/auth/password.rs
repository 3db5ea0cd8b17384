//! Password hashing: argon2id (OWASP: 19 MiB, t=2, p=1), behind one bounded gate.
//!
//! Every hash and every verification (argon2 or imported bcrypt, including the decoy
//! hash checked for unknown accounts) runs on [`PasswordGate`]: a few dedicated worker
//! threads (one per core) fed by a bounded queue, each hashing in one 19 MiB buffer it
//! reuses while jobs keep coming. So at most `workers x 19 MiB` of argon2 memory is ever
//! live, with no allocator churn during a burst, and a burst beyond `workers + queue` jobs is
//! refused at once with 503 `Unavailable` and `Retry-After` instead of piling up blocking
//! threads and memory. A worker frees its buffer as soon as fewer jobs are in flight than
//! there are workers (nothing waits for it), so an idle server holds none: a lone login pays
//! ≈ 2 ms of page faults for a fresh buffer, a burst reuses one.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, TrySendError, sync_channel};
use std::sync::{Arc, Mutex};

use argon2::password_hash::phc::{Output, ParamsString, Salt};
use argon2::{Algorithm, Argon2, Block, Params, PasswordHash, Version};
use rand::RngExt;
use tokio::sync::oneshot;

use crate::error::{Error, ErrorKind, Result};

/// argon2 memory per hash, in KiB.
pub const M_COST_KIB: u32 = 19 * 1024;

/// Seconds a refused caller is asked to wait: a queue of jobs drains in well under that.
const RETRY_AFTER_SECS: u64 = 1;

/// A worker's argon2 memory, reused by the hashes of a burst. (Letting
/// argon2 allocate 19 MiB per hash made glibc keep ~100 MiB per worker thread in
/// fragmented arena heaps; measured in the commit that introduced this.)
type Memory = Vec<Block>;

/// Counts of the workers' buffers.
#[derive(Default)]
struct Buffers {
    /// Held by a worker right now.
    held: AtomicUsize,
    /// Allocated since the start.
    allocated: AtomicUsize,
}

/// Blocks (1 KiB each) reserved for a worker's buffer, of which only the 19 MiB in use are
/// ever touched. Over glibc's 32 MiB ceiling for its mmap threshold, so the buffer is
/// always a mapping of its own, unmapped (given back to the system) when freed: a 19 MiB
/// one raises the threshold when first freed, and the next one would then come from an
/// arena that keeps the memory.
const RESERVED_BLOCKS: usize = 33 * 1024;

fn params() -> Params {
    // Fixed, valid parameters: construction cannot fail.
    Params::new(M_COST_KIB, 2, 1, None).unwrap_or_default()
}

/// Runs argon2 in `memory` (grown to the default size once). A stored hash with other
/// parameters gets memory of its own for this call only, so the worker's stays bounded.
fn argon2_into(
    algorithm: Algorithm,
    version: Version,
    params: Params,
    password: &[u8],
    salt: &[u8],
    out: &mut [u8],
    memory: &mut Memory,
) -> std::result::Result<(), argon2::Error> {
    let blocks = params.block_count();
    let argon = Argon2::new(algorithm, version, params);
    let default_blocks = self::params().block_count();
    if blocks > default_blocks {
        let mut own = vec![Block::new(); blocks];
        return argon.hash_password_into_with_memory(password, salt, out, &mut own[..]);
    }
    if memory.len() < default_blocks {
        *memory = Vec::with_capacity(RESERVED_BLOCKS.max(default_blocks));
        memory.resize(default_blocks, Block::new());
    }
    argon.hash_password_into_with_memory(password, salt, out, &mut memory[..blocks])
}

fn hash_now(password: &str, memory: &mut Memory) -> Result<String> {
    let mut salt = [0u8; 16];
    rand::rng().fill(&mut salt);
    let params = params();
    let mut out = [0u8; 32];
    argon2_into(
        Algorithm::Argon2id,
        Version::V0x13,
        params.clone(),
        password.as_bytes(),
        &salt,
        &mut out,
        memory,
    )
    .map_err(Error::internal)?;
    let phc = PasswordHash {
        algorithm: Algorithm::Argon2id.ident(),
        version: Some(Version::V0x13.into()),
        params: ParamsString::try_from(&params).map_err(Error::internal)?,
        salt: Some(Salt::new(&salt).map_err(Error::internal)?),
        hash: Some(Output::new(&out).map_err(Error::internal)?),
    };
    Ok(phc.to_string())
}

fn verify_now(password: &str, stored: &str, memory: &mut Memory) -> bool {
    if is_bcrypt(stored) {
        return bcrypt::verify(password.as_bytes(), stored).unwrap_or(false);
    }
    let Ok(parsed) = PasswordHash::new(stored) else {
        return false;
    };
    let (Some(salt), Some(expected)) = (&parsed.salt, &parsed.hash) else {
        return false;
    };
    let Ok(algorithm) = Algorithm::try_from(parsed.algorithm.as_str()) else {
        return false;
    };
    let Ok(version) = parsed
        .version
        .map_or(Ok(Version::default()), Version::try_from)
    else {
        return false;
    };
    let Ok(params) = Params::try_from(&parsed) else {
        return false;
    };
    let mut out = vec![0u8; expected.len()];
    if argon2_into(
        algorithm,
        version,
        params,
        password.as_bytes(),
        salt,
        &mut out,
        memory,
    )
    .is_err()
    {
        return false;
    }
    // `Output` compares in constant time.
    Output::new(&out).is_ok_and(|computed| computed == *expected)
}

/// An imported bcrypt hash (`$2a$`, `$2b$`, `$2y$`, e.g. from a Feathers app).
pub fn is_bcrypt(stored: &str) -> bool {
    ["$2a$", "$2b$", "$2y$"]
        .iter()
        .any(|p| stored.starts_with(p))
}

type Job = Box<dyn FnOnce(&mut Memory) + Send>;

/// The one way to hash or verify a password (see the module docs). Dropping the gate
/// stops its workers once their current jobs are done.
pub struct PasswordGate {
    jobs: SyncSender<Job>,
    workers: usize,
    queue: usize,
    /// Jobs accepted and not yet finished (running or waiting): at most workers + queue.
    /// Counted here rather than left to the channel, whose room depends on whether a
    /// worker happens to be parked on it at that instant.
    in_flight: Arc<AtomicUsize>,
    /// Buffers held and buffers allocated so far (see [`PasswordGate::buffers`]).
    buffers: Arc<Buffers>,
}

impl PasswordGate {
    /// `workers` threads (at least 1) and room for `queue` waiting jobs.
    pub fn new(workers: usize, queue: usize) -> Self {
        let workers = workers.max(1);
        let (jobs, rx) = sync_channel::<Job>(workers + queue);
        let rx = Arc::new(Mutex::new(rx));
        let in_flight = Arc::new(AtomicUsize::new(0));
        for i in 0..workers {
            let rx = rx.clone();
            let spawned = std::thread::Builder::new()
                .name(format!("roost-password-{i}"))
                .stack_size(256 * 1024)
                .spawn(move || work(&rx));
            if let Err(e) = spawned {
                tracing::error!(error = %e, "could not start a password worker");
            }
        }
        Self {
            jobs,
            workers,
            queue,
            in_flight,
            buffers: Arc::default(),
        }
    }

    /// One worker per core (`available_parallelism`) and room for `queue` waiting jobs.
    pub fn per_core(queue: usize) -> Self {
        let cores = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
        Self::new(cores, queue)
    }

    pub fn workers(&self) -> usize {
        self.workers
    }

    pub fn queue(&self) -> usize {
        self.queue
    }

    /// Workers holding a hashing buffer (19 MiB each) right now, for the metrics.
    pub fn buffers(&self) -> usize {
        self.buffers.held.load(Ordering::Acquire)
    }

    /// Hashing buffers allocated so far (a burst should need one per worker).
    pub fn allocations(&self) -> usize {
        self.buffers.allocated.load(Ordering::Relaxed)
    }

    /// Jobs accepted and not yet finished (running or waiting), for the metrics.
    pub fn in_flight(&self) -> usize {
        self.in_flight.load(Ordering::Acquire)
    }

    /// Runs `f` on a worker; 503 at once when every worker is busy and the queue is full.
    async fn run<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Memory) -> T + Send + 'static,
    ) -> Result<T> {
        let busy = || {
            let mut error = Error::new(
                ErrorKind::Unavailable,
                "The server is busy checking passwords, try again shortly",
            );
            error.retry_after = Some(RETRY_AFTER_SECS);
            error
        };
        if self.in_flight.fetch_add(1, Ordering::AcqRel) >= self.workers + self.queue {
            self.in_flight.fetch_sub(1, Ordering::AcqRel);
            return Err(busy());
        }
        let (tx, rx) = oneshot::channel();
        let (in_flight, buffers) = (self.in_flight.clone(), self.buffers.clone());
        let workers = self.workers;
        let job: Job = Box::new(move |memory| {
            let had_buffer = !memory.is_empty();
            let out = f(memory);
            if !had_buffer && !memory.is_empty() {
                buffers.allocated.fetch_add(1, Ordering::Relaxed);
                buffers.held.fetch_add(1, Ordering::AcqRel);
            }
            // Kept only while every worker has a job (more may be waiting); freed before
            // answering, so an idle gate holds no buffer.
            if in_flight.fetch_sub(1, Ordering::AcqRel) - 1 < workers && !memory.is_empty() {
                *memory = Memory::new();
                buffers.held.fetch_sub(1, Ordering::AcqRel);
            }
            let _ = tx.send(out);
        });
        match self.jobs.try_send(job) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) => {
                self.in_flight.fetch_sub(1, Ordering::AcqRel);
                return Err(busy());
            }
            Err(TrySendError::Disconnected(_)) => {
                self.in_flight.fetch_sub(1, Ordering::AcqRel);
                return Err(Error::internal("password workers stopped"));
            }
        }
        rx.await
            .map_err(|_| Error::internal("a password worker dropped its job"))
    }

    /// Hashes `password` into an argon2id PHC string.
    pub async fn hash(&self, password: String) -> Result<String> {
        self.run(move |memory| hash_now(&password, memory)).await?
    }

    /// Checks `password` against an argon2 PHC hash or an imported bcrypt hash. A
    /// malformed hash never matches; only a full gate is an error.
    pub async fn verify_any(&self, password: String, stored: String) -> Result<bool> {
        self.run(move |memory| verify_now(&password, &stored, memory))
            .await
    }

    /// Checks `password` against a stored hash (see [`PasswordGate::verify_any`]).
    pub async fn verify(&self, password: String, stored: String) -> Result<bool> {
        self.verify_any(password, stored).await
    }
}

/// A worker: takes jobs until the gate is dropped, hashing in its own buffer. The queue's
/// lock is held only while waiting for the next job, never while hashing.
fn work(rx: &Mutex<Receiver<Job>>) {
    let mut memory = Memory::new();
    loop {
        let job = match rx.lock() {
            Ok(rx) => rx.recv(),
            Err(_) => return,
        };
        let Ok(job) = job else { return };
        job(&mut memory);
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    /// A burst reuses one buffer; the buffer is freed once nothing waits for the worker.
    #[tokio::test]
    async fn buffers_live_only_while_jobs_wait() {
        let gate = Arc::new(PasswordGate::new(1, 8));
        assert_eq!(gate.buffers(), 0);
        let hash = gate.hash(PASSWORD.into()).await.unwrap();
        assert_eq!(gate.buffers(), 0, "freed after a lone job");
        assert_eq!(gate.allocations(), 1);
        // Hold the worker until five verifications wait behind it: then one buffer serves
        // all five.
        let (release, hold) = std::sync::mpsc::channel::<()>();
        let blocker = tokio::spawn({
            let gate = gate.clone();
            async move {
                gate.run(move |_| {
                    let _ = hold.recv();
                })
                .await
            }
        });
        let verifies: Vec<_> = (0..5)
            .map(|_| {
                let (gate, hash) = (gate.clone(), hash.clone());
                tokio::spawn(async move { gate.verify(PASSWORD.into(), hash).await })
            })
            .collect();
        while gate.in_flight() < 6 {
            tokio::task::yield_now().await;
        }
        release.send(()).unwrap();
        blocker.await.unwrap().unwrap();
        for verify in verifies {
            assert!(verify.await.unwrap().unwrap());
        }
        assert_eq!(gate.allocations(), 2, "one more for the whole burst");
        assert_eq!(gate.buffers(), 0, "freed once the queue is empty");
    }

    #[tokio::test]
    async fn hashes_and_verifies() {
        let gate = PasswordGate::new(1, 4);
        let hash = gate.hash("Quiet-Lantern-Orbit-77".into()).await.unwrap();
        assert!(hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"));
        assert!(gate.verify(PASSWORD.into(), hash.clone()).await.unwrap());
        assert!(!gate.verify("wrong".into(), hash).await.unwrap());
        assert!(!gate.verify("x".into(), "not a hash".into()).await.unwrap());
        // Interoperable with argon2's own PHC hashing, both ways.
        use argon2::{PasswordHasher, PasswordVerifier};
        let theirs = Argon2::new(Algorithm::Argon2id, Version::V0x13, params())
            .hash_password(PASSWORD.as_bytes())
            .unwrap()
            .to_string();
        assert!(gate.verify(PASSWORD.into(), theirs).await.unwrap());
        let ours = gate.hash(PASSWORD.into()).await.unwrap();
        let parsed = PasswordHash::new(&ours).unwrap();
        assert!(
            Argon2::default()
                .verify_password(PASSWORD.as_bytes(), &parsed)
                .is_ok()
        );
        // Other parameters (a stronger stored hash) verify too.
        let strong = Argon2::new(
            Algorithm::Argon2id,
            Version::V0x13,
            Params::new(32 * 1024, 3, 1, None).unwrap(),
        )
        .hash_password(PASSWORD.as_bytes())
        .unwrap()
        .to_string();
        assert!(gate.verify(PASSWORD.into(), strong.clone()).await.unwrap());
        assert!(!gate.verify("nope".into(), strong).await.unwrap());
        let bcrypt = bcrypt::hash("secret", 4).unwrap();
        assert!(gate.verify_any("secret".into(), bcrypt).await.unwrap());
    }

    const PASSWORD: &str = "Quiet-Lantern-Orbit-77";

    #[tokio::test]
    async fn a_full_queue_is_refused_with_retry_after() {
        let gate = Arc::new(PasswordGate::new(1, 1));
        // Block the only worker, then fill the one queue slot.
        let (release, blocked) = std::sync::mpsc::channel::<()>();
        let busy = {
            let gate = gate.clone();
            tokio::spawn(async move { gate.run(move |_| blocked.recv().is_ok()).await })
        };
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        let queued = {
            let gate = gate.clone();
            tokio::spawn(async move { gate.run(|_| 1).await })
        };
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        let e = gate.hash(PASSWORD.into()).await.unwrap_err();
        assert_eq!((e.code(), e.retry_after), (503, Some(1)));
        release.send(()).unwrap();
        assert!(busy.await.unwrap().unwrap());
        assert_eq!(queued.await.unwrap().unwrap(), 1);
        assert!(gate.hash(PASSWORD.into()).await.is_ok(), "room again");
    }
}
