//! Field-level rules on `users` (DESIGN §4).
//!
//! - One's own record is fully visible; `full_access` sees every field of everyone.
//! - With `users_read` alone, another user's `id username locale created_at updated_at`
//!   are visible; `users_read_full_name` adds `first_name middle_name last_name`,
//!   `users_read_picture` adds `picture`, `users_read_email` adds `email
//!   email_verified_at`, `users_read_phone` adds `phone phone_verified_at`. Other columns
//!   (`invited_by invited_date joined_date updated_by`) are for the owner and `full_access`.
//! - Writing another user's field needs its `users_write_<field>` scope where one exists
//!   (`username full_name picture email phone password`).
//!
//! Declared in the users policy (`readable_fields(READABLE)`): the core shapes `get`, `find`,
//! mutation results and realtime payloads with it (`service::fields`).

use crate::service::fields::ReadableFields;

/// Visible to anyone allowed to see the row.
const BASE: &[&str] = &["id", "username", "locale", "created_at", "updated_at"];

/// `(read scope, fields it adds)`.
const READ_SCOPES: &[(&str, &[&str])] = &[
    (
        "users_read_full_name",
        &["first_name", "middle_name", "last_name"],
    ),
    ("users_read_picture", &["picture"]),
    ("users_read_email", &["email", "email_verified_at"]),
    ("users_read_phone", &["phone", "phone_verified_at"]),
];

/// The scope needed to write `field` of another user, if the field has one.
pub fn write_scope(field: &str) -> Option<&'static str> {
    Some(match field {
        "username" => "users_write_username",
        "first_name" | "middle_name" | "last_name" => "users_write_full_name",
        "picture" => "users_write_picture",
        "email" => "users_write_email",
        "phone" => "users_write_phone",
        "password" => "users_write_password",
        _ => return None,
    })
}

/// The fields of another user's record a viewer may read (the core asks
/// `Scopes::is_full` first: `full_access` reads every field).
pub const READABLE: ReadableFields = ReadableFields::new(BASE, READ_SCOPES);

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::service::scopes::Scopes;

    /// DESIGN §4's field table, written out by hand: with `users_read` alone another
    /// user's `id username locale created_at updated_at` are visible; `_full_name` adds
    /// first/middle/last name, `_picture` the picture, `_email` the email and
    /// `email_verified_at`, `_phone` the phone and `phone_verified_at`; answers and
    /// events are shaped to exactly [`READABLE`].
    #[test]
    fn user_shapes_follow_the_design_field_table() {
        let record = json!({
            "id": 5, "username": "u", "email": "e@x.test", "email_verified_at": "v",
            "first_name": "F", "middle_name": "M", "last_name": "L", "phone": "+1",
            "phone_verified_at": "w", "picture": "p", "locale": "en",
            "created_at": "t", "updated_at": "t"
        });
        let base = ["id", "username", "locale", "created_at", "updated_at"];
        let cases: [(&[&str], &[&str]); 6] = [
            (&["users_read"], &[]),
            (
                &["users_read", "users_read_email"],
                &["email", "email_verified_at"],
            ),
            (
                &["users_read", "users_read_full_name"],
                &["first_name", "middle_name", "last_name"],
            ),
            (
                &["users_read", "users_read_phone"],
                &["phone", "phone_verified_at"],
            ),
            (
                &["users_read", "users_read_picture", "roles_read"],
                &["picture"],
            ),
            (
                &[
                    "users_read",
                    "users_read_full_name",
                    "users_read_picture",
                    "users_read_email",
                    "users_read_phone",
                ],
                &[
                    "first_name",
                    "middle_name",
                    "last_name",
                    "picture",
                    "email",
                    "email_verified_at",
                    "phone",
                    "phone_verified_at",
                ],
            ),
        ];
        for (set, added) in cases {
            let scopes = Scopes::new(set.iter().map(|s| s.to_string()));
            let mut shaped = record.clone();
            crate::service::fields::shape_result(&mut shaped, &super::super::POLICY, &scopes, 0);
            let mut got: Vec<&str> = shaped
                .as_object()
                .unwrap()
                .keys()
                .map(String::as_str)
                .collect();
            got.sort_unstable();
            let mut want: Vec<&str> = base.iter().chain(added).copied().collect();
            want.sort_unstable();
            assert_eq!(got, want, "{set:?}");
            for key in &want {
                assert_eq!(shaped[*key], record[*key], "{set:?}: {key} unchanged");
            }
            let mut readable: Vec<&str> = READABLE
                .fields(READABLE.held(&scopes))
                .iter()
                .copied()
                .filter(|k| record.get(*k).is_some())
                .collect();
            readable.sort_unstable();
            assert_eq!(readable, want, "{set:?}: READABLE");
        }
    }
}
