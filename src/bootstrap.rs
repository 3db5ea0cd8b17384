//! The first administrator: a user holding the `admin` role, which carries `full_access`.
//! Created through the normal pipeline (internal calls), so it is audited like any change.
//! Takes the pipeline (the app) as the core's [`Pipeline`]: bootstrap depends on nothing
//! above the services it calls.

use serde_json::{Map, Value, json};

use crate::config::Config;
use crate::error::{Error, Result};
use crate::service::scopes::FULL_ACCESS;
use crate::service::{Call, Database, Method, Params, Pipeline};
use crate::services::{access_scopes, role_access_scopes, roles, user_roles, users};

pub const ADMIN_ROLE: &str = "admin";

/// Creates the admin named by `ROOST_ADMIN_EMAIL` / `ROOST_ADMIN_PASSWORD` unless a user
/// with that email exists.
pub async fn admin_from_config(config: &Config, pipeline: &dyn Pipeline) -> anyhow::Result<()> {
    let (Some(email), Some(password)) = (&config.admin_email, &config.admin_password) else {
        return Ok(());
    };
    if find_one(
        pipeline,
        users::PATH,
        json!({ "email": email.trim().to_lowercase() }),
    )
    .await?
    .is_some()
    {
        return Ok(());
    }
    let user = create_admin(pipeline, email, password)
        .await
        .map_err(|e| anyhow::anyhow!("cannot create the admin user: {}", e.message))?;
    tracing::info!(user_id = %user["id"], "created the bootstrap admin");
    Ok(())
}

/// The first-run hint: both ways to create the first administrator.
const NO_ADMIN_HINT: &str = "no user holds full_access, so nobody can administer this server yet.
Create the first administrator in either of two ways, with its password on one line in
./admin-password:
  1. once, with the admin command:
       cargo run --release -- admin create --email you@example.com --password-file ./admin-password
     (an installed binary: roost admin create --email you@example.com --password-file ./admin-password)
  2. at start, from the environment (created when no user has that email):
       ROOST_ADMIN_EMAIL=you@example.com ROOST_ADMIN_PASSWORD_FILE=./admin-password cargo run --release
     (or ROOST_ADMIN_PASSWORD=<password> instead of the file)";

/// Warns with [`NO_ADMIN_HINT`] when no user holds `full_access`: a fresh server has no
/// way in until someone creates one.
pub async fn warn_if_no_admin(db: &Database) -> anyhow::Result<()> {
    let db = crate::service::Db::Pool(db);
    if !crate::auth::scopes::anyone_holds(db, FULL_ACCESS)
        .await
        .map_err(|e| anyhow::anyhow!("cannot check for an administrator: {}", e.message))?
    {
        tracing::warn!("{NO_ADMIN_HINT}");
    } else {
        tracing::debug!("a user holds full_access");
    }
    Ok(())
}

/// Creates a user with the admin role. Fails if the email is taken or the password is
/// refused by the password policy.
pub async fn create_admin(pipeline: &dyn Pipeline, email: &str, password: &str) -> Result<Value> {
    let user = call(
        pipeline,
        users::PATH,
        Method::Create,
        None,
        json!({ "email": email, "password": password }),
    )
    .await?;
    let role_id = admin_role(pipeline).await?;
    call(
        pipeline,
        user_roles::PATH,
        Method::Create,
        None,
        json!({ "user_id": user["id"], "role_id": role_id }),
    )
    .await?;
    Ok(user)
}

/// The id of the `admin` role, creating it (with `full_access`) if missing.
async fn admin_role(pipeline: &dyn Pipeline) -> Result<Value> {
    if let Some(role) = find_one(pipeline, roles::PATH, json!({ "slug": ADMIN_ROLE })).await? {
        return Ok(role["id"].clone());
    }
    let role = call(
        pipeline,
        roles::PATH,
        Method::Create,
        None,
        json!({ "name": "Administrator", "slug": ADMIN_ROLE, "description": "Full access" }),
    )
    .await?;
    let scope = find_one(
        pipeline,
        access_scopes::PATH,
        json!({ "slug": FULL_ACCESS }),
    )
    .await?
    .ok_or_else(|| Error::internal("the full_access scope is missing"))?;
    call(
        pipeline,
        role_access_scopes::PATH,
        Method::Create,
        None,
        json!({ "role_id": role["id"], "access_scope_id": scope["id"] }),
    )
    .await?;
    Ok(role["id"].clone())
}

async fn find_one(pipeline: &dyn Pipeline, path: &str, mut query: Value) -> Result<Option<Value>> {
    if let Some(q) = query.as_object_mut() {
        q.insert("$limit".into(), json!(1));
    }
    let found = call(pipeline, path, Method::Find, Some(query), Value::Null).await?;
    let rows = found.get("data").unwrap_or(&found);
    Ok(rows.as_array().and_then(|r| r.first()).cloned())
}

async fn call(
    pipeline: &dyn Pipeline,
    path: &str,
    method: Method,
    query: Option<Value>,
    data: Value,
) -> Result<Value> {
    let query = match query {
        Some(Value::Object(q)) => q,
        _ => Map::new(),
    };
    let call = Call {
        path: path.to_string(),
        method,
        id: None,
        data,
        params: Params::internal().with_query(query),
    };
    Ok(pipeline.run(call).await?.value)
}
