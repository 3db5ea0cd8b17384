//! `users` — accounts.
//!
//! - Path `users`; methods find, get, create, update, patch, remove; paginated; multi off.
//! - Output: `id, username, email, first_name, middle_name, last_name, picture, locale,
//!   phone, email_verified_at, phone_verified_at, invited_by, invited_date, joined_date,
//!   updated_by, created_at, updated_at`. **`password` is never returned** (write-only
//!   column: not selectable, not filterable).
//! - Input: `username email password first_name middle_name last_name picture locale
//!   phone`. `email` is required, trimmed, lowercased and must look like an address;
//!   `username`, `email` and `phone` are unique (409 naming the field). `password` must
//!   respect `config.password` (min/max length; not one of the 3,000 most common passwords;
//!   not the user's email or username) and is
//!   stored as an argon2id hash. It is required on create from outside and on update
//!   (server-side calls may create a user without one: invitations).
//! - `email_verified_at`, `phone_verified_at`, `invited_by`, `invited_date`, `joined_date`
//!   are written by server-side calls only (verification, invitation flows); `updated_by`
//!   is set to the caller on update / patch. `joined_date` is set when a user is created
//!   with a password.
//! - A sign-up (create with no caller) whose email or phone has an account answers like a
//!   new account without writing one, and mails the owner. An email change by a caller
//!   without `users_read` waits for the link sent to the new address (`accounts::email_change`,
//!   completed by `verify`). See the README, "Answers that do not tell whether an address
//!   has an account".
//! - Access: `create` follows `signup.open` (`Access::Signup`); the rest needs a caller.
//!   Scopes (prefix `users`): `users_read`, `users_create`, `users_write`, `users_remove`
//!   and the field scopes of DESIGN §4.
//! - Events: `users created|updated|patched|removed` (never with the password).

use async_trait::async_trait;
use serde_json::{Map, Value, json};

use crate::accounts::{email_change, tokens};
use crate::auth::throttle::RateLimit;
use crate::auth::{grants, password};
use crate::config::{Config, PasswordConfig};
use crate::error::{Error, Result};
use crate::notify::{Message, Notifier, To, templates};
use crate::service::{Access, Call, Caller, Ctx, Method, Policy, Rows, ScopeRule};
use crate::store::audit::record_custom;
use crate::store::{
    Change, Column, Prepared, SqlService, StandIn, Table, WriteRules, now, parse_id,
};

mod authorize;
pub mod fields;

pub use authorize::CURRENT_PASSWORD;

pub const PATH: &str = "users";

/// Who may do what (DESIGN §4): sign-up follows `signup.open`; a user reads and patches
/// their own record without a scope; removing a user removes their roles (CASCADE).
pub const POLICY: Policy = Policy {
    create: Access::Signup,
    ..Policy::scoped(
        ScopeRule::crud(
            "users",
            "users_read",
            "users_create",
            "users_write",
            "users_remove",
        )
        .own("id", &[Method::Find, Method::Get, Method::Patch]),
    )
    .changes_scopes(&[Method::Remove])
    .rows(Rows::Accounts)
    .readable_fields(fields::readable_users_fields)
};

pub fn table() -> Table {
    Table::new(PATH)
        .column(Column::text("username"))
        .column(Column::text("email").required())
        .column(Column::text("password").write_only())
        .column(Column::text("first_name"))
        .column(Column::text("middle_name"))
        .column(Column::text("last_name"))
        .column(Column::text("picture").max_len(2_048))
        .column(Column::text("locale"))
        .column(Column::text("phone"))
        .column(Column::timestamp("email_verified_at").internal_write())
        .column(Column::timestamp("phone_verified_at").internal_write())
        .column(
            Column::integer("invited_by")
                .internal_write()
                .references(PATH),
        )
        .column(Column::timestamp("invited_date").internal_write())
        .column(Column::timestamp("joined_date").internal_write())
        .column(Column::integer("updated_by").read_only().references(PATH))
        .unique(&["username"])
        .unique(&["email"])
        .unique(&["phone"])
}

/// Fields that decide who can sign in to an account (a new password, or an address that
/// receives codes and recovery links).
const SIGN_IN_FIELDS: [&str; 3] = ["password", "email", "phone"];

/// The fields of user `id` that an outside caller may not write (another user's fields
/// without their `users_write_<field>` scope): an `update` keeps them as they are.
fn unwritable_fields(ctx: &Ctx<'_>, table: &Table, id: &Value) -> Vec<&'static str> {
    let Some(principal) = ctx
        .params
        .principal
        .as_ref()
        .filter(|_| !ctx.params.is_internal())
    else {
        return Vec::new();
    };
    if principal.scopes.is_full() || parse_id(id) == Some(principal.user_id) {
        return Vec::new();
    }
    table
        .columns()
        .iter()
        .map(|c| c.name)
        .filter(|f| fields::write_scope(f).is_some_and(|s| !principal.scopes.has(s)))
        .collect()
}

/// Email normalisation, the password policy and hashing, server-set values.
struct UserRules {
    password: PasswordConfig,
    passwords: std::sync::Arc<password::PasswordGate>,
    /// Tells an old address that the account moved away from it.
    notifier: std::sync::Arc<Notifier>,
    /// Mails these rules send on behalf of someone else (stand-in notices, change links),
    /// per recipient: repeated sign-ups or change requests must not flood an inbox. Past
    /// the limit nothing is sent and the answer stays the same.
    unasked_mail: RateLimit,
}

/// Unasked-for mails one address may receive per hour from sign-ups and email changes.
const UNASKED_MAIL_PER_HOUR: u32 = 3;

pub fn service(
    config: &Config,
    passwords: std::sync::Arc<password::PasswordGate>,
    notifier: std::sync::Arc<Notifier>,
) -> SqlService {
    SqlService::new(table(), POLICY)
        .paginate(Some(config.paginate))
        .with_rules(UserRules {
            password: config.password.clone(),
            passwords,
            notifier,
            unasked_mail: RateLimit::new(
                UNASKED_MAIL_PER_HOUR,
                3_600_000,
                "Too many messages to this address",
            ),
        })
}

/// The form an email is stored in (and compared in): trimmed, lowercased.
pub fn normalize_email(email: &str) -> String {
    email.trim().to_lowercase()
}

/// A plausible address: `local@domain.tld`, no spaces or control characters.
pub fn valid_email(email: &str) -> bool {
    let Some((local, domain)) = email.rsplit_once('@') else {
        return false;
    };
    email.len() <= 254
        && !local.is_empty()
        && local.len() <= 64
        && !email.chars().any(|c| c.is_whitespace() || c.is_control())
        && domain.contains('.')
        && !domain.starts_with(['.', '-'])
        && !domain.ends_with(['.', '-'])
        && !domain.contains("..")
        && domain
            .chars()
            .all(|c| c.is_alphanumeric() || c == '.' || c == '-')
}

fn field_error(field: &str, message: String, detail: &str) -> Error {
    Error::bad_request(message).with_errors(json!({ field: detail }))
}

/// A password policy error. The message states the rule; there is deliberately no
/// `errors.password` entry, so no error body carries a key about passwords at all.
fn password_error(rule: &str) -> Error {
    Error::bad_request(format!("Password {rule}"))
}

/// Enforces the password policy (DESIGN §3): length in characters, not one of the 3,000
/// most common passwords, then `auth::password_policy` (not repetitive or sequential, not
/// mostly the account's own words, not one of its identifiers). `data`: the account's
/// values (see `password_policy::account_context`).
pub fn check_password(
    config: &PasswordConfig,
    password: &str,
    data: &Map<String, Value>,
) -> Result<()> {
    let length = password.chars().count();
    if length < config.min_length {
        return Err(password_error(&format!(
            "must be at least {} characters long",
            config.min_length
        )));
    }
    if length > config.max_length {
        return Err(password_error(&format!(
            "must be at most {} characters long",
            config.max_length
        )));
    }
    if crate::auth::common_passwords::is_common(password) {
        return Err(password_error(
            "is too common: it is one of the most used passwords",
        ));
    }
    crate::auth::password_policy::check(password, data).map_err(|rule| password_error(&rule))
}

/// Whether the caller may read every account anyway (so a conflict tells them nothing).
fn reads_accounts(ctx: &Ctx<'_>) -> bool {
    ctx.params.is_internal()
        || ctx
            .params
            .principal
            .as_ref()
            .is_some_and(|p| p.scopes.has("users_read"))
}

/// The account an address or id names, as far as these rules need it.
struct Holder {
    id: i64,
    email: String,
    locale: Option<String>,
}

async fn holder_where(
    ctx: &Ctx<'_>,
    column: &str,
    value: impl Into<sea_orm::Value>,
) -> Result<Option<Holder>> {
    use sea_orm::sea_query::{Alias, Expr, ExprTrait, Query};
    let select = Query::select()
        .columns([Alias::new("id"), Alias::new("email"), Alias::new("locale")])
        .from(Alias::new(PATH))
        .and_where(Expr::col(Alias::new(column)).eq(value))
        .limit(1)
        .to_owned();
    let row = ctx
        .db
        .query_one(ctx.db.build(&select))
        .await
        .map_err(Error::internal)?;
    let Some(row) = row else { return Ok(None) };
    Ok(Some(Holder {
        id: row.try_get("", "id").map_err(Error::internal)?,
        email: row.try_get("", "email").map_err(Error::internal)?,
        locale: row.try_get("", "locale").map_err(Error::internal)?,
    }))
}

/// The account whose `field` (`email` / `phone`, in stored form) is `value`.
async fn account_with(ctx: &Ctx<'_>, field: &str, value: &str) -> Result<Option<Holder>> {
    holder_where(ctx, field, value.to_string()).await
}

async fn account_by_id(ctx: &Ctx<'_>, id: i64) -> Result<Option<Holder>> {
    holder_where(ctx, "id", id).await
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Write {
    Create,
    Update,
    Patch,
}

impl UserRules {
    /// Normalises the email, checks and hashes the password; other checks are the store's.
    async fn prepare(
        &self,
        ctx: &Ctx<'_>,
        id: Option<&Value>,
        data: Value,
        write: Write,
        keep: &[&str],
    ) -> Result<Value> {
        let Value::Object(mut data) = data else {
            return Ok(data); // the store answers "Data must be an object"
        };
        let password_needed = match write {
            Write::Create => !ctx.params.is_internal(),
            Write::Update => !keep.contains(&"password"),
            Write::Patch => false,
        };
        let mut missing = Vec::new();
        if write != Write::Patch && data.get("email").is_none_or(Value::is_null) {
            missing.push("email");
        }
        if password_needed && data.get("password").is_none_or(Value::is_null) {
            missing.push("password");
        }
        if !missing.is_empty() {
            // `errors` names the fields, except the password (see `password_error`).
            let mut errors = Map::new();
            for field in missing.iter().filter(|f| **f != "password") {
                errors.insert((*field).to_string(), json!("is required"));
            }
            let list = missing.iter().map(|f| format!("'{f}'")).collect::<Vec<_>>();
            let verb = if missing.len() == 1 { "is" } else { "are" };
            let error = Error::bad_request(format!("{} {verb} required", list.join(" and ")));
            return Err(if errors.is_empty() {
                error
            } else {
                error.with_errors(Value::Object(errors))
            });
        }
        if let Some(email) = data.get("email").filter(|v| !v.is_null()) {
            let Value::String(email) = email else {
                return Err(field_error(
                    "email",
                    "Invalid value for 'email': expected a string".into(),
                    "must be a string",
                ));
            };
            let email = normalize_email(email);
            if !valid_email(&email) {
                return Err(field_error(
                    "email",
                    "'email' must be a valid email address".into(),
                    "must be a valid email address",
                ));
            }
            data.insert("email".into(), Value::String(email));
        }
        match data.get("password") {
            None => {}
            Some(Value::String(plain)) => {
                let own = crate::auth::password_policy::account_context(ctx.db, id, &data).await?;
                check_password(&self.password, plain, &own)?;
                let hash = self.passwords.hash(plain.clone()).await?;
                data.insert("password".into(), Value::String(hash));
            }
            Some(_) => {
                return Err(password_error("must be a string"));
            }
        }
        Ok(Value::Object(data))
    }

    /// A changed email or phone is no longer verified: clears `email_verified_at` /
    /// `phone_verified_at` when the write changes that address, retires every unused code
    /// and link sent to the old one, and tells the old address.
    async fn verified_resets(
        &self,
        ctx: &Ctx<'_>,
        id: Option<&Value>,
        data: &Value,
        write: Write,
        keep: &[&str],
    ) -> Result<Map<String, Value>> {
        let mut out = Map::new();
        let Value::Object(data) = data else {
            return Ok(out);
        };
        // The store reads ids the same way (`parse_id`): `28`, `"28"` and `28.0` are row 28.
        let id = id.and_then(parse_id);
        let touches =
            |f: &str| (write == Write::Update && !keep.contains(&f)) || data.contains_key(f);
        let Some(id) = id.filter(|_| touches("email") || touches("phone")) else {
            return Ok(out);
        };
        use sea_orm::sea_query::{Alias, Expr, ExprTrait, Query};
        let select = Query::select()
            .columns([
                Alias::new("email"),
                Alias::new("phone"),
                Alias::new("locale"),
            ])
            .from(Alias::new("users"))
            .and_where(Expr::col(Alias::new("id")).eq(id))
            .to_owned();
        let row = ctx
            .db
            .query_one(ctx.db.build(&select))
            .await
            .map_err(Error::internal)?;
        let Some(row) = row else { return Ok(out) };
        for (field, verified) in [
            ("email", "email_verified_at"),
            ("phone", "phone_verified_at"),
        ] {
            if !touches(field) {
                continue;
            }
            let current: Option<String> = row.try_get("", field).map_err(Error::internal)?;
            let next = data.get(field).and_then(Value::as_str);
            if current.as_deref() != next {
                out.insert(verified.into(), Value::Null);
                // Codes and links sent to the old address prove nothing any more.
                tokens::retire_channel(ctx.db, id, field).await?;
                if let (Some(old), Some(new)) = (current, next) {
                    let locale: Option<String> =
                        row.try_get("", "locale").map_err(Error::internal)?;
                    self.tell_old_address(ctx, id, field, old, new, locale.as_deref())
                        .await?;
                }
            }
        }
        Ok(out)
    }

    /// Tells the old address that the account's `field` moved to `new` (masked). Sent
    /// only when the new address is free: a taken one fails the write (409) right after,
    /// and the old address must not hear of a change that did not happen.
    async fn tell_old_address(
        &self,
        ctx: &Ctx<'_>,
        id: i64,
        field: &str,
        old: String,
        new: &str,
        locale: Option<&str>,
    ) -> Result<()> {
        let taken = account_with(ctx, field, new).await?;
        if taken.is_some_and(|holder| holder.id != id) {
            return Ok(());
        }
        let (to, new) = if field == "phone" {
            (To::Phone(old), To::Phone(new.to_string()))
        } else {
            (To::Email(old), To::Email(new.to_string()))
        };
        let (subject, body) = templates::address_changed(locale, field, &new.masked());
        self.notifier.send(Message { to, subject, body });
        Ok(())
    }

    /// A sign-up (a create with no caller) with an email or phone that already has an
    /// account answers like a new account without writing one ([`StandIn`]), and the
    /// owner is told by mail: the answer never says whether the address is taken.
    async fn signup_stand_in(&self, ctx: &Ctx<'_>, data: &Value) -> Result<Option<StandIn>> {
        if ctx.params.is_internal() || ctx.params.principal.is_some() {
            return Ok(None);
        }
        let mut stand_in = StandIn::default();
        let mut owner = None;
        for field in ["email", "phone"] {
            let Some(value) = data.get(field).and_then(Value::as_str) else {
                continue;
            };
            let Some(account) = account_with(ctx, field, value).await? else {
                continue;
            };
            // Unique, and never a real address (`.invalid` is reserved, RFC 2606).
            let placeholder = format!("stand-in-{}@roost.invalid", tokens::random_token());
            stand_in
                .placeholders
                .insert(field.into(), json!(placeholder));
            stand_in.shown.insert(field.into(), json!(value));
            owner.get_or_insert(account);
        }
        let Some(owner) = owner else {
            return Ok(None);
        };
        record_custom(ctx.db, "signup_existing_address", Some(owner.id)).await?;
        let (subject, body) = templates::address_in_use(owner.locale.as_deref());
        self.send_unasked(To::Email(owner.email), subject, body);
        Ok(Some(stand_in))
    }

    /// A caller who cannot read every account does not move an account to a new email at
    /// once: the email is taken out of the write (kept as it is on an update) and a link
    /// goes to the new address, or a notice to its owner when it has an account
    /// (`accounts::email_change`). The answer is the same either way.
    async fn defer_email_change(
        &self,
        ctx: &Ctx<'_>,
        target: i64,
        data: &mut Value,
        write: Write,
        keep: &mut Vec<&'static str>,
    ) -> Result<()> {
        if reads_accounts(ctx) {
            return Ok(());
        }
        let Some(new) = data
            .get("email")
            .and_then(Value::as_str)
            .map(str::to_string)
        else {
            return Ok(());
        };
        let Some(account) = account_by_id(ctx, target).await? else {
            return Ok(()); // the write answers 404
        };
        if account.email == new {
            return Ok(());
        }
        if let Value::Object(map) = data {
            map.remove("email");
        }
        if write == Write::Update {
            keep.push("email");
        }
        let secret = tokens::random_token();
        email_change::request(ctx.db, target, &new, &secret).await?;
        record_custom(ctx.db, "email_change_requested", Some(target)).await?;
        let (subject, body) = match account_with(ctx, "email", &new).await? {
            Some(owner) => templates::address_in_use(owner.locale.as_deref()),
            None => templates::confirm_email_change(account.locale.as_deref(), &new, &secret),
        };
        self.send_unasked(To::Email(new), subject, body);
        Ok(())
    }

    /// Sends a mail the recipient did not ask for, within [`UNASKED_MAIL_PER_HOUR`].
    fn send_unasked(&self, to: To, subject: String, body: String) {
        let key = match &to {
            To::Email(address) | To::Phone(address) => address.clone(),
        };
        if self.unasked_mail.hit(&key).is_ok() {
            self.notifier.send(Message { to, subject, body });
        }
    }

    /// Values the service sets itself.
    fn server_values(ctx: &Ctx<'_>, data: &Value, write: Write) -> Map<String, Value> {
        let mut server = Map::new();
        match write {
            Write::Create => {
                if data.get("password").is_some_and(Value::is_string) {
                    server.insert("joined_date".into(), json!(now().to_rfc3339()));
                }
            }
            Write::Update | Write::Patch => {
                if let Some(actor) = ctx.params.user_id() {
                    server.insert("updated_by".into(), json!(actor));
                }
            }
        }
        server
    }
}

#[async_trait]
impl WriteRules for UserRules {
    async fn before_write(
        &self,
        ctx: &Ctx<'_>,
        store: &SqlService,
        change: Change<'_>,
        data: Value,
    ) -> Result<Prepared> {
        let write = match change {
            Change::Create => Write::Create,
            Change::Update(_) => Write::Update,
            Change::Patch(_) | Change::Remove(_) => Write::Patch,
        };
        if let Some(target) = change.id().and_then(parse_id)
            && SIGN_IN_FIELDS.iter().any(|f| data.get(f).is_some())
        {
            grants::may_act_as(ctx, target).await?;
        }
        let mut keep = match change {
            Change::Update(id) => unwritable_fields(ctx, store.table(), id),
            _ => Vec::new(),
        };
        let mut data = self.prepare(ctx, change.id(), data, write, &keep).await?;
        let mut server = Self::server_values(ctx, &data, write);
        let mut stand_in = None;
        if write == Write::Create {
            stand_in = self.signup_stand_in(ctx, &data).await?;
        } else {
            if let Some(target) = change.id().and_then(parse_id) {
                self.defer_email_change(ctx, target, &mut data, write, &mut keep)
                    .await?;
            }
            server.extend(
                self.verified_resets(ctx, change.id(), &data, write, &keep)
                    .await?,
            );
        }
        Ok(Prepared {
            data,
            server,
            keep,
            stand_in,
        })
    }

    async fn authorize(&self, caller: &Caller<'_>, call: &mut Call) -> Result<()> {
        authorize::check(&self.passwords, caller, call).await
    }

    fn schema(&self, schema: &mut Value) {
        // The column is nullable (invited users have none yet), but callers must send one.
        if let Some(required) = schema["data"]["required"].as_array_mut() {
            required.push(json!("password"));
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn emails() {
        for ok in ["a@b.co", "jane.doe+x@mail.example.org", "ü@bücher.de"] {
            assert!(valid_email(ok), "{ok}");
        }
        for bad in [
            "",
            "not-an-email",
            "a@b",
            "@b.co",
            "a@.co",
            "a b@c.co",
            "a@b..co",
            "a@b.co.",
            "a@-b.co",
        ] {
            assert!(!valid_email(bad), "{bad}");
        }
    }

    #[test]
    fn password_rules_say_the_rule() {
        let config = PasswordConfig::default();
        let data = Map::new();
        let e = check_password(&config, "short", &data).unwrap_err();
        assert_eq!(e.message, "Password must be at least 12 characters long");
        let e = check_password(&config, &"x".repeat(129), &data).unwrap_err();
        assert_eq!(e.message, "Password must be at most 128 characters long");
        assert!(check_password(&config, "Quiet-Lantern-Orbit-77", &data).is_ok());
        let e = check_password(&config, "Q1W2E3R4T5Y6", &data).unwrap_err();
        assert_eq!(
            e.message,
            "Password is too common: it is one of the most used passwords"
        );
        // Characters, not bytes (12 two-byte characters).
        assert!(check_password(&config, "éèêëēėęÿûüùú", &data).is_ok());
        let mut data = Map::new();
        data.insert("email".into(), json!("Long.Enough@Example.com"));
        assert!(check_password(&config, "long.enough@example.com", &data).is_err());
    }
}
