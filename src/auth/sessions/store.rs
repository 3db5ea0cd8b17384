//! The session rows: opening one at login, revoking at logout or password change, marking
//! expired ones, and the audit events written in the same transactions.

use std::sync::Arc;

use sea_orm::sea_query::{Expr, ExprTrait, Query};

use super::{NewSession, Sessions, State, TABLE, col};
use crate::auth::useragent;
use crate::error::{Error, Result};
use crate::store::audit::record_custom;

impl Sessions {
    /// Opens a session for a successful login; returns its row id.
    pub async fn open(&self, new: NewSession<'_>) -> Result<i64> {
        let ua = new.connection.user_agent.clone();
        let info = match ua.clone() {
            Some(ua) => tokio::task::spawn_blocking(move || useragent::parse(&ua))
                .await
                .unwrap_or_default(),
            None => useragent::UaInfo::default(),
        };
        let geo = match (&self.geo, new.connection.ip.as_deref()) {
            (Some(db), Some(ip)) => db.lookup(ip),
            _ => Default::default(),
        };
        let encrypted = self.cipher.encrypt(new.token)?;
        let now = chrono::Utc::now();
        let values: Vec<(&str, sea_orm::Value)> = vec![
            ("title", info.title().into()),
            ("user_id", new.user_id.into()),
            ("auth_provider", new.strategy.into()),
            ("ip", new.connection.ip.clone().into()),
            ("city", geo.city.into()),
            ("region", geo.region.into()),
            ("country", geo.country.into()),
            ("loc", geo.loc.into()),
            ("postal", geo.postal.into()),
            ("timezone", geo.timezone.into()),
            ("useragent", ua.into()),
            ("browser_name", info.browser_name.into()),
            ("browser_version", info.browser_version.into()),
            ("engine_name", info.engine_name.into()),
            ("engine_version", info.engine_version.into()),
            ("device_vendor", info.device_vendor.into()),
            ("device_model", info.device_model.into()),
            ("device_type", info.device_type.into()),
            ("os_name", info.os_name.into()),
            ("os_version", info.os_version.into()),
            ("cpu_arch", info.cpu_arch.into()),
            ("encrypted_token", encrypted.into()),
            ("revoked", false.into()),
            ("jti", new.jti.into()),
            ("created_at", now.into()),
            ("updated_at", now.into()),
        ];
        let (names, values): (Vec<_>, Vec<_>) = values.into_iter().unzip();
        let insert = Query::insert()
            .into_table(col(TABLE))
            .columns(names.into_iter().map(col))
            .values(values.into_iter().map(Into::into))
            .map_err(Error::internal)?
            .returning_col(col("id"))
            .to_owned();

        let write = self.db.write().await?;
        let db = write.db();
        let row = db
            .query_one(db.build(&insert))
            .await
            .map_err(Error::internal)?
            .ok_or_else(|| Error::internal("session insert returned no row"))?;
        let id: i64 = row.try_get("", "id").map_err(Error::internal)?;
        if let Some(hash) = new.rehash {
            let update = Query::update()
                .table(col("users"))
                .value(col("password"), hash)
                .and_where(Expr::col(col("id")).eq(new.user_id))
                .to_owned();
            db.execute(db.build(&update))
                .await
                .map_err(Error::internal)?;
        }
        record_custom(db, "login", Some(new.user_id)).await?;
        write.commit().await?;
        self.remember(
            new.jti,
            State {
                id: Some(id),
                revoked: false,
            },
        );
        Ok(id)
    }

    /// Logout: revokes the session of `jti` and records `logout`, in one transaction.
    pub async fn revoke_for_logout(&self, jti: &str, user_id: i64) -> Result<()> {
        let update = Query::update()
            .table(col(TABLE))
            .value(col("revoked"), true)
            .value(col("updated_at"), chrono::Utc::now())
            .and_where(Expr::col(col("jti")).eq(jti))
            .to_owned();
        let write = self.db.write().await?;
        let db = write.db();
        db.execute(db.build(&update))
            .await
            .map_err(Error::internal)?;
        record_custom(db, "logout", Some(user_id)).await?;
        write.commit().await?;
        let id = self.by_jti.get(jti).and_then(|s| s.id);
        self.remember(jti, State { id, revoked: true });
        self.announce(&[jti.to_string()]);
        Ok(())
    }

    /// Revokes every live session of `user_id` except `keep` (the caller's own), recording
    /// `session_revoked` for each; returns the revoked `jti`s.
    pub async fn revoke_user_sessions(
        &self,
        user_id: i64,
        keep: Option<&str>,
    ) -> Result<Vec<String>> {
        let mut select = Query::select()
            .columns([col("id"), col("jti")])
            .from(col(TABLE))
            .and_where(Expr::col(col("user_id")).eq(user_id))
            .and_where(Expr::col(col("revoked")).eq(false))
            .to_owned();
        if let Some(keep) = keep {
            select.cond_where(
                Expr::col(col("jti"))
                    .is_null()
                    .or(Expr::col(col("jti")).ne(keep)),
            );
        }
        let write = self.db.write().await?;
        let db = write.db();
        let rows = db
            .query_all(db.build(&select))
            .await
            .map_err(Error::internal)?;
        let mut revoked = Vec::new();
        for row in rows {
            let id: i64 = row.try_get("", "id").map_err(Error::internal)?;
            let jti: Option<String> = row.try_get("", "jti").map_err(Error::internal)?;
            let update = Query::update()
                .table(col(TABLE))
                .value(col("revoked"), true)
                .value(col("updated_at"), chrono::Utc::now())
                .and_where(Expr::col(col("id")).eq(id))
                .to_owned();
            db.execute(db.build(&update))
                .await
                .map_err(Error::internal)?;
            record_custom(db, "session_revoked", Some(user_id)).await?;
            if let Some(jti) = jti {
                revoked.push((id, jti));
            }
        }
        write.commit().await?;
        for (id, jti) in &revoked {
            self.remember(
                jti,
                State {
                    id: Some(*id),
                    revoked: true,
                },
            );
        }
        let jtis: Vec<String> = revoked.into_iter().map(|(_, jti)| jti).collect();
        self.announce(&jtis);
        Ok(jtis)
    }

    /// Marks sessions whose token has expired by `now` (issued more than `lifetime` ago:
    /// a session keeps the token of its login) as revoked, so they read as ended. Returns
    /// how many rows changed. Their tokens are refused anyway (`exp`); no event is written,
    /// as nobody revoked them.
    pub async fn mark_expired(
        &self,
        now: chrono::DateTime<chrono::Utc>,
        lifetime: chrono::Duration,
    ) -> Result<u64> {
        let Some(issued_before) = now.checked_sub_signed(lifetime) else {
            return Ok(0); // a lifetime longer than history: nothing has expired
        };
        let update = Query::update()
            .table(col(TABLE))
            .value(col("revoked"), true)
            .value(col("updated_at"), now)
            .and_where(Expr::col(col("revoked")).eq(false))
            .and_where(Expr::col(col("created_at")).lte(issued_before))
            .to_owned();
        let write = self.db.write().await?;
        let done = write
            .db()
            .execute(write.db().build(&update))
            .await
            .map_err(Error::internal)?;
        write.commit().await?;
        Ok(done.rows_affected())
    }

    /// Runs [`Sessions::mark_expired`] every minute for as long as the app lives.
    pub fn sweep_expired(self: &Arc<Self>, lifetime_secs: u64) {
        let sessions = Arc::downgrade(self);
        let lifetime = i64::try_from(lifetime_secs)
            .ok()
            .and_then(chrono::Duration::try_seconds)
            .unwrap_or(chrono::Duration::MAX);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(std::time::Duration::from_secs(60));
            loop {
                tick.tick().await;
                let Some(sessions) = sessions.upgrade() else {
                    return;
                };
                if let Err(e) = sessions.mark_expired(chrono::Utc::now(), lifetime).await {
                    tracing::warn!(error = %e, "could not mark expired sessions");
                }
            }
        });
    }

    /// Records a custom audit event outside any other transaction.
    pub async fn record_event(&self, event: &str, user_id: Option<i64>) -> Result<()> {
        let write = self.db.write().await?;
        record_custom(write.db(), event, user_id).await?;
        write.commit().await
    }
}
