//! The 3,000 most common passwords, most common first: the head of Django's
//! `common-passwords.txt.gz` (PyPI `Django` 5.2, BSD-3-Clause; list by Royce Williams),
//! committed as `common-passwords.txt`. Compared case-insensitively.

use std::collections::HashSet;
use std::sync::OnceLock;

const LIST: &str = include_str!("common-passwords.txt");

static SET: OnceLock<HashSet<&'static str>> = OnceLock::new();

/// True when `password` (any case, surrounding spaces ignored) is on the list.
pub fn is_common(password: &str) -> bool {
    let set = SET.get_or_init(|| {
        LIST.lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .collect()
    });
    set.contains(password.trim().to_lowercase().as_str())
}

#[cfg(test)]
mod tests {
    #[test]
    fn knows_the_usual_suspects() {
        assert_eq!(super::LIST.lines().count(), 3000);
        assert!(super::is_common("password"));
        assert!(super::is_common("QWERTY123456"));
        assert!(super::is_common("1qaz2wsx3edc"));
        assert!(!super::is_common("Quiet-Lantern-Orbit-77"));
    }
}
