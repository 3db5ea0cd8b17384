//! Bad input over both transports: missing required fields are 400, and every bad input
//! (malformed queries, 1,000+ levels of nesting, incompressible over-long values on unique
//! columns, wrong types) is a 400 Feathers error that leaves the tables unchanged.

use serde_json::{Value, json};

use crate::scenarios;
use crate::support::*;

scenarios!(
    missing_required_fields_are_bad_requests,
    bad_inputs_are_400_and_change_nothing,
    nul_characters_are_refused_naming_the_field,
    names_may_not_be_empty,
);

/// Slugs (and linked identities' subjects) name things: empty or blank is a 400 naming
/// the field, on create, update and patch; nothing is written.
async fn names_may_not_be_empty(s: Setup) {
    let srv = s.server().await;
    let admin = srv.admin().await;
    let empty = |r: Res, field: &str| {
        let e = expect_err(r, "BadRequest", 400);
        assert_eq!(e.body["errors"][field], "must not be empty", "{}", e.body);
    };
    for blank in ["", "   ", "\t\n"] {
        empty(
            admin.create("roles", json!({"slug": blank}), q()).await,
            "slug",
        );
        empty(
            admin
                .create("access_scopes", json!({"slug": blank}), q())
                .await,
            "slug",
        );
        empty(
            admin
                .create(
                    "user_oauth_providers",
                    json!({"user_id": 1, "slug": "gh", "sub": blank}),
                    q(),
                )
                .await,
            "sub",
        );
    }
    let role = ok(admin.create("roles", json!({"slug": "named"}), q()).await);
    empty(
        admin
            .patch("roles", role["id"].clone(), json!({"slug": " "}), q())
            .await,
        "slug",
    );
    empty(
        admin
            .update("roles", role["id"].clone(), json!({"slug": ""}), q())
            .await,
        "slug",
    );
    let kept = ok(admin.get("roles", role["id"].clone(), q()).await);
    assert_eq!(kept["slug"], "named");
}

/// A NUL character anywhere (login, data, id, query) is a 400 naming the field, on every
/// database: PostgreSQL cannot store one, so it must never reach it.
async fn nul_characters_are_refused_naming_the_field(s: Setup) {
    let srv = s.server().await;
    let anon = srv.client().await;
    let named = |r: Res, field: &str| {
        let e = expect_err(r, "BadRequest", 400);
        assert!(
            e.message().contains(&format!("'{field}'")),
            "{}",
            e.message()
        );
        assert!(e.message().contains("NUL"), "{}", e.message());
    };
    named(
        anon.authenticate(json!({"strategy": "a\u{0}b", "id_token": "x"}))
            .await,
        "strategy",
    );
    named(
        anon.authenticate(json!({"strategy": "local", "email": "a\u{0}@x.com", "password": "p"}))
            .await,
        "email",
    );
    named(
        anon.create("otp", json!({"email": "a\u{0}@x.com"}), q())
            .await,
        "email",
    );
    let admin = srv.admin().await;
    named(admin.find("roles", json!({"slug": "a\u{0}"})).await, "slug");
    named(
        admin
            .find(
                "roles",
                json!({"$or": [{"name": {"$in": ["x", "a\u{0}"]}}]}),
            )
            .await,
        "name",
    );
    named(admin.get("roles", json!("1\u{0}"), q()).await, "id");
    named(
        admin.create("roles", json!({"slug": "s\u{0}"}), q()).await,
        "slug",
    );
    // Nothing was written.
    let roles = ok(admin.find("roles", json!({"slug": {"$like": "s%"}})).await);
    assert_eq!(roles["total"], 0, "{roles}");
}

async fn missing_required_fields_are_bad_requests(s: Setup) {
    let srv = s.server().await;
    let c = srv.admin().await;
    expect_err(
        c.create("roles", json!({"name": "No slug"}), q()).await,
        "BadRequest",
        400,
    );
    expect_err(c.create("roles", json!({}), q()).await, "BadRequest", 400);
    expect_err(
        c.create("roles", json!({"slug": null}), q()).await,
        "BadRequest",
        400,
    );
    expect_err(
        c.create("users", json!({"email": "np@roost.test"}), q())
            .await,
        "BadRequest",
        400,
    );
    expect_err(
        c.create("users", json!({"password": PASSWORD}), q()).await,
        "BadRequest",
        400,
    );
    expect_err(
        c.create(
            "users",
            json!({"email": "not-an-email", "password": PASSWORD}),
            q(),
        )
        .await,
        "BadRequest",
        400,
    );
    expect_err(
        c.create(
            "access_groups",
            json!({"name": "no type", "slug": "nt"}),
            q(),
        )
        .await,
        "BadRequest",
        400,
    );
    let role = ok(c.create("roles", json!({"slug": "req"}), q()).await);
    expect_err(
        c.update("roles", role["id"].clone(), json!({"name": "no slug"}), q())
            .await,
        "BadRequest",
        400,
    );
    expect_err(
        c.patch("roles", role["id"].clone(), json!({"slug": null}), q())
            .await,
        "BadRequest",
        400,
    );
    assert_eq!(
        ok(c.get("roles", role["id"].clone(), q()).await)["slug"],
        "req"
    );
}

/// What the admin sees of the tables bad inputs aim at: every row and field of `roles`
/// and `users`. A refused input must leave both exactly as they were.
async fn snapshot(c: &impl Client) -> Value {
    let all = json!({"$limit": 50, "$sort": {"id": 1}});
    json!({
        "roles": ok(c.find("roles", all.clone()).await),
        "users": ok(c.find("users", all).await),
    })
}

/// Checks one bad input: the answer is a 400 `BadRequest` (never a success, another
/// class or a 5xx) and the tables are unchanged. Mismatches are collected so one run
/// shows them all.
struct Checker<'a, C: Client> {
    c: &'a C,
    before: Value,
    wrong: Vec<String>,
}

impl<'a, C: Client> Checker<'a, C> {
    async fn new(c: &'a C) -> Self {
        Self {
            c,
            before: snapshot(c).await,
            wrong: Vec::new(),
        }
    }

    /// `res` must be a 400 whose message contains `naming` (when given).
    async fn bad(&mut self, res: Res, what: &str, naming: Option<&str>) {
        let what: String = what.chars().take(120).collect();
        match res {
            Ok(v) => {
                let v: String = v.to_string().chars().take(200).collect();
                self.wrong.push(format!("{what}: success {v}"));
            }
            Err(e) if e.code() != 400 || e.name() != "BadRequest" => {
                self.wrong
                    .push(format!("{what}: {:?} {}", e.status, e.body));
            }
            Err(e) => {
                e.assert_kind("BadRequest", 400);
                if let Some(field) = naming
                    && !e.message().contains(&format!("'{field}'"))
                {
                    self.wrong
                        .push(format!("{what}: does not name '{field}': {}", e.body));
                }
            }
        }
        let now = snapshot(self.c).await;
        if now != self.before {
            self.wrong.push(format!("{what}: the tables changed"));
            self.before = now;
        }
    }

    /// Fails with every mismatch; returns the (unchanged) snapshot.
    #[track_caller]
    fn finish(self) -> Value {
        assert!(self.wrong.is_empty(), "{:#?}", self.wrong);
        self.before
    }
}

/// `n` random bytes as base64url: a value no compression or prefix trick shortens.
fn random_text(n: usize) -> String {
    let mut bytes = Vec::with_capacity(n + 16);
    while bytes.len() < n {
        bytes.extend_from_slice(uuid::Uuid::new_v4().as_bytes());
    }
    bytes.truncate(n);
    base64url_encode(&bytes)
}

/// Nesting far deeper than any parser's default limit (serde_json stops at 128).
const DEEP: usize = 1_100;

/// Runs on a thread with a large stack: the test's own JSON code (building, encoding and
/// dropping 1,100 levels) recurses, in a debug build, deeper than a default 2 MiB stack.
/// The server parses with serde_json's depth limit, so it never recurses that deep.
async fn bad_inputs_are_400_and_change_nothing(s: Setup) {
    let handle = tokio::runtime::Handle::current();
    let run = std::thread::Builder::new()
        .stack_size(256 << 20)
        .spawn(move || handle.block_on(bad_inputs(s)))
        .unwrap();
    if let Err(panic) = run.join() {
        std::panic::resume_unwind(panic);
    }
}

async fn bad_inputs(s: Setup) {
    let srv = s.server().await;
    let c = srv.admin().await;
    let victim = ok(c.create("roles", json!({"slug": "victim"}), q()).await);
    let user = srv.create_user(&c, "victim@roost.test").await;
    let mut check = Checker::new(&c).await;
    let deep_query = (0..DEEP).fold(json!({"id": 1}), |acc, _| json!({"$or": [acc]}));
    let queries = [
        json!({"$limit": -1}),
        json!({"$limit": "abc"}),
        json!({"$limit": 1.5}),
        json!({"$skip": "x"}),
        json!({"$skip": -5}),
        json!({"$sort": {"id": "sideways"}}),
        json!({"$sort": "id"}),
        json!({"$sort": {"id": {"$gt": 1}}}),
        json!({"$select": {"a": 1}}),
        json!({"id": {"$in": "notarray"}}),
        json!({"$or": "x"}),
        json!({"$or": [1, 2]}),
        deep_query,
        json!({"id": {"$gt": "abc"}}),
        json!({"id": "abc"}),
        json!({"id": 1e300}),
        json!({"id": "99999999999999999999999"}),
        json!({"created_at": {"$gt": "not a date"}}),
        json!({"slug": "nul\u{0}byte"}),
        json!({"slug": {"$in": [[1], {"a": 1}]}}),
        json!({"slug": {"a": {"b": 1}}}),
        json!({"$": 1}),
        json!({"__proto__": {"x": 1}}),
    ];
    for query in queries {
        let text = query.to_string();
        let res = c.find("access_scopes", query.clone()).await;
        check.bad(res, &format!("find {text}"), None).await;
        let res = c.find("users", query.clone()).await;
        check.bad(res, &format!("find users {text}"), None).await;
        let res = c.get("access_scopes", json!(1), query.clone()).await;
        check.bad(res, &format!("get 1 {text}"), None).await;
    }
    let deep_data = (0..DEEP).fold(json!("x"), |acc, _| json!([acc]));
    let big = random_text(3_000); // 4,000 characters: over PostgreSQL's 2,704-byte index rows
    assert!(big.len() > 2_704);
    let longer = random_text(3_800); // over description's 4,096 characters
    let data: Vec<(Value, Option<&str>)> = vec![
        (
            json!({"slug": "ok-1", "name": {"nested": true}}),
            Some("name"),
        ),
        (json!({"slug": "ok-2", "name": [1, 2]}), Some("name")),
        (json!({"slug": "ok-3", "nope": 1}), Some("nope")),
        (json!({"slug": "ok-6", "name": deep_data}), None),
        (json!({"slug": big}), Some("slug")),
        (json!({"slug": "ok-7", "name": big}), Some("name")),
        (
            json!({"slug": "ok-8", "description": longer}),
            Some("description"),
        ),
        (json!({"slug": "nul\u{0}byte"}), Some("slug")),
        (json!("just a string"), None),
        (json!(42), None),
        (json!(null), None),
    ];
    for (d, field) in data {
        let what: String = d.to_string().chars().take(80).collect();
        let res = c.create("roles", d.clone(), q()).await;
        check.bad(res, &format!("create {what}"), field).await;
        let res = c.patch("roles", victim["id"].clone(), d.clone(), q()).await;
        check.bad(res, &format!("patch {what}"), field).await;
        let res = c
            .update("roles", victim["id"].clone(), d.clone(), q())
            .await;
        check.bad(res, &format!("update {what}"), field).await;
    }
    let big_email = format!("{big}@roost.test");
    for (d, field) in [
        (json!({"email": 5, "password": PASSWORD}), "email"),
        (
            json!({"email": "y@roost.test", "password": ["a"]}),
            "password",
        ),
        (json!({"email": big_email, "password": PASSWORD}), "email"),
        (
            json!({"email": "z@roost.test", "password": PASSWORD, "first_name": big}),
            "first_name",
        ),
    ] {
        let what: String = d.to_string().chars().take(80).collect();
        let res = c.create("users", d, q()).await;
        check
            .bad(res, &format!("create user {what}"), Some(field))
            .await;
    }
    for (d, field) in [
        (json!({"email": big_email}), "email"),
        (json!({"username": big}), "username"),
        (json!({"last_name": big}), "last_name"),
    ] {
        let what: String = d.to_string().chars().take(80).collect();
        let res = c.patch("users", user["id"].clone(), d, q()).await;
        check
            .bad(res, &format!("patch user {what}"), Some(field))
            .await;
    }
    let anon = srv.client().await;
    let res = anon.authenticate(json!("string")).await;
    check.bad(res, "login with a string", None).await;
    let check_before = check.finish();
    // Login data that cannot name an account is an ordinary failed login (401, the
    // answer that reveals nothing), never a success.
    for (login, message) in [
        (
            json!({"strategy": "local", "email": {"$ne": null}, "password": {"$ne": null}}),
            "Invalid login",
        ),
        (
            json!({"strategy": "local", "email": big_email, "password": PASSWORD}),
            "Invalid login",
        ),
        (
            json!({"strategy": 5}),
            "Invalid authentication information (strategy not allowed in authStrategies)",
        ),
    ] {
        let e = expect_err(anon.authenticate(login).await, "NotAuthenticated", 401);
        assert_eq!(e.message(), message, "{}", e.body);
    }
    assert_eq!(
        snapshot(&c).await,
        check_before,
        "failed logins change no table"
    );
    // The server still works, over this transport too.
    ok(c.find("roles", q()).await);
    ok(srv.admin().await.find("roles", q()).await);
}
