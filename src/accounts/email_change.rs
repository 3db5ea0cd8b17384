//! Email changes that wait for the new address to answer (`email_changes`, migration m0007).
//!
//! A caller who may not read every account does not change an email at once: the account
//! keeps its address and a link goes to the new one; `PATCH /verify/<new address>
//! {token}` completes the move. When the new address already has an account, nothing is
//! stored and its owner is told instead, so the answer to the caller is the same either way
//! and tells nobody whether the address is taken.

use chrono::Utc;
use sea_orm::sea_query::{Alias, Expr, ExprTrait, LockType, Order, Query};

use super::tokens::{Purpose, Stored, hash};
use crate::error::{Error, Result};
use crate::service::Db;

const TABLE: &str = "email_changes";

/// How long a change waits for its link.
pub const TTL: chrono::Duration = chrono::Duration::hours(1);

/// Candidate changes checked per confirmation (several accounts may wait for one address).
const MAX_CANDIDATES: u64 = 5;

fn col(name: &str) -> Alias {
    Alias::new(name)
}

/// Records that `user_id` asked to move to `email`, proven by `secret`, replacing any
/// change the account was waiting for. The same two statements run whether or not the
/// address is taken: the insert selects nothing when another account has it.
pub async fn request(db: Db<'_>, user_id: i64, email: &str, secret: &str) -> Result<()> {
    let now = Utc::now();
    let retire = Query::update()
        .table(col(TABLE))
        .value(col("used_at"), now)
        .value(col("updated_at"), now)
        .and_where(Expr::col(col("user_id")).eq(user_id))
        .and_where(Expr::col(col("used_at")).is_null())
        .to_owned();
    db.execute(db.build(&retire))
        .await
        .map_err(Error::internal)?;
    let taken = Query::select()
        .expr(Expr::val(1))
        .from(col("users"))
        .and_where(Expr::col(col("email")).eq(email))
        .to_owned();
    let source = Query::select()
        .expr(Expr::col(col("id")))
        .expr(Expr::val(email))
        .expr(Expr::val(hash(
            Purpose::EmailChange,
            user_id,
            email,
            secret,
        )))
        .expr(Expr::val(now + TTL))
        .expr(Expr::val(0i64))
        .expr(Expr::val(now))
        .expr(Expr::val(now))
        .from(col("users"))
        .and_where(Expr::col(col("id")).eq(user_id))
        .and_where(Expr::exists(taken).not())
        .to_owned();
    let mut insert = Query::insert();
    insert.into_table(col(TABLE)).columns([
        col("user_id"),
        col("email"),
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

/// The account whose waiting change to `email` `secret` proves, if any; that change is
/// used up. A miss counts an attempt against every change waiting for the address (each
/// dies after `max_attempts` misses).
pub async fn confirm(
    db: Db<'_>,
    email: &str,
    secret: &str,
    max_attempts: i64,
) -> Result<Option<i64>> {
    let select = Query::select()
        .columns([
            col("id"),
            col("user_id"),
            col("token_hash"),
            col("expires_at"),
            col("attempts"),
        ])
        .from(col(TABLE))
        .and_where(Expr::col(col("email")).eq(email))
        .and_where(Expr::col(col("used_at")).is_null())
        .order_by(col("id"), Order::Desc)
        .limit(MAX_CANDIDATES)
        // PostgreSQL: simultaneous confirmations queue on the rows (SQLite: the write gate).
        .lock(LockType::Update)
        .to_owned();
    let rows = db
        .query_all(db.build(&select))
        .await
        .map_err(Error::internal)?;
    let now = Utc::now();
    let mut checked = Vec::new();
    for row in &rows {
        let user_id: i64 = row.try_get("", "user_id").map_err(Error::internal)?;
        checked.push((user_id, Stored::read(row, now, max_attempts)?));
    }
    let proven = checked.iter().position(|(user_id, stored)| {
        stored.matches(&hash(Purpose::EmailChange, *user_id, email, secret))
    });
    // A match uses up that change only; a miss counts against every candidate.
    let updates: Vec<_> = match proven {
        Some(i) => vec![checked[i].1.outcome(TABLE, true, now, max_attempts)],
        None => checked
            .iter()
            .map(|(_, stored)| stored.outcome(TABLE, false, now, max_attempts))
            .collect(),
    };
    for update in &updates {
        db.execute(db.build(update))
            .await
            .map_err(Error::internal)?;
    }
    Ok(proven.map(|i| checked[i].0))
}
