//! Runs the service method. An audited mutation runs in ONE transaction together with its
//! `events` rows: if either fails, both roll back (the transaction is dropped uncommitted).

use sea_orm::TransactionTrait;
use serde_json::Value;

use super::audit;
use crate::app::App;
use crate::error::{Error, Result};
use crate::service::{Call, Ctx, Db, Effects, Method, Service};

/// The method's answer, and whether it stands for a change that happened (see
/// [`Effects::mark_unchanged`]).
pub async fn run(app: &App, service: &dyn Service, call: &Call) -> Result<(Value, bool)> {
    let effects = Effects::default();
    let audited = service.policy().audit;
    let Some(event) = call.method.event().filter(|_| audited) else {
        let ctx = Ctx {
            db: Db::Pool(&app.db),
            params: &call.params,
            path: &call.path,
            effects: &effects,
        };
        let value = dispatch(service, &ctx, call).await?;
        return Ok((value, !effects.unchanged()));
    };
    // SQLite has one writer: queue here rather than fail with "database is locked".
    let _writer = match &app.write_gate {
        Some(gate) => Some(gate.lock().await),
        None => None,
    };
    let tx = app.db.begin().await.map_err(Error::internal)?;
    let ctx = Ctx {
        db: Db::Tx(&tx),
        params: &call.params,
        path: &call.path,
        effects: &effects,
    };
    let value = dispatch(service, &ctx, call).await?;
    let changed = !effects.unchanged();
    if changed {
        audit::record(ctx.db, &call.path, event, &value, call.params.user_id()).await?;
    }
    tx.commit().await.map_err(Error::internal)?;
    Ok((value, changed))
}

async fn dispatch(service: &dyn Service, ctx: &Ctx<'_>, call: &Call) -> Result<Value> {
    let id = call.id.as_ref();
    match call.method {
        Method::Find => service.find(ctx).await,
        Method::Get => match id {
            Some(id) => service.get(ctx, id).await,
            None => Err(Error::bad_request("An id is required for get")),
        },
        Method::Create => service.create(ctx, call.data.clone()).await,
        Method::Update => service.update(ctx, id, call.data.clone()).await,
        Method::Patch => service.patch(ctx, id, call.data.clone()).await,
        Method::Remove => service.remove(ctx, id).await,
    }
}
