use std::cell::RefCell;
use std::collections::BTreeSet;
use std::ffi::OsString;

use serde::Deserialize;
use serde::de::value::{Error, MapDeserializer, SeqDeserializer};
use serde::de::{self, DeserializeSeed, Deserializer, IntoDeserializer, MapAccess, Visitor};

use super::{Known, distance, env_name};
use crate::config::Config;

/// Drives `Config`'s derived `Deserialize` and records the path of every field it asks
/// for: exactly the keys serde accepts, whatever their defaults.
struct Probe<'a> {
    path: String,
    leaves: &'a RefCell<BTreeSet<String>>,
}

impl Probe<'_> {
    fn leaf(&self) {
        self.leaves.borrow_mut().insert(self.path.clone());
    }
}

/// Deserializer methods that record a leaf and hand the visitor a plausible value.
macro_rules! leaves {
    ($($method:ident => $visit:ident($($value:expr)?)),* $(,)?) => {$(
        fn $method<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
            self.leaf();
            visitor.$visit($($value)?)
        }
    )*};
}

impl<'de> Deserializer<'de> for Probe<'_> {
    type Error = Error;

    leaves! {
        // Untagged enums (`list_or_csv`, `http.trusted_proxies`) buffer what they get: a
        // string suits each of them.
        deserialize_any => visit_str(""),
        deserialize_bool => visit_bool(false),
        deserialize_i8 => visit_i64(1),
        deserialize_i16 => visit_i64(1),
        deserialize_i32 => visit_i64(1),
        deserialize_i64 => visit_i64(1),
        deserialize_u8 => visit_u64(1),
        deserialize_u16 => visit_u64(1),
        deserialize_u32 => visit_u64(1),
        deserialize_u64 => visit_u64(1),
        deserialize_f32 => visit_f64(1.0),
        deserialize_f64 => visit_f64(1.0),
        deserialize_char => visit_char('x'),
        deserialize_str => visit_str(""),
        deserialize_string => visit_str(""),
        deserialize_bytes => visit_bytes(b""),
        deserialize_byte_buf => visit_bytes(b""),
        deserialize_unit => visit_unit(),
        deserialize_identifier => visit_str(""),
        deserialize_ignored_any => visit_unit(),
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        // Into the `Some`: an optional section's keys are keys too.
        visitor.visit_some(self)
    }

    fn deserialize_seq<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        self.leaf();
        visitor.visit_seq(SeqDeserializer::<_, Error>::new(std::iter::empty::<()>()))
    }

    fn deserialize_map<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        self.leaf();
        visitor.visit_map(MapDeserializer::<_, Error>::new(
            std::iter::empty::<((), ())>(),
        ))
    }

    fn deserialize_tuple<V: Visitor<'de>>(self, _: usize, visitor: V) -> Result<V::Value, Error> {
        self.deserialize_seq(visitor)
    }

    fn deserialize_tuple_struct<V: Visitor<'de>>(
        self,
        _: &'static str,
        _: usize,
        visitor: V,
    ) -> Result<V::Value, Error> {
        self.deserialize_seq(visitor)
    }

    fn deserialize_unit_struct<V: Visitor<'de>>(
        self,
        _: &'static str,
        visitor: V,
    ) -> Result<V::Value, Error> {
        self.deserialize_unit(visitor)
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _: &'static str,
        visitor: V,
    ) -> Result<V::Value, Error> {
        visitor.visit_newtype_struct(self)
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        name: &'static str,
        _: &'static [&'static str],
        _: V,
    ) -> Result<V::Value, Error> {
        Err(de::Error::custom(format!(
            "{}: enum {name} is not probed yet; teach the probe",
            self.path
        )))
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _: &'static str,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Error> {
        visitor.visit_map(Fields {
            path: self.path,
            fields: fields.iter(),
            current: "",
            leaves: self.leaves,
        })
    }
}

/// A struct's fields, each given once, its value probed under its path.
struct Fields<'a> {
    path: String,
    fields: std::slice::Iter<'static, &'static str>,
    current: &'static str,
    leaves: &'a RefCell<BTreeSet<String>>,
}

impl<'de> MapAccess<'de> for Fields<'_> {
    type Error = Error;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, Error> {
        let Some(field) = self.fields.next() else {
            return Ok(None);
        };
        self.current = field;
        seed.deserialize(IntoDeserializer::<Error>::into_deserializer(*field))
            .map(Some)
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, Error> {
        seed.deserialize(Probe {
            path: super::join(&self.path, self.current),
            leaves: self.leaves,
        })
    }
}

/// Every key serde's derived `Deserialize` accepts.
fn accepted_by_serde() -> BTreeSet<String> {
    let leaves = RefCell::new(BTreeSet::new());
    let probe = Probe {
        path: String::new(),
        leaves: &leaves,
    };
    if let Err(e) = Config::deserialize(probe) {
        panic!("the probe could not walk Config: {e}");
    }
    leaves.into_inner()
}

#[test]
fn known_keys_are_exactly_the_fields_serde_accepts() {
    let known = Known::new().unwrap();
    assert_eq!(known.leaves, accepted_by_serde());
    // Unset by default, so these would vanish from a serialization that skipped `None`.
    for key in [
        "admin_password_file",
        "notify.smtp.password_file",
        "oauth.redirect",
        "geoip.database",
        "http.trusted_proxies",
    ] {
        assert!(known.leaves.contains(key), "{key}");
    }
    assert!(!known.leaves.contains("http.trusted_proxies_raw"));
    assert!(known.sections.contains("notify.smtp"));
}

#[test]
fn every_setting_is_accepted_from_the_environment() {
    let known = Known::new().unwrap();
    let vars = known
        .leaves
        .iter()
        .map(|key| (OsString::from(env_name(key)), OsString::from("1")));
    let env = known.split_env(vars).unwrap();
    assert_eq!(env.settings.len(), known.leaves.len());
}

fn env_error(vars: &[(&str, &str)]) -> String {
    let vars = vars
        .iter()
        .map(|(k, v)| (OsString::from(k), OsString::from(v)));
    match Known::new().unwrap().split_env(vars) {
        Ok(_) => panic!("accepted"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn unknown_variables_name_the_nearest_setting() {
    assert_eq!(
        env_error(&[("ROOST_SINGUP__OPEN", "true")]),
        "unknown setting ROOST_SINGUP__OPEN; did you mean ROOST_SIGNUP__OPEN?"
    );
    assert_eq!(
        env_error(&[("ROOST_PAGINATE__MAXX", "5")]),
        "unknown setting ROOST_PAGINATE__MAXX; did you mean ROOST_PAGINATE__MAX?"
    );
    // One underscore where two nest.
    assert_eq!(
        env_error(&[("ROOST_SIGNUP_OPEN", "true")]),
        "unknown setting ROOST_SIGNUP_OPEN; did you mean ROOST_SIGNUP__OPEN?"
    );
    assert_eq!(
        env_error(&[("ROOST_PAGINATE", "5")]),
        "unknown setting ROOST_PAGINATE: paginate is a section, set its keys (e.g. \
         ROOST_PAGINATE__DEFAULT)"
    );
    assert_eq!(
        env_error(&[("ROOST_WHATEVER_THIS_IS", "1")]),
        "unknown setting ROOST_WHATEVER_THIS_IS (.env.example lists the settings)"
    );
}

#[test]
fn tools_variables_are_not_settings() {
    let known = Known::new().unwrap();
    let vars = [
        ("ROOST_CONFIG", "roost.toml"),
        ("ROOST_LOG", "debug"),
        ("ROOST_BIN", "x"),
        ("ROOST_PEOPLE_BIN", "x"),
        ("ROOST_TEST_THREADS", "4"),
        ("ROOST_TEST_NO_BUS", "1"),
        ("PATH", "/bin"),
        ("ROOST_PORT", "3031"),
    ]
    .map(|(k, v)| (OsString::from(k), OsString::from(v)));
    let env = known.split_env(vars).unwrap();
    assert_eq!(env.config_file.as_deref(), Some("roost.toml"));
    assert_eq!(env.settings.keys().collect::<Vec<_>>(), ["ROOST_PORT"]);
}

#[test]
fn levenshtein() {
    assert_eq!(distance("", ""), 0);
    assert_eq!(distance("abc", ""), 3);
    assert_eq!(distance("", "abc"), 3);
    assert_eq!(distance("kitten", "sitting"), 3);
    assert_eq!(distance("singup", "signup"), 2);
    assert_eq!(distance("maxx", "max"), 1);
}
