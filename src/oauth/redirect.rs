//! Where a finished flow sends the browser, and how (feathers-protocol §8), without an open
//! redirect: every target is on one of the configured `oauth.origins`.
//!
//! - `redirect` absent: the configured default (`oauth.redirect`, else the first origin).
//! - `redirect` a path (`/dashboard?tab=1`): appended to the default, whose origin it must
//!   not change (`//evil.example`, `\evil`, `@evil` and the like are refused).
//! - `redirect` an absolute URL: accepted only when its origin is one of `oauth.origins`.
//!
//! The result is delivered in the fragment, as Feathers does:
//! `<target>#access_token=<jwt>` or `<target>#error=<message>`.

use crate::config::OAuthConfig;
pub use crate::config::{allowed_origin as allowed, origin_of};
use crate::error::{Error, Result};

/// The longest `redirect` accepted.
const MAX_REDIRECT: usize = 2048;

/// The default target: `oauth.redirect`, else the first origin. `None` when neither is
/// configured (the callback then answers with JSON, as Feathers does).
pub fn default_target(config: &OAuthConfig) -> Option<String> {
    config
        .redirect
        .clone()
        .or_else(|| config.origins.first().cloned())
}

/// The target for a flow started with `redirect` (see the module docs). 400 when refused.
pub fn resolve(config: &OAuthConfig, redirect: Option<&str>) -> Result<Option<String>> {
    let invalid = || Error::bad_request("Invalid redirect path.");
    let Some(redirect) = redirect.filter(|r| !r.is_empty()) else {
        return Ok(default_target(config));
    };
    if redirect.len() > MAX_REDIRECT || redirect.chars().any(|c| c.is_control() || c == '\\') {
        return Err(invalid());
    }
    if redirect.contains("://") {
        return if allowed(redirect, &config.origins) {
            Ok(Some(redirect.to_string()))
        } else {
            Err(invalid())
        };
    }
    if !redirect.starts_with('/') || redirect.starts_with("//") {
        return Err(invalid());
    }
    let base = default_target(config).ok_or_else(invalid)?;
    let origin = origin_of(&base).ok_or_else(invalid)?;
    let target = format!("{}{redirect}", base.trim_end_matches('/'));
    // The path must not move the target to another origin.
    if origin_of(&target).as_deref() != Some(origin.as_str()) {
        return Err(invalid());
    }
    Ok(Some(target))
}

/// Feathers' separator: `#`, or `?` when the target already has a fragment, or nothing
/// when it ends with `?`.
fn separator(target: &str) -> &'static str {
    if target.ends_with('?') {
        ""
    } else if target.contains('#') {
        "?"
    } else {
        "#"
    }
}

/// `<target>#access_token=<token>`.
pub fn with_token(target: &str, token: &str) -> String {
    format!("{target}{}access_token={token}", separator(target))
}

/// `<target>#error=<encoded message>`.
pub fn with_error(target: &str, message: &str) -> String {
    format!(
        "{target}{}error={}",
        separator(target),
        encode_component(message)
    )
}

/// JavaScript's `encodeURIComponent` (what Feathers' `querystring.stringify` produces for
/// these values): spaces as `%20`.
pub fn encode_component(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.!~*'()".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn config() -> OAuthConfig {
        OAuthConfig {
            origins: vec![
                "http://localhost:5173".into(),
                "https://app.example.com/".into(),
            ],
            ..OAuthConfig::default()
        }
    }

    #[test]
    fn origins() {
        assert_eq!(
            origin_of("HTTPS://App.Example.com:443/x?y#z").unwrap(),
            "https://app.example.com"
        );
        assert_eq!(origin_of("http://a:8080").unwrap(), "http://a:8080");
        assert!(origin_of("javascript://alert(1)").is_none());
        assert!(origin_of("http://user@evil.example/").is_none());
        assert!(origin_of("/relative").is_none());
    }

    #[test]
    fn resolves_paths_and_urls() {
        let c = config();
        assert_eq!(resolve(&c, None).unwrap().unwrap(), "http://localhost:5173");
        assert_eq!(
            resolve(&c, Some("/dashboard?tab=1")).unwrap().unwrap(),
            "http://localhost:5173/dashboard?tab=1"
        );
        assert_eq!(
            resolve(&c, Some("https://app.example.com/welcome"))
                .unwrap()
                .unwrap(),
            "https://app.example.com/welcome"
        );
        for bad in [
            "https://evil.example/",
            "//evil.example",
            "/\\evil.example",
            "@evil.example",
            "dashboard",
            "https://app.example.com.evil.example/",
            "http://localhost:5174/",
            "/x\n",
        ] {
            assert_eq!(resolve(&c, Some(bad)).unwrap_err().code(), 400, "{bad}");
        }
        let none = OAuthConfig::default();
        assert!(resolve(&none, None).unwrap().is_none());
        assert!(resolve(&none, Some("/x")).is_err());
    }

    #[test]
    fn fragments_like_feathers() {
        assert_eq!(
            with_token("http://localhost:5173/dashboard", "a.b.c"),
            "http://localhost:5173/dashboard#access_token=a.b.c"
        );
        assert_eq!(
            with_error("http://localhost:5173", "Bad & worse"),
            "http://localhost:5173#error=Bad%20%26%20worse"
        );
        assert_eq!(
            with_token("http://h/#/x", "t"),
            "http://h/#/x?access_token=t"
        );
        assert_eq!(with_token("http://h/?", "t"), "http://h/?access_token=t");
    }
}
