//! Authentication: local and jwt strategies, token format, 401s, logout, sign-up.

use serde_json::{Value, json};

use crate::scenarios;
use crate::support::*;

scenarios!(
    login_local_by_email,
    login_failures_are_invalid_login,
    login_jwt_returns_same_token,
    jwt_header_and_claims,
    login_by_username,
    login_without_strategy_is_local,
    forged_and_broken_tokens_are_rejected,
    unauthenticated_calls_are_rejected,
    logout_ends_the_session,
    signup_closed_by_default,
    signup_open_allows_anonymous_create,
    short_password_is_rejected,
    login_creates_an_auth_session,
    the_caller_follows_account_changes,
);

async fn login_local_by_email(s: Setup) {
    let srv = s.server().await;
    let c = srv.client().await;
    let res = ok(c
        .authenticate(
            json!({"strategy": "local", "email": ADMIN_EMAIL, "password": ADMIN_PASSWORD}),
        )
        .await);
    let token = res["accessToken"].as_str().expect("accessToken string");
    assert_eq!(res["authentication"]["strategy"], "local", "{res}");
    assert_eq!(
        res["authentication"]["payload"],
        decode_jwt(token).claims,
        "payload = decoded token"
    );
    assert_eq!(res["user"]["email"], ADMIN_EMAIL, "{res}");
    let user_id = res["user"]["id"].as_i64().expect("user.id integer");
    assert_eq!(
        res["authentication"]["payload"]["sub"],
        json!(user_id.to_string())
    );
    assert_no_password(&res, ADMIN_PASSWORD);
    // The client is now authenticated.
    let me = ok(c.get("users", json!(user_id), q()).await);
    assert_eq!(me["email"], ADMIN_EMAIL);
    assert_no_password(&me, ADMIN_PASSWORD);
}

async fn login_failures_are_invalid_login(s: Setup) {
    let srv = s.server().await;
    let c = srv.client().await;
    let attempts = [
        json!({"strategy": "local", "email": ADMIN_EMAIL, "password": "wrong-password-123"}),
        json!({"strategy": "local", "email": "nobody@roost.test", "password": ADMIN_PASSWORD}),
        json!({"strategy": "local", "email": ADMIN_EMAIL}),
        json!({"strategy": "local", "email": ADMIN_EMAIL, "password": ""}),
    ];
    for data in attempts {
        let e = expect_err(c.authenticate(data.clone()).await, "NotAuthenticated", 401);
        // Same answer whether or not the account exists (no enumeration).
        assert_eq!(e.message(), "Invalid login", "for {data}: {}", e.body);
    }
    assert!(c.token().is_none());
    expect_err(c.find("roles", q()).await, "NotAuthenticated", 401);
}

async fn login_jwt_returns_same_token(s: Setup) {
    let srv = s.server().await;
    let admin = srv.admin().await;
    let token = admin.token().expect("token");
    // A second, fresh client re-authenticates with the stored token (reAuthenticate).
    let c = srv.client().await;
    let res = ok(c
        .authenticate(json!({"strategy": "jwt", "accessToken": token}))
        .await);
    assert_eq!(
        res["accessToken"],
        json!(token),
        "jwt strategy must return the same token"
    );
    assert_eq!(res["authentication"]["strategy"], "jwt");
    assert_eq!(res["authentication"]["accessToken"], json!(token));
    assert_eq!(res["authentication"]["payload"], decode_jwt(&token).claims);
    assert_eq!(res["user"]["email"], ADMIN_EMAIL);
    assert_no_password(&res, ADMIN_PASSWORD);
    ok(c.find("roles", q()).await);
}

async fn jwt_header_and_claims(s: Setup) {
    let srv = s.server().await;
    let c = srv.client().await;
    let before = chrono::Utc::now().timestamp();
    let res = ok(c
        .authenticate(
            json!({"strategy": "local", "email": ADMIN_EMAIL, "password": ADMIN_PASSWORD}),
        )
        .await);
    let after = chrono::Utc::now().timestamp();
    let jwt = decode_jwt(res["accessToken"].as_str().unwrap());
    assert_eq!(jwt.header["alg"], "HS256", "{}", jwt.header_text);
    assert_eq!(jwt.header["typ"], "access", "{}", jwt.header_text);
    let keys: Vec<&str> = jwt
        .claims
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        keys,
        ["iat", "exp", "aud", "iss", "sub", "jti"],
        "claims (in Feathers' order): {}",
        jwt.claims_text
    );
    let iat = jwt.claims["iat"].as_i64().expect("iat integer");
    assert!(iat >= before - 1 && iat <= after + 1, "iat {iat} not now");
    assert_eq!(
        jwt.claims["exp"].as_i64().unwrap() - iat,
        srv.config.authentication.expires_in as i64
    );
    assert_eq!(jwt.claims["aud"], json!(srv.config.authentication.audience));
    assert_eq!(jwt.claims["iss"], json!(srv.config.authentication.issuer));
    assert_eq!(
        jwt.claims["sub"],
        json!(res["user"]["id"].as_i64().unwrap().to_string()),
        "sub is the id as a string"
    );
    let jti = jwt.claims["jti"].as_str().expect("jti string");
    assert!(uuid::Uuid::parse_str(jti).is_ok(), "jti is a UUID: {jti}");
    // Signed with the configured secret, as raw bytes.
    let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::HS256);
    validation.set_audience(&[&srv.config.authentication.audience]);
    jsonwebtoken::decode::<Value>(
        res["accessToken"].as_str().unwrap(),
        &jsonwebtoken::DecodingKey::from_secret(SECRET.as_bytes()),
        &validation,
    )
    .expect("token verifies with the configured secret");
    // A second login gets a different session id.
    let again = ok(srv
        .client()
        .await
        .authenticate(
            json!({"strategy": "local", "email": ADMIN_EMAIL, "password": ADMIN_PASSWORD}),
        )
        .await);
    assert_ne!(
        decode_jwt(again["accessToken"].as_str().unwrap()).claims["jti"],
        jwt.claims["jti"]
    );
}

async fn login_by_username(s: Setup) {
    let srv = s.server().await;
    let admin = srv.admin().await;
    let user = ok(admin
        .create(
            "users",
            json!({"email": "ursula@roost.test", "username": "ursula", "password": PASSWORD}),
            q(),
        )
        .await);
    let c = srv.client().await;
    let res = ok(c
        .authenticate(json!({"strategy": "local", "username": "ursula", "password": PASSWORD}))
        .await);
    assert_eq!(res["user"]["id"], user["id"]);
    assert_eq!(res["authentication"]["strategy"], "local");
    let e = expect_err(
        srv.client().await
            .authenticate(json!({"strategy": "local", "username": "ursula", "password": "Not-The-Password-1"}))
            .await,
        "NotAuthenticated",
        401,
    );
    assert_eq!(e.message(), "Invalid login");
}

async fn login_without_strategy_is_local(s: Setup) {
    let srv = s.server().await;
    let c = srv.client().await;
    let res = ok(c
        .authenticate(json!({"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD}))
        .await);
    assert_eq!(res["authentication"]["strategy"], "local");
    assert_eq!(res["user"]["email"], ADMIN_EMAIL);
}

/// Signs `claims` with the test secret (or `secret`) the way Roost does.
fn forge(claims: &Value, secret: &str) -> String {
    let header = jsonwebtoken::Header {
        typ: Some("access".into()),
        ..jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256)
    };
    jsonwebtoken::encode(
        &header,
        claims,
        &jsonwebtoken::EncodingKey::from_secret(secret.as_bytes()),
    )
    .expect("sign")
}

async fn forged_and_broken_tokens_are_rejected(s: Setup) {
    let srv = s.server().await;
    let admin = srv.admin().await;
    let token = admin.token().unwrap();
    let claims = decode_jwt(&token).claims;
    let now = chrono::Utc::now().timestamp();
    let mut expired = claims.clone();
    expired["iat"] = json!(now - 7200);
    expired["exp"] = json!(now - 3600);
    let mut wrong_aud = claims.clone();
    wrong_aud["aud"] = json!("https://yourdomain.com");
    // Change the signature's first character: every bit of it is signature data (the
    // last character also carries unused padding bits, so changing it may change nothing).
    let (signed, signature) = token.rsplit_once('.').unwrap();
    let first = if signature.starts_with('A') { 'Q' } else { 'A' };
    let tampered = format!("{signed}.{first}{}", &signature[1..]);
    let cases: Vec<(String, String)> = vec![
        ("not-a-jwt".into(), "jwt malformed".into()),
        (tampered, "invalid signature".into()),
        (
            forge(&claims, "another-secret-another-secret-another!!"),
            "invalid signature".into(),
        ),
        (forge(&expired, SECRET), "jwt expired".into()),
        (
            forge(&wrong_aud, SECRET),
            format!(
                "jwt audience invalid. expected: {}",
                srv.config.authentication.audience
            ),
        ),
    ];
    for (bad, message) in cases {
        let c = srv.client().await;
        let e = expect_err(
            c.authenticate(json!({"strategy": "jwt", "accessToken": bad}))
                .await,
            "NotAuthenticated",
            401,
        );
        assert_eq!(e.message(), message, "{}", e.body);
        if message == "jwt expired" {
            assert_eq!(e.body["data"]["name"], "TokenExpiredError", "{}", e.body);
        }
        expect_err(c.find("roles", q()).await, "NotAuthenticated", 401);
    }
    // Missing token / unknown strategy.
    let c = srv.client().await;
    expect_err(
        c.authenticate(json!({"strategy": "jwt"})).await,
        "NotAuthenticated",
        401,
    );
    expect_err(
        c.authenticate(json!({"strategy": "nope", "email": ADMIN_EMAIL}))
            .await,
        "NotAuthenticated",
        401,
    );
}

async fn unauthenticated_calls_are_rejected(s: Setup) {
    let srv = s.server().await;
    let c = srv.client().await;
    for path in RESOURCES {
        let e = expect_err(c.find(path, q()).await, "NotAuthenticated", 401);
        assert!(!e.message().is_empty(), "{path}: {}", e.body);
        expect_err(c.get(path, json!(1), q()).await, "NotAuthenticated", 401);
    }
    expect_err(
        c.create("roles", json!({"slug": "x"}), q()).await,
        "NotAuthenticated",
        401,
    );
    expect_err(
        c.update("roles", json!(1), json!({"slug": "x"}), q()).await,
        "NotAuthenticated",
        401,
    );
    expect_err(
        c.patch("roles", json!(1), json!({"name": "x"}), q()).await,
        "NotAuthenticated",
        401,
    );
    expect_err(
        c.remove("roles", json!(1), q()).await,
        "NotAuthenticated",
        401,
    );
    expect_err(
        c.create(
            "users",
            json!({"email": "x@roost.test", "password": PASSWORD}),
            q(),
        )
        .await,
        "NotAuthenticated",
        401,
    );
    // Nothing was created by the refused calls.
    let admin = srv.admin().await;
    let page = ok(admin.find("roles", json!({"slug": "x"})).await);
    assert_eq!(page["total"], 0, "{page}");
    let page = ok(admin.find("users", json!({"email": "x@roost.test"})).await);
    assert_eq!(page["total"], 0, "{page}");
}

async fn logout_ends_the_session(s: Setup) {
    let srv = s.server().await;
    let admin = srv.admin().await;
    let token = admin.token().unwrap();
    ok(admin.find("roles", q()).await);
    let out = ok(admin.logout().await);
    assert_no_password(&out, ADMIN_PASSWORD);
    expect_err(admin.find("roles", q()).await, "NotAuthenticated", 401);
    // The token of a logged-out session is refused at once, on either transport.
    let again = srv.client().await;
    expect_err(
        again
            .authenticate(json!({"strategy": "jwt", "accessToken": token}))
            .await,
        "NotAuthenticated",
        401,
    );
    let rest = srv.rest();
    rest.set_token(Some(token));
    expect_err(rest.find("roles", q()).await, "NotAuthenticated", 401);
    // Logging in again works.
    let fresh = srv.admin().await;
    ok(fresh.find("roles", q()).await);
}

async fn signup_closed_by_default(s: Setup) {
    let srv = s.server().await;
    let c = srv.client().await;
    expect_err(
        c.create(
            "users",
            json!({"email": "walkin@roost.test", "password": PASSWORD}),
            q(),
        )
        .await,
        "NotAuthenticated",
        401,
    );
    expect_err(
        c.authenticate(
            json!({"strategy": "local", "email": "walkin@roost.test", "password": PASSWORD}),
        )
        .await,
        "NotAuthenticated",
        401,
    );
}

async fn signup_open_allows_anonymous_create(s: Setup) {
    let srv = s.server_with(|c| c.signup.open = true).await;
    let c = srv.client().await;
    let user = ok(c
        .create(
            "users",
            json!({"email": "walkin@roost.test", "password": PASSWORD, "first_name": "Walk"}),
            q(),
        )
        .await);
    assert_eq!(user["email"], "walkin@roost.test");
    assert_eq!(user["first_name"], "Walk");
    id_of(&user);
    assert_no_password(&user, PASSWORD);
    let me = srv.login("walkin@roost.test", PASSWORD).await;
    let got = ok(me.get("users", user["id"].clone(), q()).await);
    assert_eq!(got["email"], "walkin@roost.test");
    assert_no_password(&got, PASSWORD);
    // Such a user holds no roles.
    let admin = srv.admin().await;
    let roles = ok(admin
        .find("user_roles", json!({"user_id": user["id"]}))
        .await);
    assert_eq!(roles["total"], 0, "{roles}");
}

async fn short_password_is_rejected(s: Setup) {
    let srv = s.server().await;
    let admin = srv.admin().await;
    let min = srv.config.password.min_length;
    // Not repetitive (the policy refuses a short unit repeated, whatever its length).
    let base = "Quiet-Lantern-Orbit-77-Harbour-Light-Sonnet";
    let short = base[..min - 1].to_string();
    let e = expect_err(
        admin
            .create(
                "users",
                json!({"email": "short@roost.test", "password": short}),
                q(),
            )
            .await,
        "BadRequest",
        400,
    );
    assert_no_password(&e.body, &short);
    let page = ok(admin
        .find("users", json!({"email": "short@roost.test"}))
        .await);
    assert_eq!(page["total"], 0);
    let exact = base[..min].to_string();
    ok(admin
        .create(
            "users",
            json!({"email": "exact@roost.test", "password": exact}),
            q(),
        )
        .await);
}

async fn login_creates_an_auth_session(s: Setup) {
    let srv = s.server().await;
    let admin = srv.admin().await;
    let me = decode_jwt(&admin.token().unwrap()).claims["sub"]
        .as_str()
        .unwrap()
        .parse::<i64>()
        .unwrap();
    let before = ok(admin
        .find("auth_sessions", json!({"user_id": me, "$limit": 0}))
        .await)["total"]
        .as_u64()
        .unwrap();
    assert!(before >= 1, "the admin's own login made a session");
    let _second = srv.admin().await;
    let page = ok(admin
        .find("auth_sessions", json!({"user_id": me, "$sort": {"id": -1}}))
        .await);
    assert_eq!(page["total"].as_u64().unwrap(), before + 1, "{page}");
    let newest = &page_data(&page)[0];
    assert_eq!(newest["user_id"], json!(me));
    assert_eq!(newest["revoked"], json!(false), "{newest}");
}

/// The caller's record is cached between calls (no query per call); a committed change to
/// the account shows at the next `jwt` login, and a removed account's token stops working.
async fn the_caller_follows_account_changes(s: Setup) {
    let srv = s.server().await;
    let admin = srv.admin().await;
    let user = ok(admin
        .create(
            "users",
            json!({"email": "cora@roost.test", "username": "cora", "password": PASSWORD}),
            q(),
        )
        .await);
    let c = srv.client().await;
    let token = ok(c
        .authenticate(
            json!({"strategy": "local", "email": "cora@roost.test", "password": PASSWORD}),
        )
        .await)["accessToken"]
        .as_str()
        .expect("token")
        .to_string();
    let jwt_login = || async {
        let fresh = srv.client().await;
        ok(fresh
            .authenticate(json!({"strategy": "jwt", "accessToken": token}))
            .await)
    };
    assert_eq!(jwt_login().await["user"]["username"], "cora");
    // Changed by someone else (the admin): the next login answers the new record.
    ok(admin
        .patch(
            "users",
            user["id"].clone(),
            json!({"username": "cora2"}),
            q(),
        )
        .await);
    assert_eq!(jwt_login().await["user"]["username"], "cora2");
    // Changed by the caller itself.
    ok(c.patch(
        "users",
        user["id"].clone(),
        json!({"username": "cora3"}),
        q(),
    )
    .await);
    let again = jwt_login().await;
    assert_eq!(again["user"]["username"], "cora3", "{again}");
    assert_no_password(&again, PASSWORD);
    // Removed: the token is refused on either transport.
    ok(admin.remove("users", user["id"].clone(), q()).await);
    let rest = srv.rest();
    rest.set_token(Some(token.clone()));
    expect_err(rest.find("roles", q()).await, "NotAuthenticated", 401);
    expect_err(
        srv.client()
            .await
            .authenticate(json!({"strategy": "jwt", "accessToken": token}))
            .await,
        "NotAuthenticated",
        401,
    );
}
