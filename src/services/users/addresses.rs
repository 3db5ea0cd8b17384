//! Changing or claiming an email or phone: a changed address is no longer verified, its
//! unused codes are retired and the old address is told; a sign-up with a taken address
//! gets a stand-in answer and the owner a notice; an email change by a caller who cannot
//! read every account waits for the new address (`accounts::email_change`). No answer
//! tells whether an address has an account, and unasked mail is rate limited.

use serde_json::{Map, Value, json};

use super::{PATH, UserRules, Write};
use crate::accounts::{email_change, tokens};
use crate::error::{Error, Result};
use crate::notify::{Message, To, templates};
use crate::service::Ctx;
use crate::store::audit::record_custom;
use crate::store::{StandIn, parse_id};

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

impl UserRules {
    /// A changed email or phone is no longer verified: clears `email_verified_at` /
    /// `phone_verified_at` when the write changes that address, retires every unused code
    /// and link sent to the old one, and tells the old address.
    pub(super) async fn verified_resets(
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
    pub(super) async fn signup_stand_in(
        &self,
        ctx: &Ctx<'_>,
        data: &Value,
    ) -> Result<Option<StandIn>> {
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
    pub(super) async fn defer_email_change(
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

    /// Sends a mail the recipient did not ask for, within
    /// [`super::UNASKED_MAIL_PER_HOUR`].
    fn send_unasked(&self, to: To, subject: String, body: String) {
        let key = match &to {
            To::Email(address) | To::Phone(address) => address.clone(),
        };
        if self.unasked_mail.hit(&key).is_ok() {
            self.notifier.send(Message { to, subject, body });
        }
    }
}
