//! Authorization (DESIGN §4, §5): scopes per service and method, own records, field rules
//! on users, no escalation, and permission-filtered realtime. Every scenario runs over
//! REST and Socket.IO (realtime listeners are always sockets).

use serde_json::{Value, json};

use crate::scenarios;
use crate::support::socket::Event;
use crate::support::*;

scenarios!(
    anonymous_callers_are_401_everywhere,
    plain_users_are_403_without_scopes,
    each_method_needs_its_exact_scope,
    full_access_allows_everything,
    own_user_record,
    own_password_change_needs_current_password,
    own_sessions_and_providers_only,
    user_fields_are_shaped_by_read_scopes,
    hidden_fields_cannot_be_filtered_or_sorted,
    writing_another_users_fields_needs_field_scopes,
    no_escalation_through_roles,
    scope_changes_apply_on_the_next_call,
    realtime_is_filtered_and_shaped_per_recipient,
    realtime_stops_after_role_revoked,
    group_roles_apply_inside_their_group_only,
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

pub(crate) async fn scope_id(admin: &impl Client, slug: &str) -> Value {
    let page = ok(admin.find("access_scopes", json!({"slug": slug})).await);
    let data = page_data(&page);
    assert_eq!(data.len(), 1, "scope {slug}");
    data[0]["id"].clone()
}

/// A role holding exactly `slugs`.
pub(crate) async fn role_with(admin: &impl Client, slugs: &[&str]) -> Value {
    let slug = format!("r-{}", uuid::Uuid::new_v4().simple());
    let role = ok(admin
        .create(
            "roles",
            json!({"name": slug, "slug": slug, "description": "test"}),
            q(),
        )
        .await);
    for s in slugs {
        let scope = scope_id(admin, s).await;
        ok(admin
            .create(
                "role_access_scopes",
                json!({"role_id": role["id"], "access_scope_id": scope}),
                q(),
            )
            .await);
    }
    role
}

/// Grants `role` to `user`; returns the `user_roles` row.
pub(crate) async fn grant(admin: &impl Client, user: &Value, role: &Value) -> Value {
    ok(admin
        .create(
            "user_roles",
            json!({"user_id": user["id"], "role_id": role["id"]}),
            q(),
        )
        .await)
}

/// Creates a user holding exactly `slugs` (through a fresh role); returns the record.
pub(crate) async fn user_with(
    srv: &TestServer,
    admin: &impl Client,
    email: &str,
    slugs: &[&str],
) -> Value {
    let user = srv.create_user(admin, email).await;
    if !slugs.is_empty() {
        let role = role_with(admin, slugs).await;
        grant(admin, &user, &role).await;
    }
    user
}

/// Replaces the scopes of `role` with `slugs`.
async fn set_role_scopes(admin: &impl Client, role: &Value, slugs: &[&str]) {
    let rows = ok(admin
        .find("role_access_scopes", json!({"role_id": role["id"]}))
        .await);
    for row in page_data(&rows) {
        ok(admin
            .remove("role_access_scopes", row["id"].clone(), q())
            .await);
    }
    for s in slugs {
        let scope = scope_id(admin, s).await;
        ok(admin
            .create(
                "role_access_scopes",
                json!({"role_id": role["id"], "access_scope_id": scope}),
                q(),
            )
            .await);
    }
}

fn keys(v: &Value) -> Vec<String> {
    let mut k: Vec<String> = v
        .as_object()
        .map(|o| o.keys().cloned().collect())
        .unwrap_or_default();
    k.sort();
    k
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

async fn own_user_record(s: Setup) {
    let srv = s.server().await;
    let admin = srv.admin().await;
    let me = srv.create_user(&admin, "self@roost.test").await;
    let other = srv.create_user(&admin, "other@roost.test").await;
    let c = srv.login("self@roost.test", PASSWORD).await;

    let got = ok(c.get("users", me["id"].clone(), q()).await);
    assert_eq!(got["email"], "self@roost.test");
    assert!(
        got.get("joined_date").is_some(),
        "own record is fully visible"
    );
    // Another user's row is not found (its existence is not revealed).
    expect_err(
        c.get("users", other["id"].clone(), q()).await,
        "NotFound",
        404,
    );
    // find is narrowed to the caller's own row, totals included.
    let page = ok(c.find("users", q()).await);
    assert_eq!(page["total"], 1);
    assert_eq!(page_ids(&page), [me["id"].as_i64().unwrap()]);
    let page = ok(c.find("users", json!({"id": other["id"]})).await);
    assert_eq!(page["total"], 0);

    let patched = ok(c
        .patch("users", me["id"].clone(), json!({"first_name": "Me"}), q())
        .await);
    assert_eq!(patched["first_name"], "Me");
    expect_err(
        c.patch(
            "users",
            other["id"].clone(),
            json!({"first_name": "X"}),
            q(),
        )
        .await,
        "NotFound",
        404,
    );
    expect_err(
        c.remove("users", me["id"].clone(), q()).await,
        "Forbidden",
        403,
    );
    let still = ok(admin.get("users", other["id"].clone(), q()).await);
    assert!(still["first_name"].is_null());
}

async fn own_password_change_needs_current_password(s: Setup) {
    let srv = s.server().await;
    let admin = srv.admin().await;
    let me = srv.create_user(&admin, "pw@roost.test").await;
    let c = srv.login("pw@roost.test", PASSWORD).await;
    let id = me["id"].clone();
    let new = "Another-Fine-Passphrase-9";
    expect_err(
        c.patch("users", id.clone(), json!({"password": new}), q())
            .await,
        "BadRequest",
        400,
    );
    expect_err(
        c.patch(
            "users",
            id.clone(),
            json!({"password": new, "current_password": "Wrong-Password-123"}),
            q(),
        )
        .await,
        "BadRequest",
        400,
    );
    let done = ok(c
        .patch(
            "users",
            id.clone(),
            json!({"password": new, "current_password": PASSWORD}),
            q(),
        )
        .await);
    assert_no_password(&done, new);
    assert!(done.get("current_password").is_none());
    srv.login("pw@roost.test", new).await;
}

async fn own_sessions_and_providers_only(s: Setup) {
    let srv = s.server().await;
    let admin = srv.admin().await;
    let me = srv.create_user(&admin, "own@roost.test").await;
    let other = srv.create_user(&admin, "else@roost.test").await;
    for path in ["auth_sessions", "user_oauth_providers"] {
        let c = srv.login("own@roost.test", PASSWORD).await;
        let (mine, theirs) = if path == "auth_sessions" {
            // Session rows come from logins: a second one of mine, one of theirs.
            srv.login_over(Transport::Rest, "own@roost.test", PASSWORD)
                .await;
            srv.login_over(Transport::Rest, "else@roost.test", PASSWORD)
                .await;
            let last = |user: &Value| {
                let query = json!({"user_id": user["id"], "$sort": {"id": -1}, "$limit": 1});
                let admin = &admin;
                async move { page_data(&ok(admin.find(path, query).await))[0].clone() }
            };
            (last(&me).await, last(&other).await)
        } else {
            let data =
                |user: &Value, n: &str| json!({"user_id": user["id"], "slug": "gh", "sub": n});
            let mine = ok(admin.create(path, data(&me, "mine"), q()).await);
            let theirs = ok(admin.create(path, data(&other, "theirs"), q()).await);
            (mine, theirs)
        };
        let page = ok(c.find(path, q()).await);
        let users: Vec<Value> = page_field(&page, "user_id");
        assert!(!users.is_empty(), "{path}");
        assert!(users.iter().all(|u| *u == me["id"]), "{path}: {page}");
        assert_eq!(page["total"].as_u64(), Some(users.len() as u64));
        let page = ok(c.find(path, json!({"user_id": other["id"]})).await);
        assert_eq!(page["total"], 0, "{path}");
        ok(c.get(path, mine["id"].clone(), q()).await);
        expect_err(
            c.get(path, theirs["id"].clone(), q()).await,
            "NotFound",
            404,
        );
        expect_err(
            c.remove(path, theirs["id"].clone(), q()).await,
            "NotFound",
            404,
        );
        // Only `revoked` can be changed on a session (by its owner too); a link not at all.
        let (name, status) = if path == "auth_sessions" {
            ("BadRequest", 400)
        } else {
            ("Forbidden", 403)
        };
        expect_err(
            c.patch(path, mine["id"].clone(), json!({"title": "x"}), q())
                .await,
            name,
            status,
        );
        ok(c.remove(path, mine["id"].clone(), q()).await);
        ok(admin.get(path, theirs["id"].clone(), q()).await);
    }
}

async fn user_fields_are_shaped_by_read_scopes(s: Setup) {
    let srv = s.server().await;
    let admin = srv.admin().await;
    let target = ok(admin
        .create(
            "users",
            json!({"email": "target@roost.test", "password": PASSWORD, "username": "tgt",
                "first_name": "T", "last_name": "G", "phone": "+15550001", "picture": "p.png",
                "locale": "en"}),
            q(),
        )
        .await);
    let id = target["id"].clone();
    let base = ["created_at", "id", "locale", "updated_at", "username"];

    user_with(&srv, &admin, "r1@roost.test", &["users_read"]).await;
    let c = srv.login("r1@roost.test", PASSWORD).await;
    assert_eq!(keys(&ok(c.get("users", id.clone(), q()).await)), base);
    let page = ok(c.find("users", json!({"id": id})).await);
    assert_eq!(keys(&page_data(&page)[0]), base);
    // $select cannot widen it.
    let page = ok(c
        .find("users", json!({"id": id, "$select": ["id", "email"]}))
        .await);
    assert_eq!(keys(&page_data(&page)[0]), ["id"]);

    user_with(
        &srv,
        &admin,
        "r2@roost.test",
        &["users_read", "users_read_full_name", "users_read_email"],
    )
    .await;
    let c2 = srv.login("r2@roost.test", PASSWORD).await;
    let got = ok(c2.get("users", id.clone(), q()).await);
    assert_eq!(got["first_name"], "T");
    assert_eq!(got["email"], "target@roost.test");
    assert!(got.get("phone").is_none() && got.get("picture").is_none());

    user_with(
        &srv,
        &admin,
        "r3@roost.test",
        &["users_read", "users_read_phone", "users_read_picture"],
    )
    .await;
    let c3 = srv.login("r3@roost.test", PASSWORD).await;
    let got = ok(c3.get("users", id.clone(), q()).await);
    assert_eq!(
        (&got["phone"], &got["picture"]),
        (&json!("+15550001"), &json!("p.png"))
    );
    assert!(got.get("email").is_none() && got.get("first_name").is_none());

    // full_access sees every field.
    let got = ok(admin.get("users", id.clone(), q()).await);
    assert_eq!(got["email"], "target@roost.test");
    assert!(got.get("joined_date").is_some());
}

async fn hidden_fields_cannot_be_filtered_or_sorted(s: Setup) {
    let srv = s.server().await;
    let admin = srv.admin().await;
    srv.create_user(&admin, "secretive@roost.test").await;
    user_with(&srv, &admin, "probe@roost.test", &["users_read"]).await;
    let c = srv.login("probe@roost.test", PASSWORD).await;
    for query in [
        json!({"email": "secretive@roost.test"}),
        json!({"email": {"$in": ["secretive@roost.test"]}}),
        json!({"$sort": {"email": 1}}),
        json!({"$or": [{"username": "x"}, {"phone": {"$ne": null}}]}),
        json!({"first_name": {"$like": "a%"}}),
    ] {
        expect_err(c.find("users", query.clone()).await, "BadRequest", 400);
    }
    ok(
        c.find("users", json!({"$sort": {"username": 1}, "locale": "en"}))
            .await,
    );
    // With the field scope the filter is allowed.
    user_with(
        &srv,
        &admin,
        "probe2@roost.test",
        &["users_read", "users_read_email"],
    )
    .await;
    let c2 = srv.login("probe2@roost.test", PASSWORD).await;
    let page = ok(c2
        .find("users", json!({"email": "secretive@roost.test"}))
        .await);
    assert_eq!(page["total"], 1);
}

async fn writing_another_users_fields_needs_field_scopes(s: Setup) {
    let srv = s.server().await;
    let admin = srv.admin().await;
    let target = srv.create_user(&admin, "victim@roost.test").await;
    let id = target["id"].clone();
    user_with(
        &srv,
        &admin,
        "w1@roost.test",
        &["users_write", "users_read"],
    )
    .await;
    let c = srv.login("w1@roost.test", PASSWORD).await;
    ok(c.patch("users", id.clone(), json!({"locale": "fr"}), q())
        .await);
    for data in [
        json!({"first_name": "X"}),
        json!({"email": "x@roost.test"}),
        json!({"password": "Stolen-Password-Horse-1"}),
        json!({"phone": "+1555"}),
        json!({"username": "x"}),
        json!({"picture": "x"}),
    ] {
        expect_err(
            c.patch("users", id.clone(), data, q()).await,
            "Forbidden",
            403,
        );
    }
    user_with(
        &srv,
        &admin,
        "w2@roost.test",
        &[
            "users_write",
            "users_write_full_name",
            "users_write_password",
        ],
    )
    .await;
    let c2 = srv.login("w2@roost.test", PASSWORD).await;
    ok(c2
        .patch("users", id.clone(), json!({"first_name": "Y"}), q())
        .await);
    ok(c2
        .patch(
            "users",
            id.clone(),
            json!({"password": "Reset-By-Helpdesk-42x"}),
            q(),
        )
        .await);
    srv.login("victim@roost.test", "Reset-By-Helpdesk-42x")
        .await;
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

async fn listener(srv: &TestServer, email: &str) -> SocketClient {
    match srv.login_over(Transport::Socket, email, PASSWORD).await {
        Conn::Socket(s) => s,
        Conn::Rest(_) => unreachable!(),
    }
}

/// The next `roles `/`users ` event `sock` receives (others skipped; fails after a
/// deadline). No event may be missing or extra: each check is followed by a sentinel.
async fn next_event(sock: &SocketClient) -> Event {
    sock.next_of(&["roles ", "users "]).await
}

/// Patches `user`'s first name (an event its owner and every `users_read` holder gets)
/// and asserts it is the next event each of `socks` sees: an event that should not have
/// reached them would arrive first.
async fn user_sentinel(admin: &impl Client, user: &Value, socks: &[&SocketClient]) {
    let name = format!("S{}", uuid::Uuid::new_v4().simple());
    ok(admin
        .patch(
            "users",
            user["id"].clone(),
            json!({"first_name": name}),
            q(),
        )
        .await);
    for sock in socks {
        let e = next_event(sock).await;
        assert_eq!(e.name, "users patched", "{:?}", e.args);
        assert_eq!(e.data()["id"], user["id"], "{:?}", e.args);
    }
}

async fn realtime_is_filtered_and_shaped_per_recipient(s: Setup) {
    let srv = s.server().await;
    let admin = srv.admin().await;
    let base = ["created_at", "id", "locale", "updated_at", "username"];
    user_with(&srv, &admin, "base@roost.test", &["users_read"]).await;
    user_with(&srv, &admin, "base2@roost.test", &["users_read"]).await;
    user_with(
        &srv,
        &admin,
        "mail@roost.test",
        &["users_read", "users_read_email"],
    )
    .await;
    let plain = srv.create_user(&admin, "quiet@roost.test").await;
    let full = srv.admin_socket().await;
    let b1 = listener(&srv, "base@roost.test").await;
    let b2 = listener(&srv, "base2@roost.test").await;
    let mail = listener(&srv, "mail@roost.test").await;
    let quiet = listener(&srv, "quiet@roost.test").await;
    let anonymous = srv.socket().await;

    ok(admin
        .create(
            "users",
            json!({"email": "new@roost.test", "password": PASSWORD, "first_name": "N"}),
            q(),
        )
        .await);
    let got = next_event(&full).await;
    assert_eq!(got.name, "users created");
    assert_eq!(got.data()["email"], "new@roost.test");
    assert_eq!(got.data()["first_name"], "N");
    for sock in [&b1, &b2] {
        let got = next_event(sock).await;
        assert_eq!(got.name, "users created");
        assert_eq!(keys(got.data()), base);
    }
    let got = next_event(&mail).await;
    assert_eq!(got.name, "users created");
    assert_eq!(got.data()["email"], "new@roost.test");
    assert!(got.data().get("first_name").is_none());

    // The owner hears about their own row, in full; others with users_read shaped. This
    // patch is also the sentinel: it is the first event `quiet` gets (it could not read
    // the new user) and the next one the others get (no duplicate of "created").
    ok(admin
        .patch(
            "users",
            plain["id"].clone(),
            json!({"first_name": "Q"}),
            q(),
        )
        .await);
    let got = next_event(&quiet).await;
    assert_eq!(got.name, "users patched", "{:?}", got.args);
    assert_eq!(got.data()["first_name"], "Q");
    assert_eq!(got.data()["email"], "quiet@roost.test");
    for sock in [&b1, &b2] {
        let got = next_event(sock).await;
        assert_eq!(got.name, "users patched", "{:?}", got.args);
        assert_eq!(keys(got.data()), base);
    }
    for sock in [&full, &mail] {
        let got = next_event(sock).await;
        assert_eq!(got.name, "users patched", "{:?}", got.args);
        assert_eq!(got.data()["id"], plain["id"]);
    }
    // Other services: only readers.
    ok(admin
        .create(
            "roles",
            json!({"name": "Ev", "slug": "ev-role", "description": "d"}),
            q(),
        )
        .await);
    let got = next_event(&full).await;
    assert_eq!(got.name, "roles created");
    assert_no_password(got.data(), PASSWORD);
    user_sentinel(&admin, &plain, &[&b1, &b2, &quiet, &mail, &full]).await;
    // Anonymous sockets get nothing: once logged in, the sentinel is the first event.
    ok(anonymous
        .authenticate(
            json!({"strategy": "local", "email": ADMIN_EMAIL, "password": ADMIN_PASSWORD}),
        )
        .await);
    user_sentinel(&admin, &plain, &[&anonymous]).await;
}

async fn realtime_stops_after_role_revoked(s: Setup) {
    let srv = s.server().await;
    let admin = srv.admin().await;
    let user = srv.create_user(&admin, "revoked@roost.test").await;
    let role = role_with(&admin, &["roles_read"]).await;
    let link = grant(&admin, &user, &role).await;
    let sock = listener(&srv, "revoked@roost.test").await;
    let full = srv.admin_socket().await;

    ok(admin
        .create(
            "roles",
            json!({"name": "A", "slug": "a-1", "description": "d"}),
            q(),
        )
        .await);
    assert!(sock.wait_event("roles created", WAIT).await.is_some());

    ok(admin.remove("user_roles", link["id"].clone(), q()).await);
    ok(admin
        .create(
            "roles",
            json!({"name": "B", "slug": "b-1", "description": "d"}),
            q(),
        )
        .await);
    assert_eq!(next_event(&full).await.name, "roles created");
    assert_eq!(next_event(&full).await.name, "roles created");
    // Its own row's event is the next thing it sees: "roles created" (B) would come first.
    user_sentinel(&admin, &user, &[&sock]).await;

    // Granted again: events resume from the next one.
    grant(&admin, &user, &role).await;
    ok(admin
        .create(
            "roles",
            json!({"name": "C", "slug": "c-1", "description": "d"}),
            q(),
        )
        .await);
    let got = sock
        .wait_event("roles created", WAIT)
        .await
        .expect("resumed");
    assert_eq!(got.data()["slug"], "c-1");
}

async fn group_roles_apply_inside_their_group_only(s: Setup) {
    let srv = s.server().await;
    let admin = srv.admin().await;
    let kind = ok(admin
        .create(
            "access_group_types",
            json!({"name": "Team", "slug": "team"}),
            q(),
        )
        .await);
    let group = |slug: &str| json!({"type_id": kind["id"], "name": slug, "slug": slug});
    let g1 = ok(admin.create("access_groups", group("g1"), q()).await);
    let g2 = ok(admin.create("access_groups", group("g2"), q()).await);
    let g3 = ok(admin.create("access_groups", group("g3"), q()).await);
    let manager = role_with(
        &admin,
        &[
            "access_groups_read",
            "access_groups_write",
            "user_group_roles_read",
            "user_group_roles_write",
        ],
    )
    .await;
    let reader = role_with(&admin, &["access_groups_read"]).await;
    let member = role_with(&admin, &[]).await;
    let user = srv.create_user(&admin, "lead@roost.test").await;
    let other = srv.create_user(&admin, "member@roost.test").await;
    ok(admin
        .create(
            "user_group_roles",
            json!({"user_id": user["id"], "group_id": g1["id"], "role_id": manager["id"]}),
            q(),
        )
        .await);
    let c = srv.login("lead@roost.test", PASSWORD).await;

    // Inside g1 only.
    ok(c.get("access_groups", g1["id"].clone(), q()).await);
    expect_err(
        c.get("access_groups", g2["id"].clone(), q()).await,
        "NotFound",
        404,
    );
    let page = ok(c.find("access_groups", q()).await);
    assert_eq!(page_ids(&page), [g1["id"].as_i64().unwrap()]);
    ok(c.patch(
        "access_groups",
        g1["id"].clone(),
        json!({"name": "G1"}),
        q(),
    )
    .await);
    expect_err(
        c.patch("access_groups", g2["id"].clone(), json!({"name": "x"}), q())
            .await,
        "NotFound",
        404,
    );
    // Not a global scope.
    expect_err(c.find("roles", q()).await, "Forbidden", 403);
    expect_err(
        c.create("access_groups", group("g4"), q()).await,
        "Forbidden",
        403,
    );
    // Membership management inside g1, not elsewhere; no escalation inside the group.
    ok(c.create(
        "user_group_roles",
        json!({"user_id": other["id"], "group_id": g1["id"], "role_id": member["id"]}),
        q(),
    )
    .await);
    expect_err(
        c.create(
            "user_group_roles",
            json!({"user_id": other["id"], "group_id": g2["id"], "role_id": member["id"]}),
            q(),
        )
        .await,
        "Forbidden",
        403,
    );
    let admin_role = page_data(&ok(admin.find("roles", json!({"slug": "admin"})).await))[0].clone();
    expect_err(
        c.create(
            "user_group_roles",
            json!({"user_id": other["id"], "group_id": g1["id"], "role_id": admin_role["id"]}),
            q(),
        )
        .await,
        "Forbidden",
        403,
    );

    // g2 <- g1 (reader) and g3 <- g2 (reader): members of g1 read g2 and, transitively, g3.
    ok(admin
        .create(
            "group_group_roles",
            json!({"parent_group_id": g2["id"], "child_group_id": g1["id"], "role_id": reader["id"]}),
            q(),
        )
        .await);
    ok(c.get("access_groups", g2["id"].clone(), q()).await);
    expect_err(
        c.patch("access_groups", g2["id"].clone(), json!({"name": "x"}), q())
            .await,
        "NotFound",
        404,
    );
    expect_err(
        c.get("access_groups", g3["id"].clone(), q()).await,
        "NotFound",
        404,
    );
    ok(admin
        .create(
            "group_group_roles",
            json!({"parent_group_id": g3["id"], "child_group_id": g2["id"], "role_id": reader["id"]}),
            q(),
        )
        .await);
    ok(c.get("access_groups", g3["id"].clone(), q()).await);
    let page = ok(c.find("access_groups", json!({"$sort": {"id": 1}})).await);
    assert_eq!(page["total"], 3);
    // explain: by which role and group chain the scope is held.
    let why = ok(c
        .find(
            "authorization/explain",
            json!({"scope": "access_groups_read"}),
        )
        .await);
    assert_eq!(why["granted"], false);
    let chains: Vec<Value> = why["via"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["chain"].clone())
        .collect();
    for chain in [
        json!([g1["id"]]),
        json!([g1["id"], g2["id"]]),
        json!([g1["id"], g2["id"], g3["id"]]),
    ] {
        assert!(chains.contains(&chain), "{chain} in {why}");
    }
    expect_err(
        c.find(
            "authorization/explain",
            json!({"scope": "roles_read", "user_id": other["id"]}),
        )
        .await,
        "Forbidden",
        403,
    );
    let why = ok(admin
        .find(
            "authorization/explain",
            json!({"scope": "roles_read", "user_id": user["id"]}),
        )
        .await);
    assert_eq!((&why["granted"], &why["via"]), (&json!(false), &json!([])));
    let me = ok(admin
        .find("authorization/explain", json!({"scope": "roles_read"}))
        .await);
    assert_eq!(me["granted"], true);
    assert_eq!(me["via"][0]["via"], "role");
    assert_eq!(me["via"][0]["scope"], "full_access");
    // A cycle is rejected.
    expect_err(
        admin
            .create(
                "group_group_roles",
                json!({"parent_group_id": g1["id"], "child_group_id": g3["id"], "role_id": reader["id"]}),
                q(),
            )
            .await,
        "BadRequest",
        400,
    );
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
