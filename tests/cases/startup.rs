//! Start-up of the real binary: a bad configuration stops it with one clear error (naming
//! the setting to change) and exit code 1; a good one gets it listening. Each run has a
//! clean environment (only `PATH` and what the test sets) and a fresh directory.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use crate::support::TempDir;

/// What one run printed and how it ended.
pub(crate) struct Run {
    /// `None`: it was started and stopped by the test.
    code: Option<i32>,
    stderr: String,
    elapsed: Duration,
}

impl Run {
    /// Asserts it stopped with exit code 1, saying `message` exactly once.
    pub(crate) fn refused_with(&self, message: &str) {
        assert_eq!(self.code, Some(1), "stderr:\n{}", self.stderr);
        assert_eq!(
            self.stderr.matches(message).count(),
            1,
            "expected once: {message}\nstderr:\n{}",
            self.stderr
        );
    }

    pub(crate) fn started(&self) {
        assert!(
            self.code.is_none() && self.stderr.contains("listening on http://127.0.0.1:"),
            "did not start (exit {:?}):\n{}",
            self.code,
            self.stderr
        );
    }
}

/// A started `roost` and the lines of its stderr; killed on drop.
pub(crate) struct Spawned {
    pub child: std::process::Child,
    pub lines: mpsc::Receiver<String>,
    pub start: Instant,
}

impl Drop for Spawned {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `roost` in `dir` with only `vars` (plus `PATH`, port 0, and a data directory in
/// `dir` unless given), its stderr read line by line.
pub(crate) fn spawn(dir: &Path, vars: &[(&str, &str)]) -> Spawned {
    let mut command = Command::new(env!("CARGO_BIN_EXE_roost"));
    command
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("ROOST_PORT", "0")
        .env("ROOST_DATA_DIR", dir.join("data"))
        .envs(vars.iter().copied())
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    let start = Instant::now();
    let mut child = command.spawn().expect("spawn roost");
    let stderr = child.stderr.take().expect("stderr");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    Spawned {
        child,
        lines: rx,
        start,
    }
}

/// Runs `roost` in `dir` with only `vars` (see [`spawn`]) until it exits or logs a line
/// containing `until`, then stops it.
fn roost_until(dir: &Path, vars: &[(&str, &str)], until: &str) -> Run {
    let mut roost = spawn(dir, vars);
    let start = roost.start;
    let deadline = start + Duration::from_secs(30);
    let mut text = String::new();
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match roost.lines.recv_timeout(left) {
            Ok(line) => {
                text.push_str(&line);
                text.push('\n');
                if line.contains(until) {
                    drop(roost);
                    return Run {
                        code: None,
                        stderr: text,
                        elapsed: start.elapsed(),
                    };
                }
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                let status = roost.child.wait().expect("wait for roost");
                return Run {
                    code: status.code(),
                    stderr: text,
                    elapsed: start.elapsed(),
                };
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {
                drop(roost);
                panic!("roost neither exited nor got to '{until}' in 30 s:\n{text}");
            }
        }
    }
}

/// Runs `roost` until it exits or listens.
pub(crate) fn roost(dir: &Path, vars: &[(&str, &str)]) -> Run {
    roost_until(dir, vars, "listening on")
}

#[test]
fn unknown_variable_names_the_nearest_setting() {
    let dir = TempDir::new();
    let run = roost(&dir.0, &[("ROOST_SINGUP__OPEN", "true")]);
    run.refused_with("unknown setting ROOST_SINGUP__OPEN; did you mean ROOST_SIGNUP__OPEN?");
    let run = roost(&dir.0, &[("ROOST_PAGINATE__MAXX", "5")]);
    run.refused_with("unknown setting ROOST_PAGINATE__MAXX; did you mean ROOST_PAGINATE__MAX?");
}

#[test]
fn tool_variables_are_not_settings() {
    let dir = TempDir::new();
    let run = roost(
        &dir.0,
        &[
            ("ROOST_LOG", "roost=info"),
            ("ROOST_TEST_THREADS", "2"),
            ("ROOST_BIN", "x"),
            ("ROOST_PEOPLE_BIN", "x"),
        ],
    );
    run.started();
}

#[test]
fn unknown_file_section_names_the_nearest_setting() {
    let dir = TempDir::new();
    let file = dir.0.join("roost.toml");
    std::fs::write(&file, "[singup]\nopen = true\n").unwrap();
    let file = file.to_str().unwrap();
    let run = roost(&dir.0, &[("ROOST_CONFIG", file)]);
    run.refused_with(&format!(
        "unknown setting singup.open in {file}; did you mean signup.open?"
    ));
}

#[test]
fn unknown_nested_file_key_names_the_nearest_setting() {
    let dir = TempDir::new();
    let file = dir.0.join("roost.toml");
    std::fs::write(&file, "port = 0\n[paginate]\nmax = 20\nmaxx = 5\n").unwrap();
    let file = file.to_str().unwrap();
    let run = roost(&dir.0, &[("ROOST_CONFIG", file)]);
    run.refused_with(&format!(
        "unknown setting paginate.maxx in {file}; did you mean paginate.max?"
    ));
}

#[test]
fn env_is_development_or_production_in_any_case() {
    let dir = TempDir::new();
    let run = roost(&dir.0, &[("ROOST_ENV", "prod")]);
    run.refused_with("env (ROOST_ENV) must be development or production, not 'prod'");
    roost(&dir.0, &[("ROOST_ENV", "Production")]).started();
}

#[test]
fn log_format_is_text_or_json() {
    let dir = TempDir::new();
    let run = roost(&dir.0, &[("ROOST_LOG__FORMAT", "xml")]);
    run.refused_with("log.format (ROOST_LOG__FORMAT) must be text or json, not 'xml'");
    let run = roost(&dir.0, &[("ROOST_LOG__FORMAT", "JSON")]);
    run.started();
    for line in run.stderr.lines() {
        let parsed: Result<serde_json::Value, _> = serde_json::from_str(line);
        assert!(parsed.is_ok(), "not JSON: {line}");
    }
}

#[test]
fn half_given_admin_is_refused() {
    let dir = TempDir::new();
    let run = roost(&dir.0, &[("ROOST_ADMIN_EMAIL", "ops@roost.test")]);
    run.refused_with(
        "admin_email (ROOST_ADMIN_EMAIL) is set but admin_password (ROOST_ADMIN_PASSWORD) or \
         admin_password_file (ROOST_ADMIN_PASSWORD_FILE) is not: set both or neither",
    );
    let run = roost(
        &dir.0,
        &[("ROOST_ADMIN_PASSWORD", "Quiet-Lantern-Orbit-77")],
    );
    run.refused_with(
        "admin_password (ROOST_ADMIN_PASSWORD) or admin_password_file \
         (ROOST_ADMIN_PASSWORD_FILE) is set but admin_email (ROOST_ADMIN_EMAIL) is not",
    );
    let run = roost(&dir.0, &[("ROOST_NOTIFY__SMTP__USER", "mailer")]);
    run.refused_with("notify.smtp.user (ROOST_NOTIFY__SMTP__USER) is set but");
}

#[test]
fn data_dir_holds_the_default_database() {
    let dir = TempDir::new();
    let data = dir.0.join("state");
    let run = roost(&dir.0, &[("ROOST_DATA_DIR", data.to_str().unwrap())]);
    run.started();
    assert!(data.join("roost.db").is_file(), "{}", run.stderr);
    assert!(
        run.stderr
            .contains(&format!("database: sqlite://{}/roost.db", data.display())),
        "{}",
        run.stderr
    );
    assert!(!dir.0.join("data").exists(), "nothing in ./data");
}

#[test]
fn sqlite_file_is_created_without_mode_rwc() {
    let dir = TempDir::new();
    let file = dir.0.join("sub").join("fresh.db");
    let url = format!("sqlite://{}", file.display());
    roost(&dir.0, &[("ROOST_DATABASE_URL", &url)]).started();
    assert!(file.is_file());
}

#[test]
fn misspelt_database_scheme_is_named() {
    let dir = TempDir::new();
    let run = roost(
        &dir.0,
        &[(
            "ROOST_DATABASE_URL",
            "postgress://roost:s3cret@localhost/roost",
        )],
    );
    run.refused_with(
        "unsupported database URL scheme 'postgress' in database_url (ROOST_DATABASE_URL); \
         use sqlite:// or postgres://",
    );
    assert!(!run.stderr.contains("s3cret"), "{}", run.stderr);
}

#[test]
fn wrong_postgres_port_fails_fast_naming_host_and_port() {
    let dir = TempDir::new();
    let url = "postgres://roost:s3cret@127.0.0.1:1/roost";
    let run = roost(&dir.0, &[("ROOST_DATABASE_URL", url)]);
    run.refused_with(
        "cannot connect to the database postgres://roost:***@127.0.0.1:1/roost (host \
         127.0.0.1, port 1, database roost, user roost): connection refused",
    );
    assert!(run.stderr.contains("ROOST_DATABASE_URL"), "{}", run.stderr);
    assert!(!run.stderr.contains("s3cret"), "{}", run.stderr);
    assert!(
        run.elapsed < Duration::from_secs(5),
        "took {:?}",
        run.elapsed
    );
}

#[test]
fn busy_port_names_the_address_and_settings() {
    let dir = TempDir::new();
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port().to_string();
    let run = roost(&dir.0, &[("ROOST_PORT", &port)]);
    run.refused_with(&format!(
        "cannot listen on 127.0.0.1:{port}: the address is already in use"
    ));
    assert!(
        run.stderr
            .contains("ROOST_PORT (port) or ROOST_HOST (host)"),
        "{}",
        run.stderr
    );
}

#[test]
fn first_run_without_an_administrator_says_how_to_create_one() {
    let dir = TempDir::new();
    let run = roost_until(&dir.0, &[], "instead of the file");
    assert!(run.code.is_none(), "{}", run.stderr);
    for line in [
        "WARN no user holds full_access",
        "cargo run --release -- admin create --email you@example.com --password-file ./admin-password",
        "ROOST_ADMIN_EMAIL=you@example.com ROOST_ADMIN_PASSWORD_FILE=./admin-password cargo run --release",
    ] {
        assert!(run.stderr.contains(line), "{line}\n{}", run.stderr);
    }
    let admin = [
        ("ROOST_ADMIN_EMAIL", "ops@roost.test"),
        ("ROOST_ADMIN_PASSWORD", "Quiet-Lantern-Orbit-77"),
        ("ROOST_LOG", "roost=debug,warn"),
    ];
    // The debug line is logged where the hint would be.
    let run = roost_until(&dir.0, &admin, "a user holds full_access");
    assert!(
        run.stderr.contains("created the bootstrap admin"),
        "{}",
        run.stderr
    );
    assert!(
        !run.stderr.contains("no user holds full_access"),
        "{}",
        run.stderr
    );
}
