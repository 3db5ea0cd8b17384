//! Authorization (DESIGN §4, §5): scopes per service and method, own records, field rules
//! on users, no escalation, and permission-filtered realtime. Every scenario runs over
//! REST and Socket.IO (realtime listeners are always sockets).
//!
//! This file: scopes per method, escalation through roles, scope changes, open signup.
//! Own rows are in `authz_own`, users field rules in `authz_fields`, realtime filtering in
//! `authz_realtime`, group roles in `authz_groups`; the role fixtures they share in
//! `support::roles`.

use serde_json::json;

use crate::scenarios;
use crate::support::roles::{grant, role_with, scope_id, set_role_scopes, user_with};
use crate::support::*;

scenarios!(
    anonymous_callers_are_401_everywhere,
    plain_users_are_403_without_scopes,
    each_method_needs_its_exact_scope,
    full_access_allows_everything,
    no_escalation_through_roles,
    scope_changes_apply_on_the_next_call,
    open_signup_allows_anonymous_create_only,
);

/// Every seed service, with a scope that allows reading it.
const SERVICES: &[(&str, &str)] = &[
    ("users", "users_read"),
    ("roles", "roles_read"),
    ("access_scopes", "scopes_read"),
    ("role_access_scopes", "role_scopes_read"),
    ("user_roles", "user_roles_read"),
    ("access_group_types", "access_group_types_read"),
    ("access_groups", "access_groups_read"),
    ("user_group_roles", "user_group_roles_read"),
    ("group_group_roles", "group_group_roles_read"),
    ("oauth_providers", "auth_providers_read"),
    ("user_oauth_providers", "user_oauth_providers_read"),
    ("auth_sessions", "auth_sessions_read"),
    ("events", "events_read"),
];

/// Services whose `find` a plain user may call (narrowed to own rows).
const OWN_FIND: &[&str] = &["users", "user_oauth_providers", "auth_sessions"];

/// 200 for success, else the Feathers error code (never a 5xx: that fails the test).
#[track_caller]
fn code(res: &Res) -> u64 {
    match res {
        Ok(_) => 200,
        Err(e) => {
            e.assert_well_formed();
            assert!(e.code() < 500, "server error: {}", e.body);
            e.code()
        }
    }
}

/// What an allowed `call` answers: find 200; get/patch/remove of a missing id 404; an
/// empty create 400 (required fields) except on `events`; 405 where the method does not exist (session
/// rows are written by logins only; the audit log is append-only, DESIGN §5).
fn allowed_answer(path: &str, method: &str) -> u64 {
    match (path, method) {
        (_, "find") => 200,
        ("auth_sessions", "create") => 405,
        ("events", "patch" | "remove" | "update") => 405,
        // A hand-written audit event has no required field (it is stamped manual, with
        // its author): `{}` is a valid one.
        ("events", "create") => 200,
        (_, "create") => 400,
        _ => 404,
    }
}

async fn anonymous_callers_are_401_everywhere(s: Setup) {
    let srv = s.server().await;
    let c = srv.client().await;
    for (path, _) in SERVICES {
        assert_eq!(code(&c.find(path, q()).await), 401, "find {path}");
        assert_eq!(code(&c.get(path, json!(1), q()).await), 401, "get {path}");
        // Session rows are written by logins only: `create` is not a method there.
        let create = if *path == "auth_sessions" { 405 } else { 401 };
        assert_eq!(
            code(&c.create(path, json!({}), q()).await),
            create,
            "create {path}"
        );
        assert_eq!(
            code(&c.patch(path, json!(1), json!({}), q()).await),
            401,
            "patch {path}"
        );
        assert_eq!(
            code(&c.remove(path, json!(1), q()).await),
            401,
            "remove {path}"
        );
    }
}

async fn plain_users_are_403_without_scopes(s: Setup) {
    let srv = s.server().await;
    let admin = srv.admin().await;
    srv.create_user(&admin, "plain@roost.test").await;
    let c = srv.login("plain@roost.test", PASSWORD).await;
    for (path, _) in SERVICES {
        let find = code(&c.find(path, q()).await);
        if OWN_FIND.contains(path) {
            assert_eq!(find, 200, "find {path} is narrowed, not refused");
        } else {
            assert_eq!(find, 403, "find {path}");
            assert_eq!(code(&c.get(path, json!(1), q()).await), 403, "get {path}");
        }
        let (create, update) = if *path == "auth_sessions" {
            (405, 405) // written by logins only
        } else {
            (403, 403)
        };
        assert_eq!(
            code(&c.create(path, json!({}), q()).await),
            create,
            "create {path}"
        );
        assert_eq!(
            code(&c.update(path, json!(1), json!({}), q()).await),
            update,
            "update {path}"
        );
    }
    for path in ["roles", "access_scopes", "user_roles", "events"] {
        assert_eq!(code(&c.patch(path, json!(1), json!({}), q()).await), 403);
        assert_eq!(code(&c.remove(path, json!(1), q()).await), 403);
    }
    let e = expect_err(c.find("roles", q()).await, "Forbidden", 403);
    assert!(!e.message().is_empty());
}

/// `(path, method, the scope that allows it, a scope of the same service that does not)`.
const MATRIX: &[(&str, &str, &str, &str)] = &[
    ("roles", "find", "roles_read", "roles_write"),
    ("roles", "create", "roles_create", "roles_write"),
    ("roles", "create", "roles", "roles_read"),
    ("roles", "patch", "roles_write", "roles_create"),
    ("roles", "remove", "roles_remove", "roles_write"),
    ("users", "find", "users_read", "users_write"),
    ("users", "create", "users_create", "users_write"),
    ("users", "remove", "users_remove", "users_write"),
    ("access_scopes", "find", "scopes_read", "scopes_write"),
    ("access_scopes", "create", "scopes_write", "scopes_read"),
    (
        "role_access_scopes",
        "remove",
        "role_scopes_write",
        "role_scopes_read",
    ),
    ("user_roles", "find", "user_roles_read", "user_roles_write"),
    ("user_roles", "patch", "user_roles_write", "user_roles_read"),
    (
        "access_group_types",
        "create",
        "access_group_types_write",
        "access_group_types_read",
    ),
    (
        "access_groups",
        "create",
        "access_groups_create",
        "access_groups_write",
    ),
    (
        "access_groups",
        "patch",
        "access_groups_write",
        "access_groups_create",
    ),
    (
        "access_groups",
        "remove",
        "access_groups_write",
        "access_groups_read",
    ),
    (
        "user_group_roles",
        "get",
        "user_group_roles_read",
        "user_group_roles_write",
    ),
    (
        "group_group_roles",
        "find",
        "group_group_roles_read",
        "group_group_roles_write",
    ),
    (
        "group_group_roles",
        "remove",
        "group_group_roles_write",
        "group_group_roles_read",
    ),
    (
        "oauth_providers",
        "find",
        "auth_providers_read",
        "auth_providers_write",
    ),
    (
        "oauth_providers",
        "create",
        "auth_providers_write",
        "auth_providers_read",
    ),
    (
        "user_oauth_providers",
        "patch",
        "user_oauth_providers_write",
        "user_oauth_providers_read",
    ),
    // `auth_sessions` patch and remove are own-record methods (a user revokes their own
    // sessions): no scope denies them; see escalation::users_revoke_their_own_sessions.
    ("events", "find", "events_read", "events_write"),
    ("events", "patch", "full_access", "events_write"),
];

async fn call(c: &impl Client, path: &str, method: &str) -> Res {
    // Ids that do not exist and empty data: an allowed call fails later (400/404/405),
    // a refused one fails with 403 first.
    let id = json!(987_654);
    match method {
        "find" => c.find(path, q()).await,
        "get" => c.get(path, id, q()).await,
        "create" => c.create(path, json!({}), q()).await,
        "patch" => c.patch(path, id, json!({}), q()).await,
        "remove" => c.remove(path, id, q()).await,
        other => panic!("method {other}"),
    }
}

async fn each_method_needs_its_exact_scope(s: Setup) {
    let srv = s.server().await;
    let admin = srv.admin().await;
    let user = srv.create_user(&admin, "matrix@roost.test").await;
    let role = role_with(&admin, &[]).await;
    grant(&admin, &user, &role).await;
    // One session throughout: scope changes apply on its next call.
    let c = srv.login("matrix@roost.test", PASSWORD).await;
    for (path, method, allows, denies) in MATRIX {
        set_role_scopes(&admin, &role, &[denies]).await;
        let denied = code(&call(&c, path, method).await);
        if !(OWN_FIND.contains(path) && *method == "find") {
            assert_eq!(denied, 403, "{method} {path} with {denies}");
        }
        set_role_scopes(&admin, &role, &[allows]).await;
        let allowed = code(&call(&c, path, method).await);
        assert_eq!(
            allowed,
            allowed_answer(path, method),
            "{method} {path} with {allows}"
        );
    }
}

async fn full_access_allows_everything(s: Setup) {
    let srv = s.server().await;
    let admin = srv.admin().await;
    srv.create_full_access_user(&admin, "full@roost.test").await;
    let c = srv.login("full@roost.test", PASSWORD).await;
    let mut wrong = Vec::new();
    for (path, _) in SERVICES {
        for method in ["find", "get", "create", "patch", "remove"] {
            let got = code(&call(&c, path, method).await);
            let want = allowed_answer(path, method);
            if got != want {
                wrong.push(format!("{method} {path}: {got}, expected {want}"));
            }
        }
    }
    assert!(wrong.is_empty(), "{wrong:#?}");
}

async fn no_escalation_through_roles(s: Setup) {
    let srv = s.server().await;
    let admin = srv.admin().await;
    let granter = user_with(
        &srv,
        &admin,
        "granter@roost.test",
        &["user_roles_write", "role_scopes_write", "roles_read"],
    )
    .await;
    let c = srv.login("granter@roost.test", PASSWORD).await;
    let admin_role = page_data(&ok(admin.find("roles", json!({"slug": "admin"})).await))[0].clone();
    let e = expect_err(
        c.create(
            "user_roles",
            json!({"user_id": granter["id"], "role_id": admin_role["id"]}),
            q(),
        )
        .await,
        "Forbidden",
        403,
    );
    assert!(!e.message().is_empty());
    // Moving an existing admin grant to oneself is granting it too.
    let links = ok(admin
        .find("user_roles", json!({"role_id": admin_role["id"]}))
        .await);
    let link = page_data(&links)[0].clone();
    expect_err(
        c.patch(
            "user_roles",
            link["id"].clone(),
            json!({"user_id": granter["id"]}),
            q(),
        )
        .await,
        "Forbidden",
        403,
    );
    // A role whose scopes the granter holds may be granted.
    let small = role_with(&admin, &["roles_read"]).await;
    ok(c.create(
        "user_roles",
        json!({"user_id": granter["id"], "role_id": small["id"]}),
        q(),
    )
    .await);
    // Adding a scope the granter lacks to a role is refused; one it holds is fine.
    let full = scope_id(&admin, "full_access").await;
    expect_err(
        c.create(
            "role_access_scopes",
            json!({"role_id": small["id"], "access_scope_id": full}),
            q(),
        )
        .await,
        "Forbidden",
        403,
    );
    let users_write = scope_id(&admin, "users_write").await;
    expect_err(
        c.create(
            "role_access_scopes",
            json!({"role_id": small["id"], "access_scope_id": users_write}),
            q(),
        )
        .await,
        "Forbidden",
        403,
    );
    let own = scope_id(&admin, "user_roles_write").await;
    ok(c.create(
        "role_access_scopes",
        json!({"role_id": small["id"], "access_scope_id": own}),
        q(),
    )
    .await);
    // Still no full access.
    expect_err(c.find("access_scopes", q()).await, "Forbidden", 403);
}

async fn scope_changes_apply_on_the_next_call(s: Setup) {
    let srv = s.server().await;
    let admin = srv.admin().await;
    let user = srv.create_user(&admin, "live@roost.test").await;
    let c = srv.login("live@roost.test", PASSWORD).await;
    expect_err(c.find("roles", q()).await, "Forbidden", 403);
    let role = role_with(&admin, &["roles_read"]).await;
    let link = grant(&admin, &user, &role).await;
    ok(c.find("roles", q()).await);
    // Adding a scope to the held role applies too.
    expect_err(c.find("access_scopes", q()).await, "Forbidden", 403);
    let scopes_read = scope_id(&admin, "scopes_read").await;
    ok(admin
        .create(
            "role_access_scopes",
            json!({"role_id": role["id"], "access_scope_id": scopes_read}),
            q(),
        )
        .await);
    ok(c.find("access_scopes", q()).await);
    ok(admin.remove("user_roles", link["id"].clone(), q()).await);
    expect_err(c.find("roles", q()).await, "Forbidden", 403);
    expect_err(c.find("access_scopes", q()).await, "Forbidden", 403);
}

async fn open_signup_allows_anonymous_create_only(s: Setup) {
    let srv = s.server_with(|c| c.signup.open = true).await;
    let c = srv.client().await;
    let me = ok(c
        .create(
            "users",
            json!({"email": "signup@roost.test", "password": PASSWORD}),
            q(),
        )
        .await);
    assert_eq!(me["email"], "signup@roost.test");
    expect_err(c.find("users", q()).await, "NotAuthenticated", 401);
    // The new user holds no roles.
    let c = srv.login("signup@roost.test", PASSWORD).await;
    expect_err(c.find("roles", q()).await, "Forbidden", 403);
    let page = ok(c.find("users", q()).await);
    assert_eq!(page["total"], 1);
    // An admin creating a user on an open method still sees the whole record.
    let admin = srv.admin().await;
    let made = ok(admin
        .create(
            "users",
            json!({"email": "made@roost.test", "password": PASSWORD, "phone": "+1555123"}),
            q(),
        )
        .await);
    assert_eq!(made["phone"], "+1555123");
    assert!(made.get("joined_date").is_some());
}
