//! The /v1 user API (seed 002, DESIGN §6).
//!
//! - `v1/users` `find` (`GET /v1/users?page=&page_size=`) -> `{users: [{_id, name, email,
//!   username, role: {_id, name, permissions}, invited_date, invited_by, joined_date,
//!   updated_date, updated_by}], pagination: {page, page_size, page_count,
//!   total_document}}`; ids as strings, `role` is the user's first global role (or null)
//!   with its scope slugs as `permissions`. Default page size 10, capped by
//!   `paginate.max`.
//!
//! `find` is a view over `users.find` run as the caller, so the `users` rules apply as
//! they are: without `users_read` it lists the caller alone, and field scopes hide another
//! user's name / email. Invitations are `v1/users/invite` (`v1_invite`).

use std::sync::Arc;

use async_trait::async_trait;
use sea_orm::sea_query::{Alias, Expr, ExprTrait, Order, Query};
use serde_json::{Map, Value, json};

use crate::accounts::Accounts;
use crate::error::{Error, Result};
use crate::service::{Access, Ctx, Db, Method, Policy, Service};

pub const USERS_PATH: &str = "v1/users";

fn a(name: &str) -> Alias {
    Alias::new(name)
}

pub(super) fn policy(create: Access, patch: Access, find: Access) -> Policy {
    Policy {
        find,
        create,
        patch,
        ..Policy::deny_all()
    }
}

/// A positive integer query parameter (REST sends strings), or `default`.
fn positive(query: &Map<String, Value>, key: &str, default: u64) -> Result<u64> {
    let parsed = match query.get(key) {
        None | Some(Value::Null) => return Ok(default),
        Some(Value::Number(n)) => n.as_u64(),
        Some(Value::String(s)) => s.trim().parse::<u64>().ok(),
        Some(_) => None,
    };
    parsed
        .filter(|n| *n >= 1 && *n <= 1_000_000)
        .ok_or_else(|| Error::bad_request(format!("'{key}' must be a positive integer")))
}

pub struct V1UsersService {
    accounts: Arc<Accounts>,
    policy: Policy,
}

impl V1UsersService {
    pub fn new(accounts: Arc<Accounts>) -> Self {
        Self {
            accounts,
            policy: policy(Access::Deny, Access::Deny, Access::Authenticated),
        }
    }

    async fn role(&self, db: Db<'_>, user_id: i64) -> Result<Value> {
        let select = Query::select()
            .column((a("roles"), a("id")))
            .column((a("roles"), a("name")))
            .from(a("user_roles"))
            .inner_join(
                a("roles"),
                Expr::col((a("roles"), a("id"))).equals((a("user_roles"), a("role_id"))),
            )
            .and_where(Expr::col((a("user_roles"), a("user_id"))).eq(user_id))
            .order_by((a("user_roles"), a("id")), Order::Asc)
            .limit(1)
            .to_owned();
        let Some(row) = db
            .query_one(db.build(&select))
            .await
            .map_err(Error::internal)?
        else {
            return Ok(Value::Null);
        };
        let role_id: i64 = row.try_get("", "id").map_err(Error::internal)?;
        let name: Option<String> = row.try_get("", "name").map_err(Error::internal)?;
        let slugs = Query::select()
            .column((a("access_scopes"), a("slug")))
            .from(a("role_access_scopes"))
            .inner_join(
                a("access_scopes"),
                Expr::col((a("access_scopes"), a("id")))
                    .equals((a("role_access_scopes"), a("access_scope_id"))),
            )
            .and_where(Expr::col((a("role_access_scopes"), a("role_id"))).eq(role_id))
            .order_by((a("access_scopes"), a("id")), Order::Asc)
            .to_owned();
        let rows = db
            .query_all(db.build(&slugs))
            .await
            .map_err(Error::internal)?;
        let mut permissions = Vec::with_capacity(rows.len());
        for row in rows {
            let slug: String = row.try_get("", "slug").map_err(Error::internal)?;
            permissions.push(Value::String(slug));
        }
        Ok(json!({ "_id": role_id.to_string(), "name": name, "permissions": permissions }))
    }
}

/// How much of another user's role a caller sees on `/v1/users`: who holds which role
/// needs `user_roles_read` or `roles_read`; the role's scope slugs also need `roles_read`
/// or `role_scopes_read`. One's own record shows everything, as on `users`.
enum RoleView {
    Hidden,
    Name,
    Full,
}

fn role_view(ctx: &Ctx<'_>, own: bool) -> RoleView {
    let Some(principal) = ctx.params.principal.as_ref().filter(|_| !own) else {
        return RoleView::Full; // one's own record, or a server-side call
    };
    let scopes = &principal.scopes;
    if scopes.has_any(&["roles_read", "roles"]) {
        RoleView::Full
    } else if scopes.has("user_roles_read") {
        if scopes.has("role_scopes_read") {
            RoleView::Full
        } else {
            RoleView::Name
        }
    } else {
        RoleView::Hidden
    }
}

#[async_trait]
impl Service for V1UsersService {
    fn methods(&self) -> &'static [Method] {
        &[Method::Find]
    }

    fn policy(&self) -> &Policy {
        &self.policy
    }

    fn schema(&self) -> Option<Value> {
        let text = json!({ "type": ["string", "null"] });
        Some(json!({
            "record": { "type": "object", "properties": {
                "users": { "type": "array", "items": { "type": "object", "properties": {
                    "_id": text, "name": text, "email": text, "username": text,
                    "role": { "type": ["object", "null"] },
                    "invited_date": text, "invited_by": text, "joined_date": text,
                    "updated_date": text, "updated_by": text } } },
                "pagination": { "type": "object", "properties": {
                    "page": { "type": "integer" }, "page_size": { "type": "integer" },
                    "page_count": { "type": "integer" }, "total_document": { "type": "integer" } } },
            } },
            "find": "record",
            "query": { "type": "object", "properties": {
                "page": { "type": "integer", "minimum": 1 },
                "page_size": { "type": "integer", "minimum": 1 } } },
        }))
    }

    async fn find(&self, ctx: &Ctx<'_>) -> Result<Value> {
        let query = &ctx.params.query;
        let page = positive(query, "page", 1)?;
        let max = Ord::max(self.accounts.config.paginate.max, 1);
        let page_size = Ord::min(positive(query, "page_size", 10)?, max);
        // A view over `users.find` as this caller: its scopes, own-record rule and field
        // rules decide which accounts and fields are listed.
        let mut params = ctx.params.clone();
        params.query = Map::from_iter([
            ("$sort".to_string(), json!({ "id": 1 })),
            ("$limit".to_string(), json!(page_size)),
            (
                "$skip".to_string(),
                json!(page.saturating_sub(1).saturating_mul(page_size)),
            ),
        ]);
        let found = self
            .accounts
            .run_users(ctx.pipeline, Method::Find, None, Value::Null, params)
            .await?;
        let total = found["total"].as_u64().unwrap_or(0);
        let me = ctx.params.user_id();
        let records = found["data"].as_array().cloned().unwrap_or_default();
        let mut users = Vec::with_capacity(records.len());
        for user in records {
            let Some(id) = user["id"].as_i64() else {
                continue;
            };
            let parts: Vec<&str> = ["first_name", "middle_name", "last_name"]
                .iter()
                .filter_map(|f| user[*f].as_str())
                .filter(|s| !s.trim().is_empty())
                .collect();
            let name = (!parts.is_empty()).then(|| parts.join(" "));
            let role = match role_view(ctx, Some(id) == me) {
                RoleView::Hidden => Value::Null,
                RoleView::Name => {
                    let mut role = self.role(ctx.db, id).await?;
                    if let Some(role) = role.as_object_mut() {
                        role.insert("permissions".into(), Value::Null);
                    }
                    role
                }
                RoleView::Full => self.role(ctx.db, id).await?,
            };
            let field = |f: &str| user.get(f).cloned().unwrap_or(Value::Null);
            let id_text = |f: &str| {
                user[f]
                    .as_i64()
                    .map_or(Value::Null, |i| json!(i.to_string()))
            };
            users.push(json!({
                "_id": id.to_string(),
                "name": name,
                "email": field("email"),
                "username": field("username"),
                "role": role,
                "invited_date": field("invited_date"),
                "invited_by": id_text("invited_by"),
                "joined_date": field("joined_date"),
                "updated_date": field("updated_at"),
                "updated_by": id_text("updated_by"),
            }));
        }
        Ok(json!({
            "users": users,
            "pagination": {
                "page": page,
                "page_size": page_size,
                "page_count": total.div_ceil(page_size),
                "total_document": total,
            },
        }))
    }
}
