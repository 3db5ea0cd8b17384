//! One-time codes and tokens in `one_time_tokens` (migration m0004): only a SHA-256 hash
//! of each secret is stored, bound to its purpose, its user and the exact address it was
//! sent to (a secret sent to one address proves nothing once the account has another); a
//! row is single use, expires and counts wrong attempts. Issuing a new secret retires the
//! user's earlier unused ones of the same purpose and channel; changing an address retires
//! every unused one of its channel ([`retire_channel`]).

use chrono::{DateTime, Utc};
use rand::RngExt;
use sea_orm::sea_query::{Alias, Expr, ExprTrait, LockType, Order, Query};
use sha2::{Digest, Sha256};

use crate::error::{Error, Result};
use crate::service::Db;

const TABLE: &str = "one_time_tokens";

fn col(name: &str) -> Alias {
    Alias::new(name)
}

/// What a secret is for (the `purpose` column).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    Otp,
    Verify,
    Recover,
    Invite,
    /// Moves an account to a new email address (`email_changes`, not this table).
    EmailChange,
}

impl Purpose {
    pub const fn as_str(self) -> &'static str {
        match self {
            Purpose::Otp => "otp",
            Purpose::Verify => "verify",
            Purpose::Recover => "recover",
            Purpose::Invite => "invite",
            Purpose::EmailChange => "email_change",
        }
    }
}

/// A 6-digit code (uniform over 000000-999999).
pub fn otp_code() -> String {
    format!("{:06}", rand::rng().random_range(0..1_000_000u32))
}

/// A random token of 192 bits, as 48 hex characters.
pub fn random_token() -> String {
    let mut bytes = [0u8; 24];
    rand::rng().fill(&mut bytes);
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

pub(super) fn hash(purpose: Purpose, user_id: i64, address: &str, secret: &str) -> String {
    let mut h = Sha256::new();
    h.update(b"roost-one-time-token/2\0");
    h.update(purpose.as_str().as_bytes());
    h.update(b"\0");
    h.update(user_id.to_string().as_bytes());
    h.update(b"\0");
    h.update(address.as_bytes());
    h.update(b"\0");
    h.update(secret.trim().as_bytes());
    h.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

fn same(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

/// Retires every unused secret of `user_id` sent over `channel` (`email` / `phone`): the
/// address they were sent to is no longer the account's.
pub async fn retire_channel(db: Db<'_>, user_id: i64, channel: &str) -> Result<()> {
    retire(db, user_id, channel, None).await
}

/// Marks the user's unused secrets of `channel` (and of `purpose`, if given) used.
async fn retire(db: Db<'_>, user_id: i64, channel: &str, purpose: Option<Purpose>) -> Result<()> {
    let now = Utc::now();
    let mut retire = Query::update();
    retire
        .table(col(TABLE))
        .value(col("used_at"), now)
        .value(col("updated_at"), now)
        .and_where(Expr::col(col("user_id")).eq(user_id))
        .and_where(Expr::col(col("channel")).eq(channel))
        .and_where(Expr::col(col("used_at")).is_null());
    if let Some(purpose) = purpose {
        retire.and_where(Expr::col(col("purpose")).eq(purpose.as_str()));
    }
    db.execute(db.build(&retire))
        .await
        .map_err(Error::internal)?;
    Ok(())
}

/// Stores a new secret for `user_id`, sent to `address` over `channel`, valid for `ttl`,
/// retiring earlier unused ones.
///
/// The same two statements run whether or not `user_id` names a user: the insert selects
/// from `users`, so for an id that matches no row (0 for an unknown address) it stores
/// nothing, with the same round trips and the same hashing (`Accounts::send_secret`).
pub async fn issue(
    db: Db<'_>,
    user_id: i64,
    purpose: Purpose,
    channel: &str,
    address: &str,
    secret: &str,
    ttl: chrono::Duration,
) -> Result<()> {
    retire(db, user_id, channel, Some(purpose)).await?;
    let now = Utc::now();
    let token_hash = hash(purpose, user_id, address, secret);
    let source = Query::select()
        .expr(Expr::col(col("id")))
        .expr(Expr::val(purpose.as_str()))
        .expr(Expr::val(channel))
        .expr(Expr::val(token_hash))
        .expr(Expr::val(now + ttl))
        .expr(Expr::val(0i64))
        .expr(Expr::val(now))
        .expr(Expr::val(now))
        .from(col("users"))
        .and_where(Expr::col(col("id")).eq(user_id))
        .to_owned();
    let mut insert = Query::insert();
    insert.into_table(col(TABLE)).columns([
        col("user_id"),
        col("purpose"),
        col("channel"),
        col("token_hash"),
        col("expires_at"),
        col("attempts"),
        col("created_at"),
        col("updated_at"),
    ]);
    insert.select_from(source).map_err(Error::internal)?;
    db.execute(db.build(&insert))
        .await
        .map_err(Error::internal)?;
    Ok(())
}

/// Checks `secret` against the user's live secret of this purpose and channel, as sent
/// to `address` (the account's address now). A match uses it up; a miss counts an attempt
/// (the secret dies after `max_attempts` misses).
pub async fn consume(
    db: Db<'_>,
    user_id: i64,
    purpose: Purpose,
    channel: &str,
    address: &str,
    secret: &str,
    max_attempts: i64,
) -> Result<bool> {
    let select = Query::select()
        .columns([
            col("id"),
            col("token_hash"),
            col("expires_at"),
            col("attempts"),
        ])
        .from(col(TABLE))
        .and_where(Expr::col(col("user_id")).eq(user_id))
        .and_where(Expr::col(col("purpose")).eq(purpose.as_str()))
        .and_where(Expr::col(col("channel")).eq(channel))
        .and_where(Expr::col(col("used_at")).is_null())
        .order_by(col("id"), Order::Desc)
        .limit(1)
        // PostgreSQL: simultaneous checks of one secret queue on its row, so each sees
        // the attempts and use of the one before (SQLite: the write gate serialises them;
        // sea-query leaves the clause out there).
        .lock(LockType::Update)
        .to_owned();
    let Some(row) = db
        .query_one(db.build(&select))
        .await
        .map_err(Error::internal)?
    else {
        return Ok(false);
    };
    let now = Utc::now();
    let stored = Stored::read(&row, now, max_attempts)?;
    let matches = stored.matches(&hash(purpose, user_id, address, secret));
    let update = stored.outcome(TABLE, matches, now, max_attempts);
    db.execute(db.build(&update))
        .await
        .map_err(Error::internal)?;
    Ok(matches)
}

/// A stored secret row (`id, token_hash, expires_at, attempts`), as a check reads it.
pub(super) struct Stored {
    id: i64,
    hash: String,
    attempts: i64,
    /// Not expired, not out of attempts.
    live: bool,
}

impl Stored {
    pub(super) fn read(
        row: &crate::service::Row,
        now: DateTime<Utc>,
        max_attempts: i64,
    ) -> Result<Self> {
        let expires_at: Option<DateTime<Utc>> =
            row.try_get("", "expires_at").map_err(Error::internal)?;
        let attempts: Option<i64> = row.try_get("", "attempts").map_err(Error::internal)?;
        let attempts = attempts.unwrap_or(0);
        Ok(Self {
            id: row.try_get("", "id").map_err(Error::internal)?,
            hash: row.try_get("", "token_hash").map_err(Error::internal)?,
            attempts,
            live: expires_at.is_some_and(|e| e > now) && attempts < max_attempts,
        })
    }

    /// The row is live and holds `expected` (compared in constant time).
    pub(super) fn matches(&self, expected: &str) -> bool {
        self.live && same(&self.hash, expected)
    }

    /// The update recording a check: a match uses the secret up; a miss counts an
    /// attempt, and a secret out of attempts or no longer live is used up too.
    pub(super) fn outcome(
        &self,
        table: &str,
        matched: bool,
        now: DateTime<Utc>,
        max_attempts: i64,
    ) -> sea_orm::sea_query::UpdateStatement {
        let mut update = Query::update();
        update
            .table(col(table))
            .value(col("updated_at"), now)
            .and_where(Expr::col(col("id")).eq(self.id));
        if matched {
            update.value(col("used_at"), now);
        } else {
            let attempts = self.attempts.saturating_add(1);
            update.value(col("attempts"), attempts);
            if attempts >= max_attempts || !self.live {
                update.value(col("used_at"), now);
            }
        }
        update
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_have_the_right_shape() {
        let code = otp_code();
        assert_eq!(code.len(), 6);
        assert!(code.chars().all(|c| c.is_ascii_digit()));
        let token = random_token();
        assert_eq!(token.len(), 48);
        assert_ne!(token, random_token());
    }

    #[test]
    fn hashes_are_bound_to_purpose_user_and_address() {
        let a = hash(Purpose::Otp, 1, "a@x.test", "123456");
        assert_ne!(a, hash(Purpose::Verify, 1, "a@x.test", "123456"));
        assert_ne!(a, hash(Purpose::Otp, 2, "a@x.test", "123456"));
        assert_ne!(a, hash(Purpose::Otp, 1, "b@x.test", "123456"));
        // The address and the secret cannot trade characters.
        assert_ne!(a, hash(Purpose::Otp, 1, "a@x.test1", "23456"));
        assert!(same(&a, &hash(Purpose::Otp, 1, "a@x.test", " 123456 ")));
    }
}
