//! `user_oauth_providers` — external identities linked to a user: provider `slug` and the
//! provider's subject id `sub`. OAuth logins create them (`oauth`).
//!
//! - Path `user_oauth_providers`; methods find, get, create, update, patch, remove;
//!   paginated; multi off.
//! - Fields: `id, user_id, slug, sub, created_at, updated_at`; all required; `user_id` must
//!   exist (400); `(slug, sub)` is unique (409): one identity links to one user.
//! - Own rows: a user may find, get and remove (unlink) their own links without scopes.
//! - Unlinking the last sign-in method of an account without a password is refused (400):
//!   the account would be unreachable.
//! - Scopes (prefix `user_oauth_providers`): `user_oauth_providers_read`,
//!   `user_oauth_providers_write`.
//! - Events: `user_oauth_providers created|updated|patched|removed`, and the custom audit
//!   events `oauth_linked` (create) and `oauth_unlinked` (remove) in the same transaction.

use async_trait::async_trait;
use sea_orm::sea_query::{Alias, Expr, ExprTrait, Query};
use serde::Deserialize;
use serde_json::Value;

use crate::auth::grants;
use crate::config::Config;
use crate::error::{Error, Result};
use crate::service::{Ctx, Db, Field, Method, Policy, ScopeRule, Service, peek};
use crate::store::audit::record_custom;
use crate::store::{Change, Column, Prepared, RowId, SqlService, Table, WriteRules, parse_id};

pub const PATH: &str = crate::oauth::LINKS_PATH;

/// Who may do what (DESIGN §4).
pub const POLICY: Policy = Policy::scoped(
    ScopeRule::read_write(
        "user_oauth_providers",
        "user_oauth_providers_read",
        "user_oauth_providers_write",
    )
    .own("user_id", &[Method::Find, Method::Get, Method::Remove]),
);

pub fn table() -> Table {
    Table::new(PATH)
        .column(Column::integer("user_id").required().references("users"))
        .column(Column::text("slug").required().non_empty())
        .column(Column::text("sub").required().non_empty())
        .unique(&["slug", "sub"])
}

/// What the rules read of a link's data: the user it would belong to, when it names one.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct LinkData {
    user_id: Field<RowId>,
}

/// Keeps every account reachable and audits links and unlinks.
struct LinkRules;

pub fn service(config: &Config) -> SqlService {
    super::standard(table(), POLICY, config).with_rules(LinkRules)
}

const LAST_METHOD: &str =
    "This is the last way to sign in to this account: set a password before unlinking it";

/// `(user_id, has password, links)` for the owner of link `id`; `None` if no such link.
async fn owner_methods(db: Db<'_>, id: i64) -> Result<Option<(i64, bool, i64)>> {
    let select = Query::select()
        .column(Alias::new("user_id"))
        .from(Alias::new(PATH))
        .and_where(Expr::col(Alias::new("id")).eq(id))
        .to_owned();
    let Some(row) = db
        .query_one(db.build(&select))
        .await
        .map_err(Error::internal)?
    else {
        return Ok(None);
    };
    let user_id: i64 = row.try_get("", "user_id").map_err(Error::internal)?;
    let password = Query::select()
        .column(Alias::new("password"))
        .from(Alias::new("users"))
        .and_where(Expr::col(Alias::new("id")).eq(user_id))
        .to_owned();
    let has_password = match db
        .query_one(db.build(&password))
        .await
        .map_err(Error::internal)?
    {
        Some(row) => row
            .try_get::<Option<String>>("", "password")
            .map_err(Error::internal)?
            .is_some_and(|p| !p.is_empty()),
        None => false,
    };
    let count = Query::select()
        .expr_as(Expr::col(Alias::new("id")).count(), Alias::new("n"))
        .from(Alias::new(PATH))
        .and_where(Expr::col(Alias::new("user_id")).eq(user_id))
        .to_owned();
    let links = match db
        .query_one(db.build(&count))
        .await
        .map_err(Error::internal)?
    {
        Some(row) => row.try_get::<i64>("", "n").map_err(Error::internal)?,
        None => 0,
    };
    Ok(Some((user_id, has_password, links)))
}

/// Refuses to take link `id` away from its user when it is their last way in.
async fn keep_a_way_in(db: Db<'_>, id: &Value) -> Result<()> {
    if let Some(link) = parse_id(id)
        && let Some((_, has_password, links)) = owner_methods(db, link).await?
        && !has_password
        && links <= 1
    {
        return Err(Error::bad_request(LAST_METHOD));
    }
    Ok(())
}

#[async_trait]
impl WriteRules for LinkRules {
    /// Moving a link to another user unlinks it from its owner.
    async fn before_write(
        &self,
        ctx: &Ctx<'_>,
        _store: &SqlService,
        change: Change<'_>,
        data: Value,
    ) -> Result<Prepared> {
        let new_owner = peek::<LinkData>(&data)?.user_id.get().map(|id| id.0);
        // Linking an identity to a user, or taking one from them, is signing in as them.
        if let Some(new_owner) = new_owner {
            grants::may_act_as(ctx, new_owner).await?;
        }
        if let Some(link) = change.id().and_then(parse_id)
            && let Some((owner, _, _)) = owner_methods(ctx.db, link).await?
        {
            grants::may_act_as(ctx, owner).await?;
        }
        if let Some(id) = change.id()
            && let Some(new_owner) = new_owner
            && let Some(link) = parse_id(id)
            && let Some((owner, _, _)) = owner_methods(ctx.db, link).await?
            && owner != new_owner
        {
            keep_a_way_in(ctx.db, id).await?;
        }
        Ok(Prepared::new(data))
    }

    async fn before_remove(&self, ctx: &Ctx<'_>, store: &SqlService, id: &Value) -> Result<()> {
        // 404 first when the caller may not see the link (no probing of other users).
        store.get(ctx, id).await?;
        if let Some(link) = parse_id(id)
            && let Some((owner, _, _)) = owner_methods(ctx.db, link).await?
        {
            grants::may_act_as(ctx, owner).await?;
        }
        keep_a_way_in(ctx.db, id).await
    }

    async fn after_write(
        &self,
        ctx: &Ctx<'_>,
        _store: &SqlService,
        change: Change<'_>,
        record: &Value,
    ) -> Result<()> {
        let Some(user_id) = record.get("user_id").and_then(Value::as_i64) else {
            return Ok(());
        };
        match change {
            // With the link, in its transaction (OAuth logins link through here too).
            Change::Create => record_custom(ctx.db, "oauth_linked", Some(user_id)).await,
            Change::Remove(_) => record_custom(ctx.db, "oauth_unlinked", Some(user_id)).await,
            _ => Ok(()),
        }
    }
}
