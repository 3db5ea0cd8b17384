//! Assertions and decoders shared by the scenarios.

use serde_json::Value;

/// The id of a record, as JSON.
#[track_caller]
pub fn id_of(record: &Value) -> Value {
    let id = record["id"].clone();
    assert!(
        id.is_i64() || id.is_u64(),
        "record without an integer id: {record}"
    );
    id
}

/// Decodes base64url without padding (JWT segments).
pub fn base64url_decode(input: &str) -> Vec<u8> {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = Vec::new();
    let (mut buf, mut bits) = (0u32, 0u32);
    for c in input.bytes().filter(|c| *c != b'=') {
        let v = ALPHABET
            .iter()
            .position(|a| *a == c)
            .unwrap_or_else(|| panic!("not base64url: {input}")) as u32;
        buf = (buf << 6) | v;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((buf >> bits) as u8);
        }
    }
    out
}

/// Encodes base64url without padding.
pub fn base64url_encode(input: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::new();
    for chunk in input.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..=chunk.len() {
            out.push(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize] as char);
        }
    }
    out
}

/// A JWT's header and claims, as raw JSON text (to check key order) and as values.
pub struct Jwt {
    pub header_text: String,
    pub claims_text: String,
    pub header: Value,
    pub claims: Value,
}

#[track_caller]
pub fn decode_jwt(token: &str) -> Jwt {
    let parts: Vec<&str> = token.split('.').collect();
    assert_eq!(parts.len(), 3, "a JWT has three parts: {token}");
    let header_text = String::from_utf8(base64url_decode(parts[0])).expect("UTF-8 header");
    let claims_text = String::from_utf8(base64url_decode(parts[1])).expect("UTF-8 claims");
    Jwt {
        header: serde_json::from_str(&header_text).expect("JSON header"),
        claims: serde_json::from_str(&claims_text).expect("JSON claims"),
        header_text,
        claims_text,
    }
}

/// Asserts that no key anywhere in `v` names a password and that `secret` does not
/// appear anywhere in its text.
#[track_caller]
pub fn assert_no_password(v: &Value, secret: &str) {
    let text = v.to_string();
    assert!(!text.contains(secret), "the password leaked: {text}");
    fn walk(v: &Value, text: &str) {
        match v {
            Value::Object(m) => {
                for (k, v) in m {
                    assert!(
                        !k.to_ascii_lowercase().contains("password"),
                        "a password field leaked ({k}): {text}"
                    );
                    walk(v, text);
                }
            }
            Value::Array(items) => items.iter().for_each(|i| walk(i, text)),
            _ => {}
        }
    }
    walk(v, &text);
}

/// The `data` of a paginated find (asserting the page shape).
#[track_caller]
pub fn page_data(page: &Value) -> Vec<Value> {
    assert_page_shape(page);
    page["data"].as_array().cloned().unwrap_or_default()
}

/// Asserts `{total, limit, skip, data}` with integer numbers and an array.
#[track_caller]
pub fn assert_page_shape(page: &Value) {
    let obj = page
        .as_object()
        .unwrap_or_else(|| panic!("find must return a page object: {page}"));
    let mut keys: Vec<&str> = obj.keys().map(String::as_str).collect();
    keys.sort_unstable();
    assert_eq!(
        keys,
        ["data", "limit", "skip", "total"],
        "page keys: {page}"
    );
    assert!(page["total"].is_u64(), "total: {page}");
    assert!(page["limit"].is_u64(), "limit: {page}");
    assert!(page["skip"].is_u64(), "skip: {page}");
    assert!(page["data"].is_array(), "data: {page}");
}

/// The ids in a page, in order.
#[track_caller]
pub fn page_ids(page: &Value) -> Vec<i64> {
    page_data(page)
        .iter()
        .map(|r| r["id"].as_i64().unwrap_or_else(|| panic!("id in {r}")))
        .collect()
}

/// A field of each record in a page, in order.
#[track_caller]
pub fn page_field(page: &Value, field: &str) -> Vec<Value> {
    page_data(page).iter().map(|r| r[field].clone()).collect()
}

/// The 39 seeded access scopes, in id order (seeds/000).
pub const SEEDED_SCOPES: [&str; 39] = [
    "full_access",
    "roles",
    "roles_read",
    "roles_write",
    "roles_create",
    "roles_remove",
    "scopes_read",
    "scopes_write",
    "users_read",
    "users_write",
    "users_create",
    "users_remove",
    "users_read_full_name",
    "users_read_picture",
    "users_read_email",
    "users_read_phone",
    "users_write_username",
    "users_write_full_name",
    "users_write_picture",
    "users_write_email",
    "users_write_phone",
    "users_write_password",
    "user_oauth_providers_read",
    "user_oauth_providers_write",
    "auth_sessions_read",
    "auth_sessions_write",
    "auth_providers_read",
    "auth_providers_write",
    "user_roles_read",
    "user_roles_write",
    "role_scopes_read",
    "role_scopes_write",
    "access_group_types_read",
    "access_group_types_write",
    "access_groups_read",
    "access_groups_write",
    "access_groups_create",
    "user_group_roles_read",
    "user_group_roles_write",
];

/// Every resource service of seeds/000 (all need an authenticated caller).
pub const RESOURCES: [&str; 13] = [
    "users",
    "roles",
    "access_scopes",
    "role_access_scopes",
    "user_roles",
    "access_groups",
    "access_group_types",
    "user_group_roles",
    "group_group_roles",
    "oauth_providers",
    "auth_sessions",
    "user_oauth_providers",
    "events",
];

#[test]
fn base64url_round_trip() {
    for s in ["", "a", "ab", "abc", "abcd", "{\"alg\":\"HS256\"}"] {
        assert_eq!(
            base64url_decode(&base64url_encode(s.as_bytes())),
            s.as_bytes()
        );
    }
}
