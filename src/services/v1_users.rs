//! The /v1 user API (seed 002, DESIGN §6).
//!
//! - `v1/users` `find` (`GET /v1/users?page=&page_size=`) -> `{users: [{_id, name, email,
//!   username, role: {_id, name, permissions}, invited_date, invited_by, joined_date,
//!   updated_date, updated_by}], pagination: {page, page_size, page_count,
//!   total_document}}`; ids as strings, `role` is the user's first global role (or null)
//!   with its scope slugs as `permissions`. Default page size 10, capped by
//!   `paginate.max`.
//! - `v1/users/invite` `create({email})` (`POST /v1/users/invite`) -> `{}`: creates a
//!   pending user (no password) with `invited_by` / `invited_date` and mails a random
//!   token (192 bits, stored hashed, single use, 7 days), audited as `invited`.
//!   Re-inviting a pending user issues a new token (the old one dies); inviting a member
//!   who has joined is 409.
//! - `v1/users/invite` `patch(email, {token, password})` -> `{joined: true}`: anyone
//!   holding the token sets the password (policy applies) and `joined_date` (the address
//!   counts as verified). Wrong, used or expired tokens, unknown addresses and members
//!   who already joined all answer the same 400.
//!
//! Authorization is the `users` scope rule (`policy::scope_rule("users")`), applied here
//! because the seed's `page` / `page_size` are not user fields: `find` needs `users_read`
//! (else it lists the caller alone), `invite` needs `users_create`; field scopes hide
//! another user's name / email as on `users`.

use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, SecondsFormat, Utc};
use sea_orm::TransactionTrait;
use sea_orm::sea_query::{Alias, Expr, ExprTrait, Func, Order, Query, SelectStatement};
use serde_json::{Map, Value, json};

use super::verify::INVALID_TOKEN;
use crate::auth::fields;
use crate::error::{Error, Result};
use crate::hooks::record_custom;
use crate::notify::accounts::{self, Accounts};
use crate::notify::tokens::{self, Purpose};
use crate::notify::{Kind, Message, To};
use crate::service::policy::scope_rule;
use crate::service::{Access, Ctx, Db, Method, Params, Policy, Service};

pub const USERS_PATH: &str = "v1/users";
pub const INVITE_PATH: &str = "v1/users/invite";

const INVITE_DAYS: i64 = 7;

fn a(name: &str) -> Alias {
    Alias::new(name)
}

fn policy(create: Access, patch: Access, find: Access) -> Policy {
    Policy {
        find,
        get: Access::Deny,
        create,
        update: Access::Deny,
        patch,
        remove: Access::Deny,
        scope_prefix: None,
        audit: false,
        publish: false,
    }
}

/// What the caller may do under the `users` rule: `Ok(true)` with the method's scope,
/// `Ok(false)` for own records only, else 401 / 403.
fn authorize(ctx: &Ctx<'_>, method: Method) -> Result<bool> {
    if ctx.params.is_internal() {
        return Ok(true);
    }
    let principal = ctx
        .params
        .principal
        .as_ref()
        .ok_or_else(|| Error::not_authenticated("Not authenticated"))?;
    let scopes = &principal.scopes;
    if scopes.is_full() {
        return Ok(true);
    }
    let rule = scope_rule("users").ok_or_else(|| Error::forbidden("No rule for users"))?;
    if scopes.has_any(&rule.required(method)) {
        return Ok(true);
    }
    if rule.own_for(method).is_some() {
        return Ok(false);
    }
    Err(Error::forbidden(format!(
        "You are not allowed to {} {}",
        method.as_str(),
        ctx.path
    )))
}

fn stamp(value: Option<DateTime<Utc>>) -> Value {
    value.map_or(Value::Null, |d| {
        json!(d.to_rfc3339_opts(SecondsFormat::Millis, true))
    })
}

fn id_string(value: Option<i64>) -> Value {
    value.map_or(Value::Null, |id| json!(id.to_string()))
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

fn filtered(select: &mut SelectStatement, own: Option<i64>) {
    if let Some(me) = own {
        select.and_where(Expr::col(a("id")).eq(me));
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
        let all = authorize(ctx, Method::Find)?;
        let me = ctx.params.user_id();
        let own = if all { None } else { me };
        let query = &ctx.params.query;
        let page = positive(query, "page", 1)?;
        let max = Ord::max(self.accounts.config.paginate.max, 1);
        let page_size = Ord::min(positive(query, "page_size", 10)?, max);
        let mut count = Query::select()
            .expr_as(Func::count(Expr::col(a("id"))), a("total"))
            .from(a("users"))
            .to_owned();
        filtered(&mut count, own);
        let db = ctx.db;
        let total: i64 = match db
            .query_one(db.build(&count))
            .await
            .map_err(Error::internal)?
        {
            Some(row) => row.try_get("", "total").map_err(Error::internal)?,
            None => 0,
        };
        let total = u64::try_from(total).unwrap_or(0);
        let mut select = Query::select()
            .columns(
                [
                    "id",
                    "first_name",
                    "middle_name",
                    "last_name",
                    "email",
                    "username",
                    "invited_date",
                    "invited_by",
                    "joined_date",
                    "updated_at",
                    "updated_by",
                ]
                .map(a),
            )
            .from(a("users"))
            .order_by(a("id"), Order::Asc)
            .limit(page_size)
            .offset(page.saturating_sub(1).saturating_mul(page_size))
            .to_owned();
        filtered(&mut select, own);
        let readable = ctx
            .params
            .principal
            .as_ref()
            .filter(|p| !p.scopes.is_full())
            .map(|p| fields::readable_users_fields(&p.scopes));
        let rows = db
            .query_all(db.build(&select))
            .await
            .map_err(Error::internal)?;
        let mut users = Vec::with_capacity(rows.len());
        for row in rows {
            let get_text = |c: &str| {
                row.try_get::<Option<String>>("", c)
                    .map_err(Error::internal)
            };
            let get_time = |c: &str| {
                row.try_get::<Option<DateTime<Utc>>>("", c)
                    .map_err(Error::internal)
            };
            let get_id = |c: &str| row.try_get::<Option<i64>>("", c).map_err(Error::internal);
            let id: i64 = row.try_get("", "id").map_err(Error::internal)?;
            let parts: Vec<String> = [
                get_text("first_name")?,
                get_text("middle_name")?,
                get_text("last_name")?,
            ]
            .into_iter()
            .flatten()
            .filter(|s| !s.trim().is_empty())
            .collect();
            let name = (!parts.is_empty()).then(|| parts.join(" "));
            let sees = |field: &str| {
                Some(id) == me || readable.as_ref().is_none_or(|r| r.contains(&field))
            };
            let hidden = |field: &str, value: Value| if sees(field) { value } else { Value::Null };
            let role = match role_view(ctx, Some(id) == me) {
                RoleView::Hidden => Value::Null,
                RoleView::Name => {
                    let mut role = self.role(db, id).await?;
                    if let Some(role) = role.as_object_mut() {
                        role.insert("permissions".into(), Value::Null);
                    }
                    role
                }
                RoleView::Full => self.role(db, id).await?,
            };
            users.push(json!({
                "_id": id.to_string(),
                "name": hidden("first_name", json!(name)),
                "email": hidden("email", json!(get_text("email")?)),
                "username": get_text("username")?,
                "role": role,
                "invited_date": hidden("invited_date", stamp(get_time("invited_date")?)),
                "invited_by": hidden("invited_by", id_string(get_id("invited_by")?)),
                "joined_date": hidden("joined_date", stamp(get_time("joined_date")?)),
                "updated_date": hidden("updated_at", stamp(get_time("updated_at")?)),
                "updated_by": hidden("updated_by", id_string(get_id("updated_by")?)),
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

pub struct InviteService {
    accounts: Arc<Accounts>,
    policy: Policy,
}

impl InviteService {
    pub fn new(accounts: Arc<Accounts>) -> Self {
        Self {
            accounts,
            policy: policy(Access::Authenticated, Access::Public, Access::Deny),
        }
    }

    /// [`Accounts::run_users`] with the inviter as the actor.
    async fn as_inviter(
        &self,
        ctx: &Ctx<'_>,
        method: Method,
        id: Option<Value>,
        data: Value,
    ) -> Result<Value> {
        let mut params = Params::internal();
        params.principal = ctx.params.principal.clone();
        self.accounts.run_users(method, id, data, params).await
    }
}

#[async_trait]
impl Service for InviteService {
    fn methods(&self) -> &'static [Method] {
        &[Method::Create, Method::Patch]
    }

    fn policy(&self) -> &Policy {
        &self.policy
    }

    fn schema(&self) -> Option<Value> {
        let text = json!({ "type": "string" });
        Some(json!({
            "record": { "type": "object" },
            "data": { "type": "object", "properties": { "email": text, "token": text, "password": text } },
        }))
    }

    async fn create(&self, ctx: &Ctx<'_>, data: Value) -> Result<Value> {
        if !authorize(ctx, Method::Create)? {
            return Err(Error::forbidden(format!(
                "You are not allowed to create {}",
                ctx.path
            )));
        }
        let data = accounts::object(data)?;
        let (_, email) = accounts::address(&data, false)?;
        let inviter = ctx.params.user_id();
        let now = Utc::now().to_rfc3339_opts(SecondsFormat::Millis, true);
        let stamp = json!({ "invited_by": inviter, "invited_date": now });
        // The user row changes through `users`, so it is audited and published like any
        // other change, with the inviter as the actor.
        let (user_id, locale) = match self.accounts.find(ctx.db, "email", &email).await? {
            Some(account) if !account.pending => {
                return Err(Error::conflict("This user is already a member")
                    .with_errors(json!({ "email": "already a member" })));
            }
            Some(account) => {
                self.as_inviter(ctx, Method::Patch, Some(json!(account.id)), stamp)
                    .await?;
                (account.id, account.locale)
            }
            None => {
                let mut data = stamp;
                data["email"] = Value::String(email.clone());
                let user = self.as_inviter(ctx, Method::Create, None, data).await?;
                let id = user
                    .get("id")
                    .and_then(Value::as_i64)
                    .ok_or_else(|| Error::internal("invited user has no id"))?;
                (id, None)
            }
        };
        let token = tokens::random_token();
        {
            let _writer = self.accounts.write_lock().await;
            let tx = self.accounts.db.begin().await.map_err(Error::internal)?;
            let db = Db::Tx(&tx);
            tokens::issue(
                db,
                user_id,
                Purpose::Invite,
                "email",
                &email,
                &token,
                chrono::Duration::days(INVITE_DAYS),
            )
            .await?;
            record_custom(db, "invited", inviter).await?;
            tx.commit().await.map_err(Error::internal)?;
        }
        let (subject, body) =
            crate::notify::templates::render(Kind::Invite, locale.as_deref(), &token, &email);
        self.accounts.notifier.send(Message {
            to: To::Email(email),
            subject,
            body,
        });
        Ok(json!({}))
    }

    async fn patch(&self, ctx: &Ctx<'_>, id: Option<&Value>, data: Value) -> Result<Value> {
        let (_, email) = super::verify::address_of_id(id, false)?;
        let data = accounts::object(data)?;
        let token =
            accounts::text(&data, "token").map_err(|_| Error::bad_request(INVALID_TOKEN))?;
        let new_password = data
            .get("password")
            .and_then(Value::as_str)
            .ok_or_else(|| Error::bad_request("'password' is required"))?;
        let mut own = Map::new();
        own.insert("email".into(), Value::String(email.clone()));
        super::users::check_password(&self.accounts.config.password, new_password, &own)?;
        let Some(account) = self.accounts.find(ctx.db, "email", &email).await? else {
            return Err(Error::bad_request(INVALID_TOKEN));
        };
        if account.password.is_some()
            || !self
                .accounts
                .consume(
                    &account,
                    Purpose::Invite,
                    "email",
                    &email,
                    token,
                    super::verify::MAX_ATTEMPTS,
                )
                .await?
        {
            return Err(Error::bad_request(INVALID_TOKEN));
        }
        let now = Utc::now().to_rfc3339_opts(SecondsFormat::Millis, true);
        let data = json!({
            "password": new_password,
            "joined_date": now,
            "email_verified_at": now,
        });
        self.accounts
            .run_users(
                Method::Patch,
                Some(json!(account.id)),
                data,
                Params::internal(),
            )
            .await?;
        self.accounts
            .write(Vec::new(), "invite_accepted", account.id)
            .await?;
        Ok(json!({ "joined": true }))
    }
}
