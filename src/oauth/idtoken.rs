//! ID token validation (OpenID Connect Core §3.1.3.7): signature by a key of the issuer's
//! JWKS (asymmetric algorithms only: never `none` or HS*), `iss`, `aud` (and `azp` when
//! there are several audiences), `exp` / `nbf` with the configured leeway, and `nonce`.

use jsonwebtoken::{Algorithm, DecodingKey, Validation, decode, decode_header};
use serde_json::{Map, Value};

use super::http::Http;
use super::provider::Provider;
use crate::error::{Error, Result};

const ALLOWED: [Algorithm; 9] = [
    Algorithm::RS256,
    Algorithm::RS384,
    Algorithm::RS512,
    Algorithm::PS256,
    Algorithm::PS384,
    Algorithm::PS512,
    Algorithm::ES256,
    Algorithm::ES384,
    Algorithm::EdDSA,
];

fn invalid(why: &str) -> Error {
    Error::not_authenticated(format!("Invalid ID token: {why}"))
}

/// The validated claims of `token`. `nonce`: the value the flow sent, which the token
/// must carry (`None` skips the check: no nonce was sent).
pub async fn validate(
    http: &Http,
    provider: &Provider,
    token: &str,
    nonce: Option<&str>,
    leeway: u64,
) -> Result<Map<String, Value>> {
    let (Some(issuer), Some(jwks_uri)) = (&provider.issuer, &provider.jwks_uri) else {
        return Err(invalid("the provider is not an OpenID Connect provider"));
    };
    let header = decode_header(token).map_err(|_| invalid("malformed"))?;
    if !ALLOWED.contains(&header.alg) {
        return Err(invalid("unsupported algorithm"));
    }
    let set = http.jwks(jwks_uri, header.kid.as_deref()).await?;
    let jwk = match &header.kid {
        Some(kid) => set.find(kid),
        // Without a `kid`, only an unambiguous key set will do.
        None if set.keys.len() == 1 => set.keys.first(),
        None => None,
    }
    .ok_or_else(|| invalid("unknown signing key"))?;
    let key = DecodingKey::from_jwk(jwk).map_err(|_| invalid("unusable signing key"))?;
    let mut validation = Validation::new(header.alg);
    validation.set_issuer(&[issuer]);
    validation.set_audience(&[&provider.client_id]);
    validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
    validation.leeway = leeway;
    validation.validate_nbf = true;
    let data = decode::<Map<String, Value>>(token, &key, &validation).map_err(|e| {
        use jsonwebtoken::errors::ErrorKind as K;
        invalid(match e.kind() {
            K::ExpiredSignature => "expired",
            K::ImmatureSignature => "not yet valid",
            K::InvalidSignature => "bad signature",
            K::InvalidIssuer => "wrong issuer",
            K::InvalidAudience => "wrong audience",
            K::InvalidAlgorithm => "algorithm does not match the key",
            K::MissingRequiredClaim(_) => "missing claim",
            _ => "malformed",
        })
    })?;
    let claims = data.claims;
    if let Some(Value::Array(audiences)) = claims.get("aud")
        && audiences.len() > 1
        && claims.get("azp").and_then(Value::as_str) != Some(provider.client_id.as_str())
    {
        return Err(invalid("wrong authorized party"));
    }
    if let Some(expected) = nonce
        && claims.get("nonce").and_then(Value::as_str) != Some(expected)
    {
        return Err(invalid("nonce mismatch"));
    }
    match claims.get("sub") {
        Some(Value::String(s)) if !s.is_empty() => Ok(claims),
        _ => Err(invalid("missing subject")),
    }
}
