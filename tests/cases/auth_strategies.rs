//! Login strategies by name (issue 10): `local`, `jwt`, `otp` and each `oauth_providers`
//! slug; any other name is Feathers' 401 for a strategy outside `authStrategies`.

use serde_json::json;

use crate::scenarios;
use crate::support::*;

scenarios!(unknown_strategies_are_not_allowed);

/// `@feathersjs/authentication` v5 `AuthenticationBase.authenticate`.
const NOT_ALLOWED: &str =
    "Invalid authentication information (strategy not allowed in authStrategies)";

async fn unknown_strategies_are_not_allowed(s: Setup) {
    let srv = s.server().await;
    let anon = srv.client().await;
    for login in [
        json!({"strategy": "nope"}),
        json!({"strategy": "nope", "email": ADMIN_EMAIL, "password": ADMIN_PASSWORD}),
        // Names are exact, as in Feathers.
        json!({"strategy": "LOCAL", "email": ADMIN_EMAIL, "password": ADMIN_PASSWORD}),
        json!({"strategy": " jwt"}),
        // An OAuth provider slug that no row of `oauth_providers` has.
        json!({"strategy": "github", "access_token": "x"}),
        json!({"strategy": "github", "id_token": "x.y.z"}),
        json!({"strategy": 5}),
        json!({"strategy": ["local"], "email": ADMIN_EMAIL, "password": ADMIN_PASSWORD}),
        json!({"strategy": {"name": "local"}}),
    ] {
        let e = expect_err(
            anon.authenticate(login.clone()).await,
            "NotAuthenticated",
            401,
        );
        assert_eq!(e.message(), NOT_ALLOWED, "{login}: {}", e.body);
    }
    // Nothing was bound by those attempts.
    expect_err(anon.find("roles", q()).await, "NotAuthenticated", 401);

    // A provider added while the server runs is a strategy at once (here one without
    // endpoints: the answer names what is missing), and stops being one when removed.
    let admin = srv.admin().await;
    let row = ok(admin
        .create(
            "oauth_providers",
            json!({"name": "Halfway", "slug": "halfway", "key": "k"}),
            q(),
        )
        .await);
    let e = expect_err(
        anon.authenticate(json!({"strategy": "halfway", "access_token": "x"}))
            .await,
        "BadRequest",
        400,
    );
    assert_eq!(
        e.message(),
        "OAuth provider 'halfway' is not fully configured (authorize_url)",
        "{}",
        e.body
    );
    ok(admin
        .remove("oauth_providers", row["id"].clone(), q())
        .await);
    let e = expect_err(
        anon.authenticate(json!({"strategy": "halfway", "access_token": "x"}))
            .await,
        "NotAuthenticated",
        401,
    );
    assert_eq!(e.message(), NOT_ALLOWED, "{}", e.body);

    // The registered names still work on the same connection.
    let login = ok(anon
        .authenticate(json!({"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD}))
        .await);
    assert_eq!(login["authentication"]["strategy"], "local");
    let again = ok(anon
        .authenticate(json!({"strategy": "jwt", "accessToken": login["accessToken"]}))
        .await);
    assert_eq!(again["accessToken"], login["accessToken"]);
    ok(anon.find("roles", q()).await);
}
