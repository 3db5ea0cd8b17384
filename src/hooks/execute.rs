//! Runs the service method. An audited mutation runs in ONE transaction together with its
//! `events` rows: if either fails, both roll back (the transaction is dropped uncommitted).

use serde_json::Value;

use super::AppState;
use crate::error::{Error, Result};
use crate::service::{Call, Ctx, Db, Effects, Method, Service};
use crate::store::audit;

/// The method's answer, and whether it stands for a change that happened (see
/// [`Effects::mark_unchanged`]).
pub async fn run(app: &AppState, service: &dyn Service, call: &Call) -> Result<(Value, bool)> {
    let effects = Effects::default();
    let audited = service.policy().audit;
    let Some(event) = call.method.event().filter(|_| audited) else {
        let ctx = Ctx {
            db: Db::Pool(&app.db),
            params: &call.params,
            path: &call.path,
            effects: &effects,
            pipeline: app,
        };
        let value = dispatch(service, &ctx, call).await?;
        return Ok((value, !effects.unchanged()));
    };
    let write = app.db.write().await?;
    let ctx = Ctx {
        db: write.db(),
        params: &call.params,
        path: &call.path,
        effects: &effects,
        pipeline: app,
    };
    let value = dispatch(service, &ctx, call).await?;
    let changed = !effects.unchanged();
    if changed {
        audit::record(ctx.db, &call.path, event, &value, call.params.user_id()).await?;
    }
    write.commit().await?;
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
