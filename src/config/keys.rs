//! The settings [`Config`] knows, derived from the structs themselves, and the checks that
//! refuse anything else: an unknown `ROOST_*` variable or configuration-file key stops
//! start-up, naming the nearest setting (a typo would otherwise be ignored silently).

use std::collections::BTreeSet;
use std::ffi::OsString;

use super::Config;

/// `ROOST_*` variables that are not settings: `ROOST_CONFIG` and `ROOST_LOG` (read by
/// `main`), and the test tools' own (client-js passes its whole environment on).
const NOT_SETTINGS: &[&str] = &["ROOST_CONFIG", "ROOST_LOG", "ROOST_BIN", "ROOST_PEOPLE_BIN"];
/// `ROOST_TEST_THREADS`, `ROOST_TEST_NO_BUS` and any later test switch.
const TEST_PREFIX: &str = "ROOST_TEST_";

/// Every setting as a dotted path (`signup.open`, `notify.smtp.password_file`).
pub struct Known {
    leaves: BTreeSet<String>,
    sections: BTreeSet<String>,
}

/// The environment, sorted for the loader.
pub struct Env {
    /// `ROOST_CONFIG`: the configuration file.
    pub config_file: Option<String>,
    /// The `ROOST_*` variables that name a setting, as given.
    pub settings: config::Map<String, String>,
}

impl Known {
    /// The paths of `Config::default()` serialized: `None` becomes null, so a setting
    /// that is unset by default is known too (the tests check this against serde's own
    /// field lists).
    pub fn new() -> anyhow::Result<Self> {
        let tree = serde_json::to_value(Config::default())?;
        let mut known = Self {
            leaves: BTreeSet::new(),
            sections: BTreeSet::new(),
        };
        known.walk(&tree, "");
        Ok(known)
    }

    fn walk(&mut self, value: &serde_json::Value, prefix: &str) {
        let Some(map) = value.as_object() else {
            return;
        };
        for (key, value) in map {
            let path = join(prefix, key);
            if value.is_object() {
                self.walk(value, &path);
                self.sections.insert(path);
            } else {
                self.leaves.insert(path);
            }
        }
    }

    /// Splits the environment: the configuration file, the settings, and an error naming
    /// every `ROOST_*` variable that is neither.
    pub fn split_env(
        &self,
        vars: impl IntoIterator<Item = (OsString, OsString)>,
    ) -> anyhow::Result<Env> {
        let mut env = Env {
            config_file: None,
            settings: config::Map::new(),
        };
        let mut unknown = Vec::new();
        for (name, value) in vars {
            // The config crate skips names that are not Unicode too.
            let Some(name) = name.to_str() else { continue };
            let upper = name.to_ascii_uppercase();
            let Some(rest) = upper.strip_prefix("ROOST_") else {
                continue;
            };
            if NOT_SETTINGS.contains(&upper.as_str()) || upper.starts_with(TEST_PREFIX) {
                if upper == "ROOST_CONFIG" {
                    env.config_file = Some(utf8(name, value)?);
                }
                continue;
            }
            let key = rest.to_ascii_lowercase().replace("__", ".");
            if self.leaves.contains(&key) {
                env.settings.insert(name.to_string(), utf8(name, value)?);
            } else if self.sections.contains(&key) {
                let first = self.leaves.iter().find(|leaf| {
                    leaf.strip_prefix(key.as_str())
                        .is_some_and(|rest| rest.starts_with('.'))
                });
                unknown.push(format!(
                    "unknown setting {name}: {key} is a section, set its keys (e.g. {})",
                    env_name(first.map_or(key.as_str(), String::as_str))
                ));
            } else {
                unknown.push(match self.nearest(&key) {
                    Some(near) => {
                        format!("unknown setting {name}; did you mean {}?", env_name(near))
                    }
                    None => format!("unknown setting {name} (.env.example lists the settings)"),
                });
            }
        }
        refuse(unknown)?;
        Ok(env)
    }

    /// Refuses the keys of `tree` (the merged configuration, whose environment part is
    /// checked already, so the rest came from `file`) that are no setting.
    pub fn check_file(
        &self,
        tree: &config::Map<String, config::Value>,
        file: &str,
    ) -> anyhow::Result<()> {
        let mut unknown = Vec::new();
        self.unknown_in(tree, "", &mut unknown);
        refuse(
            unknown
                .into_iter()
                .map(|path| match self.nearest(&path) {
                    Some(near) => {
                        format!("unknown setting {path} in {file}; did you mean {near}?")
                    }
                    None => format!("unknown setting {path} in {file}"),
                })
                .collect(),
        )
    }

    fn unknown_in(
        &self,
        table: &config::Map<String, config::Value>,
        prefix: &str,
        out: &mut Vec<String>,
    ) {
        for (key, value) in table {
            let path = join(prefix, key);
            if self.leaves.contains(&path) {
                continue;
            }
            match &value.kind {
                // Into known sections, and into unknown ones to name their keys in full
                // (`[singup] open` is best answered with `signup.open`).
                config::ValueKind::Table(inner) if !inner.is_empty() => {
                    self.unknown_in(inner, &path, out);
                }
                // A section given a plain value: serde names the type mismatch.
                _ if self.sections.contains(&path) => {}
                _ => out.push(path),
            }
        }
    }

    /// The setting closest to `key`, if it is close enough to be what was meant.
    fn nearest(&self, key: &str) -> Option<&str> {
        let (distance, near) = self
            .leaves
            .iter()
            .map(|leaf| (distance(key, leaf), leaf))
            .min_by_key(|(d, _)| *d)?;
        (distance <= (key.chars().count() / 3).max(2)).then_some(near.as_str())
    }
}

/// The environment variable of a setting: `notify.smtp.host` -> `ROOST_NOTIFY__SMTP__HOST`.
pub fn env_name(key: &str) -> String {
    format!("ROOST_{}", key.to_ascii_uppercase().replace('.', "__"))
}

fn join(prefix: &str, key: &str) -> String {
    if prefix.is_empty() {
        key.to_string()
    } else {
        format!("{prefix}.{key}")
    }
}

fn utf8(name: &str, value: OsString) -> anyhow::Result<String> {
    value
        .into_string()
        .map_err(|_| anyhow::anyhow!("{name} is not valid UTF-8"))
}

/// One line per unknown key, in a stable order.
fn refuse(mut unknown: Vec<String>) -> anyhow::Result<()> {
    if unknown.is_empty() {
        return Ok(());
    }
    unknown.sort();
    anyhow::bail!("{}", unknown.join("\n"))
}

/// Levenshtein distance (insertions, deletions, substitutions) between two strings.
fn distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    // row[j]: the distance between the part of `a` read so far and b[..j].
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut diagonal = i;
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let above = row[j + 1];
            row[j + 1] = if ca == *cb {
                diagonal
            } else {
                1 + diagonal.min(above).min(row[j])
            };
            diagonal = above;
        }
    }
    row[b.len()]
}

#[cfg(test)]
mod tests;
