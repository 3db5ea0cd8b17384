//! Password rules beyond length and the common-password list (NIST SP 800-63B §3.1.1.2,
//! ASVS V6): no repetitive strings, no sequences, nothing made mostly of the account's own
//! words, and never one of the account's identifiers. Hand-written (no zxcvbn: compile
//! time); each rule answers with a message that names it.
//!
//! "Mostly" means: the weak part covers at least half of the password's characters, or
//! what is left once the account's words are taken out is itself weak.

use serde_json::{Map, Value};

use crate::error::{Error, Result};
use crate::service::Db;

/// The service's own name: never the bulk of a password.
const SERVICE_WORDS: [&str; 1] = ["roost"];

/// Cyclic sequences a run may follow, forwards or backwards: the alphabet, the digits,
/// the keyboard's letter rows read left to right, top to bottom, and the shifted digits.
const SEQUENCES: [&str; 4] = [
    "abcdefghijklmnopqrstuvwxyz",
    "1234567890",
    "qwertyuiopasdfghjklzxcvbnm",
    "!@#$%^&*()",
];

/// Runs shorter than this are not counted as sequences (`ab`, `123` are everywhere).
const MIN_RUN: usize = 4;

/// The user fields a password must not be, or be made mostly of.
pub const IDENTIFIERS: [&str; 3] = ["email", "username", "phone"];
const NAMES: [&str; 3] = ["first_name", "middle_name", "last_name"];

/// Checks `password` against the rules; `Err` is the rule, to follow "Password ".
/// `own` holds the account's values (`email`, `username`, `phone`, names): the stored
/// ones overlaid with those being written.
pub fn check(password: &str, own: &Map<String, Value>) -> std::result::Result<(), String> {
    let lowered: Vec<char> = password.to_lowercase().chars().collect();
    let text: String = lowered.iter().collect();
    for field in IDENTIFIERS {
        if let Some(Value::String(value)) = own.get(field)
            && is_identifier(&text, value, field == "phone")
        {
            return Err(format!("must not be your {field}"));
        }
    }
    if is_repetitive(&lowered) {
        return Err("must not repeat a few characters or a short sequence of them".into());
    }
    if covers_half(&lowered, &sequence_cover(&lowered)) {
        return Err("must not be a sequence of characters (such as abcd, 1234 or qwerty)".into());
    }
    let words = context_words(own);
    let cover = word_cover(&lowered, &words);
    let rest: Vec<char> = lowered
        .iter()
        .zip(&cover)
        .filter(|(_, covered)| !**covered)
        .map(|(c, _)| *c)
        .collect();
    if cover.iter().any(|c| *c)
        && (covers_half(&lowered, &cover)
            || is_repetitive(&rest)
            || covers_half(&rest, &sequence_cover(&rest)))
    {
        return Err(
            "must not be mostly your email, username or name, or the service's name".into(),
        );
    }
    Ok(())
}

/// The password equals this identifier (case-insensitive; a phone by its digits too).
fn is_identifier(password: &str, value: &str, phone: bool) -> bool {
    let value = value.trim().to_lowercase();
    if value.is_empty() {
        return false;
    }
    if password == value {
        return true;
    }
    let digits = |s: &str| s.chars().filter(char::is_ascii_digit).collect::<String>();
    phone
        && !password.chars().any(char::is_alphabetic)
        && digits(&value).len() >= 6
        && digits(password) == digits(&value)
}

/// A short unit repeated (`aaaa...`, `abcabc...`, `passwordpassword`), or very few
/// distinct characters.
fn is_repetitive(chars: &[char]) -> bool {
    let n = chars.len();
    if n == 0 {
        return true;
    }
    let mut distinct: Vec<char> = chars.to_vec();
    distinct.sort_unstable();
    distinct.dedup();
    if distinct.len() <= 3 {
        return true;
    }
    (1..=n / 2).any(|p| (p..n).all(|i| chars[i] == chars[i - p]))
}

/// Positions that belong to a run of at least [`MIN_RUN`] characters following one of
/// [`SEQUENCES`] in one direction, or repeating one character.
fn sequence_cover(chars: &[char]) -> Vec<bool> {
    let n = chars.len();
    let mut cover = vec![false; n];
    let mut start = 0;
    while start + 1 < n {
        let mut ways = steps(chars[start], chars[start + 1]);
        if ways == 0 {
            start += 1;
            continue;
        }
        let mut end = start + 2;
        while end < n {
            let next = ways & steps(chars[end - 1], chars[end]);
            if next == 0 {
                break;
            }
            ways = next;
            end += 1;
        }
        if end - start >= MIN_RUN {
            cover[start..end].iter_mut().for_each(|c| *c = true);
        }
        start = end - 1;
    }
    cover
}

/// The ways `b` follows `a`, as bits: 1 the same character; then per sequence, one bit
/// forwards and one backwards. A run keeps going while some way stays common.
fn steps(a: char, b: char) -> u32 {
    let mut ways = u32::from(a == b);
    for (k, seq) in SEQUENCES.iter().enumerate() {
        let seq: Vec<char> = seq.chars().collect();
        let Some(i) = seq.iter().position(|c| *c == a) else {
            continue;
        };
        let len = seq.len();
        if b == seq[(i + 1) % len] {
            ways |= 1 << (1 + 2 * k);
        }
        if b == seq[(i + len - 1) % len] {
            ways |= 1 << (2 + 2 * k);
        }
    }
    ways
}

/// The account's own words (at least 3 characters): email local part and its pieces,
/// the email domain's name, username, names, and the service name; longest first.
fn context_words(own: &Map<String, Value>) -> Vec<Vec<char>> {
    let mut words: Vec<String> = SERVICE_WORDS.iter().map(|w| (*w).to_string()).collect();
    let text = |field: &str| {
        own.get(field)
            .and_then(Value::as_str)
            .map(|s| s.trim().to_lowercase())
            .filter(|s| !s.is_empty())
    };
    let pieces = |s: &str| -> Vec<String> {
        s.split(|c: char| !c.is_alphanumeric())
            .map(str::to_string)
            .collect()
    };
    if let Some(email) = text("email") {
        let (local, domain) = email.rsplit_once('@').unwrap_or((email.as_str(), ""));
        words.push(local.to_string());
        words.extend(pieces(local));
        // `mail.example.co.uk` -> `example`: the label that names the organisation.
        let labels: Vec<&str> = domain.split('.').filter(|l| !l.is_empty()).collect();
        if labels.len() >= 2 {
            words.push(labels[labels.len() - 2].to_string());
        }
        words.push(domain.to_string());
    }
    if let Some(username) = text("username") {
        words.extend(pieces(&username));
        words.push(username);
    }
    for field in NAMES {
        if let Some(name) = text(field) {
            words.extend(pieces(&name));
            words.push(name);
        }
    }
    let mut words: Vec<Vec<char>> = words
        .into_iter()
        .filter(|w| w.chars().count() >= 3)
        .map(|w| w.chars().collect())
        .collect();
    words.sort_by_key(|w| std::cmp::Reverse(w.len()));
    words.dedup();
    words
}

/// Positions covered by any occurrence of any of `words`.
fn word_cover(chars: &[char], words: &[Vec<char>]) -> Vec<bool> {
    let mut cover = vec![false; chars.len()];
    for word in words {
        if word.len() > chars.len() {
            continue;
        }
        for i in 0..=chars.len() - word.len() {
            if chars[i..i + word.len()] == word[..] {
                cover[i..i + word.len()].iter_mut().for_each(|c| *c = true);
            }
        }
    }
    cover
}

fn covers_half(chars: &[char], cover: &[bool]) -> bool {
    let covered = cover.iter().filter(|c| **c).count();
    !chars.is_empty() && covered * 2 >= chars.len()
}

/// The account's values for [`check`]: the stored row of user `id` (when writing an
/// existing user) overlaid with the values being written, so a `patch` that sends only a
/// password is still checked against the stored email, username and phone.
pub async fn account_context(
    db: Db<'_>,
    id: Option<&Value>,
    data: &Map<String, Value>,
) -> Result<Map<String, Value>> {
    let mut own = Map::new();
    let id = match id {
        Some(Value::Number(n)) => n.as_i64(),
        Some(Value::String(s)) => s.trim().parse::<i64>().ok(),
        _ => None,
    };
    let fields: Vec<&str> = IDENTIFIERS.iter().chain(NAMES.iter()).copied().collect();
    if let Some(id) = id {
        use sea_orm::sea_query::{Alias, Expr, ExprTrait, Query};
        let select = Query::select()
            .columns(fields.iter().map(|f| Alias::new(*f)))
            .from(Alias::new("users"))
            .and_where(Expr::col(Alias::new("id")).eq(id))
            .to_owned();
        let row = db
            .query_one(db.build(&select))
            .await
            .map_err(Error::internal)?;
        if let Some(row) = row {
            for field in &fields {
                let value: Option<String> = row.try_get("", field).map_err(Error::internal)?;
                if let Some(value) = value {
                    own.insert((*field).to_string(), Value::String(value));
                }
            }
        }
    }
    for field in fields {
        if let Some(value) = data.get(field).filter(|v| v.is_string()) {
            own.insert(field.to_string(), value.clone());
        }
    }
    Ok(own)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use serde_json::json;

    fn own() -> Map<String, Value> {
        json!({
            "email": "jane.doe@example.com",
            "username": "janed",
            "phone": "+1 555-123-4567",
            "first_name": "Jane",
            "last_name": "Doe",
        })
        .as_object()
        .unwrap()
        .clone()
    }

    fn refused(password: &str) -> String {
        check(password, &own()).expect_err(password)
    }

    #[test]
    fn strong_passwords_pass() {
        for ok in [
            "Quiet-Lantern-Orbit-77",
            "correct horse battery staple",
            "Tr0ub4dor&3-plus-more",
            "jane-likes-quiet-lanterns",
            "My roost is a warm tree 9",
            "éèêëēėęÿûüùúū",
            "zq8!Lm3#pW6v",
        ] {
            assert_eq!(check(ok, &own()), Ok(()), "{ok}");
        }
    }

    #[test]
    fn repetitive() {
        for bad in [
            "aaaaaaaaaaaa",
            "passwordpassword",
            "abcabcabcabc",
            "abababababab",
            "aabbaabbaabbccc",
            "Xy1Xy1Xy1Xy1Xy",
        ] {
            assert!(refused(bad).starts_with("must not repeat"), "{bad}");
        }
    }

    #[test]
    fn sequences() {
        for bad in [
            "abcdefghijkl",
            "123456789012",
            "qwertyuiopas",
            "zyxwvutsrqpo",
            "0987654321ab",
            "qwerty123456",
            "!@#$%^&*()!@",
            "lkjhgfdsa-xy",
        ] {
            assert!(refused(bad).starts_with("must not be a sequence"), "{bad}");
        }
        // A short run inside a strong password is fine.
        assert!(check("abcd-Lantern-Orbit", &own()).is_ok());
    }

    #[test]
    fn own_words() {
        for bad in [
            "janedoe12!x",
            "jane.doe@example.com2024",
            "Example-Jane-Doe",
            "roostroost99",
            "roost1234xy!",
            "JaneD0e-janed",
            "doe-jane-!!!",
        ] {
            assert!(refused(bad).starts_with("must not be mostly your"), "{bad}");
        }
    }

    #[test]
    fn identifiers() {
        assert_eq!(refused("Jane.Doe@Example.com"), "must not be your email");
        assert_eq!(refused("JANED"), "must not be your username");
        assert_eq!(refused("+1 555-123-4567"), "must not be your phone");
        assert_eq!(refused("15551234567"), "must not be your phone");
    }
}
