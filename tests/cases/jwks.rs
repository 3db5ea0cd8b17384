//! Access tokens other apps verify without a shared secret: `authentication.algorithm`
//! EdDSA or RS256 with a key file (the test-only keys of tests/fixtures/jwks), the public
//! keys at `GET /.well-known/jwks.json`. Tokens are checked here as another app would:
//! jsonwebtoken with a key built from the served JWK Set, never Roost's own `Keys`.

use std::ffi::OsString;
use std::path::PathBuf;

use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Validation};
use roost::config::Config;
use serde_json::{Value, json};

use crate::scenarios;
use crate::support::*;

scenarios!(
    eddsa_tokens_verify_with_the_published_key,
    rs256_tokens_verify_with_the_published_key
);

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/jwks")
        .join(name)
}

fn signing_with(alg: &'static str, key: &'static str) -> impl FnOnce(&mut Config) {
    move |c| {
        c.authentication.algorithm = alg.into();
        c.authentication.signing_key_file = Some(fixture(key));
    }
}

/// The served JWK Set, checked for what every answer must be: public, cacheable.
async fn jwks_of(url: &str) -> Value {
    let r = RestClient::new(url)
        .raw_anonymous("GET", "/.well-known/jwks.json", None, &[])
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.header("cache-control"), Some("public, max-age=300"));
    let jwks = r.json();
    for key in jwks["keys"].as_array().expect("keys") {
        for private in ["d", "p", "q", "dp", "dq", "qi", "k", "oth"] {
            assert!(
                key.get(private).is_none(),
                "private member {private}: {key}"
            );
        }
        assert_eq!(key["use"], "sig", "{key}");
        assert!(key["kid"].as_str().is_some_and(|k| !k.is_empty()), "{key}");
    }
    jwks
}

/// Verifies `token` with the key its `kid` names in `jwks`: signature, `alg`, `aud`,
/// `iss` and `exp`. Returns the claims.
#[track_caller]
fn verify_with_jwks(jwks: &Value, token: &str, alg: Algorithm) -> Value {
    let set: JwkSet = serde_json::from_value(jwks.clone()).expect("a JWK Set");
    let header = jsonwebtoken::decode_header(token).expect("header");
    assert_eq!(header.alg, alg);
    assert_eq!(header.typ.as_deref(), Some("access"));
    let jwk = set
        .find(header.kid.as_deref().expect("kid"))
        .expect("the token's kid is published");
    let key = DecodingKey::from_jwk(jwk).expect("a usable JWK");
    let mut validation = Validation::new(alg);
    validation.set_audience(&["roost"]);
    validation.set_issuer(&["roost"]);
    jsonwebtoken::decode::<Value>(token, &key, &validation)
        .expect("verifies with the published key")
        .claims
}

async fn eddsa_tokens_verify_with_the_published_key(s: Setup) {
    tokens_verify_with_the_published_key(s, "EdDSA", "ed25519-a.pem", Algorithm::EdDSA).await
}

async fn rs256_tokens_verify_with_the_published_key(s: Setup) {
    tokens_verify_with_the_published_key(s, "RS256", "rsa-2048.pem", Algorithm::RS256).await
}

/// Login, verification by a third party, use, `jwt` re-authentication and logout.
async fn tokens_verify_with_the_published_key(
    s: Setup,
    name: &'static str,
    key: &'static str,
    alg: Algorithm,
) {
    let srv = s.server_with(signing_with(name, key)).await;
    let jwks = jwks_of(&srv.url()).await;
    let keys = jwks["keys"].as_array().unwrap();
    assert_eq!(keys.len(), 1, "{jwks}");
    assert_eq!(keys[0]["alg"], name);
    assert_eq!(keys[0]["kty"], if name == "EdDSA" { "OKP" } else { "RSA" });
    let kid = keys[0]["kid"].as_str().unwrap().to_string();

    let admin = srv.rest_admin().await;
    let user = srv.create_user(&admin, "verify@roost.test").await;
    let c = srv.login("verify@roost.test", PASSWORD).await;
    let token = c.token().unwrap();
    let jwt = decode_jwt(&token);
    assert_eq!(
        jwt.header_text,
        format!(r#"{{"alg":"{name}","typ":"access","kid":"{kid}"}}"#)
    );
    assert!(
        jwt.claims_text.starts_with(r#"{"iat":"#),
        "{}",
        jwt.claims_text
    );
    let order: Vec<&String> = jwt.claims.as_object().unwrap().keys().collect();
    assert_eq!(order, ["iat", "exp", "aud", "iss", "sub", "jti"]);

    let claims = verify_with_jwks(&jwks, &token, alg);
    assert_eq!(claims["sub"], user["id"].to_string());
    assert_eq!(claims, jwt.claims);

    ok(c.get("users", user["id"].clone(), q()).await);
    let again = srv.client().await;
    let res = ok(again
        .authenticate(json!({"strategy": "jwt", "accessToken": token}))
        .await);
    assert_eq!(res["accessToken"], token);
    ok(again.find("users", q()).await);

    ok(c.logout().await);
    let rest = srv.rest();
    rest.set_token(Some(token.clone()));
    let e = expect_err(
        rest.get("users", user["id"].clone(), q()).await,
        "NotAuthenticated",
        401,
    );
    e.assert_well_formed();
}

/// The message a REST call with `token` is refused with (always 401 NotAuthenticated).
async fn refusal(url: &str, token: &str) -> String {
    let rest = RestClient::new(url);
    rest.set_token(Some(token.to_string()));
    let e = expect_err(rest.find("users", q()).await, "NotAuthenticated", 401);
    e.message().to_string()
}

fn hs256(message: &str, key: &[u8]) -> String {
    let signature = jsonwebtoken::crypto::sign(
        message.as_bytes(),
        &EncodingKey::from_secret(key),
        Algorithm::HS256,
    )
    .unwrap();
    format!("{message}.{signature}")
}

/// No algorithm confusion: a token naming HS256 (signed with the test secret, the public
/// key's bytes, its PEM or its JWK) or `none` is refused before any key is tried.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn other_algorithms_are_refused() {
    for (name, key, public) in [
        ("EdDSA", "ed25519-a.pem", "ed25519-a.pub.pem"),
        ("RS256", "rsa-2048.pem", "rsa-2048.pub.pem"),
    ] {
        let srv = Setup::new(Backend::Sqlite, Transport::Rest)
            .server_with(signing_with(name, key))
            .await;
        let url = srv.url();
        let jwks = jwks_of(&url).await;
        let jwk = &jwks["keys"][0];
        let admin = srv.rest_admin().await;
        let token = admin.token().unwrap();
        ok(admin.find("users", q()).await);
        let claims = token.split('.').nth(1).unwrap().to_string();
        let kid = jwk["kid"].as_str().unwrap();

        let public_bytes = match name {
            "EdDSA" => base64url_decode(jwk["x"].as_str().unwrap()),
            _ => base64url_decode(jwk["n"].as_str().unwrap()),
        };
        let pem = std::fs::read(fixture(public)).unwrap();
        let hs_header = base64url_encode(
            format!(r#"{{"alg":"HS256","typ":"access","kid":"{kid}"}}"#).as_bytes(),
        );
        let message = format!("{hs_header}.{claims}");
        for secret in [
            SECRET.as_bytes(),
            &public_bytes,
            &pem,
            jwk.to_string().as_bytes(),
            jwks.to_string().as_bytes(),
        ] {
            assert_eq!(
                refusal(&url, &hs256(&message, secret)).await,
                "invalid algorithm",
                "{name}"
            );
        }
        let none = base64url_encode(br#"{"alg":"none","typ":"access"}"#);
        assert_eq!(
            refusal(&url, &format!("{none}.{claims}.")).await,
            "jwt signature is required"
        );
        assert_eq!(
            refusal(&url, &format!("{none}.{claims}.AAAA")).await,
            "invalid algorithm"
        );
        // The other asymmetric algorithm, with the real signature bytes.
        let other = if name == "EdDSA" { "RS256" } else { "EdDSA" };
        let swapped = base64url_encode(
            format!(r#"{{"alg":"{other}","typ":"access","kid":"{kid}"}}"#).as_bytes(),
        );
        let signature = token.rsplit('.').next().unwrap();
        assert_eq!(
            refusal(&url, &format!("{swapped}.{claims}.{signature}")).await,
            "invalid algorithm"
        );
        // The right algorithm, a changed signature.
        let (signed, signature) = token.rsplit_once('.').unwrap();
        let first = if signature.starts_with('A') { 'Q' } else { 'A' };
        assert_eq!(
            refusal(&url, &format!("{signed}.{first}{}", &signature[1..])).await,
            "invalid signature"
        );
        // Over Socket.IO, through the `jwt` strategy.
        let socket = srv.socket().await;
        let e = expect_err(
            socket
                .authenticate(json!({"strategy": "jwt", "accessToken": hs256(&message, &pem)}))
                .await,
            "NotAuthenticated",
            401,
        );
        assert_eq!(e.message(), "invalid algorithm");
        ok(admin.find("users", q()).await);
    }
}

/// Rotation: the new key signs, the old one (`previous_keys`) still verifies and stays
/// published, so tokens issued before the rotation work until they expire.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn previous_keys_keep_earlier_tokens_valid() {
    let srv = Setup::new(Backend::Sqlite, Transport::Rest)
        .server_with(signing_with("EdDSA", "ed25519-a.pem"))
        .await;
    let old_kid = jwks_of(&srv.url()).await["keys"][0]["kid"].clone();
    let before = srv.rest_admin().await.token().unwrap();

    let mut config = srv.config.clone();
    config.authentication.signing_key_file = Some(fixture("ed25519-b.pem"));
    config.authentication.kid = Some("roost-b".into());
    config.authentication.previous_keys = vec![
        fixture("ed25519-a.pub.pem").display().to_string(),
        // A key listed twice is published once.
        fixture("ed25519-a.pem").display().to_string(),
    ];
    let rotated = roost::app::start(config.clone()).await.unwrap();
    let url = format!("http://{}", rotated.addr);
    let jwks = jwks_of(&url).await;
    let kids: Vec<&Value> = jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| &k["kid"])
        .collect();
    assert_eq!(kids.len(), 2, "{jwks}");
    assert_eq!(kids[0], "roost-b");
    assert_eq!(kids[1], &old_kid);

    verify_with_jwks(&jwks, &before, Algorithm::EdDSA);
    let old = RestClient::new(&url);
    old.set_token(Some(before.clone()));
    ok(old.find("users", q()).await);
    let fresh = RestClient::new(&url);
    ok(fresh
        .authenticate(
            json!({"strategy": "local", "email": ADMIN_EMAIL, "password": ADMIN_PASSWORD}),
        )
        .await);
    let after = fresh.token().unwrap();
    assert_eq!(decode_jwt(&after).header["kid"], *kids[0]);
    verify_with_jwks(&jwks, &after, Algorithm::EdDSA);
    rotated.stop();

    // Without the old key, its tokens no longer verify.
    config.authentication.previous_keys.clear();
    let strict = roost::app::start(config).await.unwrap();
    let url = format!("http://{}", strict.addr);
    assert_eq!(refusal(&url, &before).await, "invalid signature");
    let fresh = RestClient::new(&url);
    fresh.set_token(Some(after));
    ok(fresh.find("users", q()).await);
    strict.stop();
}

#[tokio::test]
async fn hs256_publishes_no_key() {
    let srv = Setup::new(Backend::Sqlite, Transport::Rest).server().await;
    assert_eq!(jwks_of(&srv.url()).await, json!({"keys": []}));
    let token = srv.rest_admin().await.token().unwrap();
    assert_eq!(
        decode_jwt(&token).header_text,
        r#"{"alg":"HS256","typ":"access"}"#
    );
    let doc = srv
        .rest()
        .raw("GET", "/openapi.json", None, &[])
        .await
        .json();
    let op = &doc["paths"]["/.well-known/jwks.json"]["get"];
    assert_eq!(op["operationId"], "jwks");
    let about = srv.rest().raw("GET", "/", None, &[]).await.json();
    assert_eq!(about["links"]["jwks"], "/.well-known/jwks.json");
}

/// The error `roost::app::start` stops with for the configuration `edit` makes.
async fn start_error(edit: impl FnOnce(&mut Config)) -> String {
    let dir = TempDir::new();
    let mut config = Config {
        database_url: format!("sqlite://{}?mode=rwc", dir.0.join("roost.db").display()),
        port: 0,
        data_dir: dir.0.clone(),
        ..Config::default()
    };
    edit(&mut config);
    match roost::app::start(config).await {
        Ok(server) => {
            server.stop();
            panic!("started");
        }
        Err(e) => format!("{e:#}"),
    }
}

#[track_caller]
fn assert_says(error: &str, parts: &[&str]) {
    for part in parts {
        assert!(error.contains(part), "expected {part:?} in:\n{error}");
    }
}

#[tokio::test]
async fn bad_key_configurations_stop_start_up() {
    const SETTING: &str =
        "authentication.signing_key_file (ROOST_AUTHENTICATION__SIGNING_KEY_FILE)";
    const ALGORITHM: &str = "authentication.algorithm (ROOST_AUTHENTICATION__ALGORITHM)";
    let e = start_error(|c| c.authentication.algorithm = "EdDSA".into()).await;
    assert_says(
        &e,
        &[&format!(
            "{ALGORITHM} is EdDSA but {SETTING} is not set: create a private key with \
             `openssl genpkey -algorithm ed25519 -out roost-signing.pem` and set \
             ROOST_AUTHENTICATION__SIGNING_KEY_FILE=roost-signing.pem"
        )],
    );
    let e = start_error(|c| c.authentication.algorithm = "RS256".into()).await;
    assert_says(&e, &["rsa_keygen_bits:3072"]);

    let missing = fixture("missing.pem");
    let e = start_error(signing_with("EdDSA", "missing.pem")).await;
    assert_says(
        &e,
        &[&format!("{SETTING}: cannot read {}", missing.display())],
    );
    let e = start_error(signing_with("EdDSA", "rsa-2048.pem")).await;
    assert_says(
        &e,
        &[
            "holds an RSA key, but",
            &format!("{ALGORITHM} is EdDSA: create a key with `openssl genpkey -algorithm ed25519"),
        ],
    );
    let e = start_error(signing_with("RS256", "ed25519-a.pem")).await;
    assert_says(
        &e,
        &["holds an Ed25519 key, but", "is RS256", "rsa_keygen_bits"],
    );
    let e = start_error(signing_with("RS256", "rsa-1024.pem")).await;
    assert_says(
        &e,
        &[
            &format!("{SETTING}: "),
            "is a 1024-bit RSA key; RS256 needs 2048 to 4096 bits",
        ],
    );
    let e = start_error(signing_with("EdDSA", "ec-p256.pem")).await;
    assert_says(&e, &["neither Ed25519 (EdDSA) nor RSA (RS256)"]);
    let e = start_error(signing_with("EdDSA", "ed25519-a.pub.pem")).await;
    assert_says(&e, &["holds a public key; signing needs the private key"]);
    let e = start_error(signing_with("EdDSA", "README.md")).await;
    assert_says(&e, &[&format!("{SETTING}: "), "is not a PEM key file"]);
    let e = start_error(|c| {
        signing_with("EdDSA", "ed25519-a.pem")(c);
        c.authentication.previous_keys = vec![fixture("rsa-1024.pem").display().to_string()];
    })
    .await;
    assert_says(
        &e,
        &[
            "authentication.previous_keys (ROOST_AUTHENTICATION__PREVIOUS_KEYS): ",
            "1024-bit",
        ],
    );
    // A key file without the algorithm that uses it is a mistake, not ignored.
    let e =
        start_error(|c| c.authentication.signing_key_file = Some(fixture("ed25519-a.pem"))).await;
    assert_says(&e, &[&format!("{SETTING} is set but {ALGORITHM} is HS256")]);
    let e = start_error(|c| c.authentication.algorithm = "ES256".into()).await;
    assert_says(&e, &[&format!("{ALGORITHM} must be HS256"), "not 'ES256'"]);
}

#[test]
fn algorithm_setting_is_checked_and_spelled_as_jose() {
    let load = |vars: &[(&str, &str)]| {
        Config::load_from(
            vars.iter()
                .map(|(k, v)| (OsString::from(k), OsString::from(v))),
        )
    };
    let e = load(&[("ROOST_AUTHENTICATION__ALGORITHM", "none")])
        .unwrap_err()
        .to_string();
    assert_says(
        &e,
        &[
            "authentication.algorithm (ROOST_AUTHENTICATION__ALGORITHM) must be HS256",
            "not 'none'",
        ],
    );
    let config = load(&[
        ("ROOST_AUTHENTICATION__ALGORITHM", "eddsa"),
        ("ROOST_AUTHENTICATION__PREVIOUS_KEYS", "a.pem, b.pem"),
    ])
    .unwrap();
    assert_eq!(config.authentication.algorithm, "EdDSA");
    assert_eq!(config.authentication.previous_keys, ["a.pem", "b.pem"]);
    let e = load(&[("ROOST_AUTHENTICATION__KID", "has space")])
        .unwrap_err()
        .to_string();
    assert_says(
        &e,
        &["authentication.kid (ROOST_AUTHENTICATION__KID) must be"],
    );
}

/// The real binary prints the error once and exits 1 (see `startup`).
#[test]
fn the_binary_names_the_missing_key_file() {
    let dir = TempDir::new();
    let run = crate::startup::roost(&dir.0, &[("ROOST_AUTHENTICATION__ALGORITHM", "EdDSA")]);
    run.refused_with(
        "is EdDSA but authentication.signing_key_file (ROOST_AUTHENTICATION__SIGNING_KEY_FILE) \
         is not set: create a private key with `openssl genpkey -algorithm ed25519 -out \
         roost-signing.pem`",
    );
    let key = fixture("ed25519-a.pem");
    crate::startup::roost(
        &dir.0,
        &[
            ("ROOST_AUTHENTICATION__ALGORITHM", "eddsa"),
            (
                "ROOST_AUTHENTICATION__SIGNING_KEY_FILE",
                key.to_str().unwrap(),
            ),
        ],
    )
    .started();
}
