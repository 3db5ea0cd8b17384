//! Pending flows (`oauth_states`): what `GET /oauth/:slug` must hand to its callback.
//!
//! - `state`: 256 random bits, sent to the provider; only its SHA-256 is stored.
//! - Browser binding: a second random value travels in an `HttpOnly` cookie named after
//!   the state's hash; only its SHA-256 is stored. A callback whose browser did not start
//!   the flow (login CSRF, a leaked callback URL) is refused.
//! - PKCE (RFC 7636, S256): the verifier is stored encrypted (AES-256-GCM).
//! - Single use: the row is taken with one `DELETE ... RETURNING`; a replayed state finds
//!   nothing. Expired rows are refused, and swept when new flows start.
//!
//! Rows live in the database, so a callback may land on any instance.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::RngExt;
use sea_orm::sea_query::{Alias, Expr, ExprTrait, Query};
use sha2::{Digest, Sha256};

use crate::error::{Error, Result};
use crate::service::Db;

const TABLE: &str = "oauth_states";
/// Prefix of the browser-binding cookie; the rest is the start of the state's hash.
pub const COOKIE_PREFIX: &str = "roost_oauth_";

fn col(name: &str) -> Alias {
    Alias::new(name)
}

/// `bytes` random bytes, base64url without padding.
pub fn random_token(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    rand::rng().fill(&mut buf[..]);
    URL_SAFE_NO_PAD.encode(buf)
}

/// Lowercase hex SHA-256.
pub fn sha256_hex(text: &str) -> String {
    Sha256::digest(text.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The S256 code challenge of a PKCE verifier.
pub fn pkce_challenge(verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

/// The cookie that binds the flow of `state_hash` to the browser that started it.
pub fn cookie_name(state_hash: &str) -> String {
    format!(
        "{COOKIE_PREFIX}{}",
        state_hash.get(..16).unwrap_or(state_hash)
    )
}

/// A flow as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct Pending {
    pub slug: String,
    pub browser_hash: String,
    /// Encrypted PKCE verifier.
    pub code_verifier: String,
    pub nonce: Option<String>,
    pub redirect_uri: String,
    pub redirect: Option<String>,
    pub link_user_id: Option<i64>,
    pub expires_at: i64,
}

/// Stores a new flow under `state_hash`, first sweeping expired ones.
pub async fn save(db: Db<'_>, state_hash: &str, pending: &Pending, now: i64) -> Result<()> {
    let sweep = Query::delete()
        .from_table(col(TABLE))
        .and_where(Expr::col(col("expires_at")).lt(now))
        .to_owned();
    db.execute(db.build(&sweep))
        .await
        .map_err(Error::internal)?;
    let stamp = chrono::Utc::now();
    let insert = Query::insert()
        .into_table(col(TABLE))
        .columns(
            [
                "state_hash",
                "browser_hash",
                "slug",
                "code_verifier",
                "nonce",
                "redirect_uri",
                "redirect",
                "link_user_id",
                "expires_at",
                "created_at",
                "updated_at",
            ]
            .map(col),
        )
        .values([
            state_hash.into(),
            pending.browser_hash.clone().into(),
            pending.slug.clone().into(),
            pending.code_verifier.clone().into(),
            pending.nonce.clone().into(),
            pending.redirect_uri.clone().into(),
            pending.redirect.clone().into(),
            pending.link_user_id.into(),
            pending.expires_at.into(),
            stamp.into(),
            stamp.into(),
        ])
        .map_err(Error::internal)?
        .to_owned();
    db.execute(db.build(&insert))
        .await
        .map_err(Error::internal)?;
    Ok(())
}

/// Takes (deletes and returns) the flow stored under `state_hash`, if any. Whether it has
/// expired is for the caller to check.
pub async fn take(db: Db<'_>, state_hash: &str) -> Result<Option<Pending>> {
    let delete = Query::delete()
        .from_table(col(TABLE))
        .and_where(Expr::col(col("state_hash")).eq(state_hash))
        .returning(
            Query::returning().columns(
                [
                    "slug",
                    "browser_hash",
                    "code_verifier",
                    "nonce",
                    "redirect_uri",
                    "redirect",
                    "link_user_id",
                    "expires_at",
                ]
                .map(col),
            ),
        )
        .to_owned();
    let Some(row) = db
        .query_one(db.build(&delete))
        .await
        .map_err(Error::internal)?
    else {
        return Ok(None);
    };
    let get_text = |name: &str| row.try_get::<String>("", name).map_err(Error::internal);
    let get_opt = |name: &str| {
        row.try_get::<Option<String>>("", name)
            .map_err(Error::internal)
    };
    Ok(Some(Pending {
        slug: get_text("slug")?,
        browser_hash: get_text("browser_hash")?,
        code_verifier: get_text("code_verifier")?,
        nonce: get_opt("nonce")?,
        redirect_uri: get_text("redirect_uri")?,
        redirect: get_opt("redirect")?,
        link_user_id: row
            .try_get::<Option<i64>>("", "link_user_id")
            .map_err(Error::internal)?,
        expires_at: row
            .try_get::<Option<i64>>("", "expires_at")
            .map_err(Error::internal)?
            .unwrap_or(0),
    }))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn pkce_s256_matches_rfc7636() {
        // RFC 7636, appendix B.
        assert_eq!(
            pkce_challenge("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        );
    }

    #[test]
    fn random_tokens_are_long_and_distinct() {
        let a = random_token(32);
        let b = random_token(32);
        assert_eq!(a.len(), 43);
        assert_ne!(a, b);
        assert!(
            a.bytes()
                .all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_')
        );
        let h = sha256_hex(&a);
        assert_eq!(h.len(), 64);
        assert!(cookie_name(&h).starts_with(COOKIE_PREFIX));
        assert_eq!(cookie_name(&h).len(), COOKIE_PREFIX.len() + 16);
    }
}
