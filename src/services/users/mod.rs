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
//!
//! This file holds the table, the policy and the write rules' order; the input checks
//! are in `input.rs`, address changes and sign-ups with a taken address in
//! `addresses.rs`, the outside-write rules in `authorize.rs`, field visibility in
//! `fields.rs`.

use async_trait::async_trait;
use serde_json::{Map, Value, json};

use crate::auth::throttle::RateLimit;
use crate::auth::{grants, password};
use crate::config::{Config, PasswordConfig};
use crate::error::Result;
use crate::notify::Notifier;
use crate::service::{Access, Call, Caller, Ctx, Method, Policy, Rows, ScopeRule};
use crate::store::{Change, Column, Prepared, SqlService, Table, WriteRules, now, parse_id};

mod addresses;
mod authorize;
pub mod fields;
mod input;

pub use authorize::CURRENT_PASSWORD;
pub use input::{check_password, normalize_email, valid_email};

/// Named by `auth`, which loads principals from this service.
pub const PATH: &str = crate::auth::principal::USERS_PATH;

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
    .readable_fields(fields::READABLE)
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

#[derive(Clone, Copy, PartialEq, Eq)]
enum Write {
    Create,
    Update,
    Patch,
}

impl UserRules {
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
