//! User-agent parsing for `auth_sessions`, with the uap-core 0.18.0 `regexes.yaml`
//! (npm `uap-core@0.18.0`, Apache-2.0) vendored as `uap-regexes.yaml`, matched by [`uap`]
//! (regex-lite behind literal prefilters: about 2 MB and 20-40 ms to build, each pattern
//! compiled the first time an agent gets past its prefilter, 0.2-0.5 ms an agent). It gives
//! what the `user-agent-parser` crate gave on all 30,698 agents of uap-core's test files, for
//! a fraction of the memory (that crate's regexes and their lazy-DFA caches took 150-220 MB).

mod uap;

use std::sync::OnceLock;

use uap::Uap;

const REGEXES: &str = include_str!("uap-regexes.yaml");

static PARSER: OnceLock<Option<Uap>> = OnceLock::new();

fn parser() -> Option<&'static Uap> {
    PARSER
        .get_or_init(|| match Uap::new(REGEXES) {
            Ok(parser) => Some(parser),
            Err(e) => {
                tracing::error!(error = %e, "cannot load the user-agent regexes");
                None
            }
        })
        .as_ref()
}

/// Builds the parser in the background (small and quick, but the first login need not wait).
pub fn warm_up() {
    if PARSER.get().is_none() {
        drop(tokio::task::spawn_blocking(parser));
    }
}

/// What a user agent says about the client. Every part is optional.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct UaInfo {
    pub browser_name: Option<String>,
    pub browser_version: Option<String>,
    pub engine_name: Option<String>,
    pub engine_version: Option<String>,
    pub os_name: Option<String>,
    pub os_version: Option<String>,
    pub device_vendor: Option<String>,
    pub device_model: Option<String>,
    pub device_type: Option<String>,
    pub cpu_arch: Option<String>,
}

impl UaInfo {
    /// "Chrome on macOS", "Firefox", "Unknown device".
    pub fn title(&self) -> String {
        match (&self.browser_name, &self.os_name) {
            (Some(b), Some(o)) => format!("{b} on {o}"),
            (Some(b), None) => b.clone(),
            (None, Some(o)) => o.clone(),
            (None, None) => "Unknown device".into(),
        }
    }
}

/// uap-core's placeholder for "no match".
fn known(value: Option<String>) -> Option<String> {
    value
        .map(|v| v.trim().to_string())
        .filter(|v| !v.is_empty() && v != "Other")
}

/// Version parts joined with ".", up to the first missing one.
fn version(parts: &[Option<String>]) -> Option<String> {
    let present: Vec<&str> = parts.iter().map_while(Option::as_deref).collect();
    known((!present.is_empty()).then(|| present.join(".")))
}

/// Parses `ua` (blocking: call from a blocking thread, or after [`warm_up`]).
pub fn parse(ua: &str) -> UaInfo {
    let Some(parser) = parser() else {
        return UaInfo::default();
    };
    let uap::Matched {
        browser,
        os,
        device,
        engine,
        cpu,
    } = parser.matched(ua);
    let [browser_name, ..] = &browser;
    let [os_name, ..] = &os;
    let [_, device_vendor, device_model] = device;
    let [engine_name, ..] = &engine;
    let device_model = known(device_model);
    let os_name = known(os_name.clone()).map(|n| if n == "Mac OS X" { "macOS".into() } else { n });
    let device_type = Some(device_type(ua, device_model.as_deref()).to_string());
    UaInfo {
        browser_name: known(browser_name.clone()),
        browser_version: version(&browser[1..]),
        engine_name: known(engine_name.clone()),
        engine_version: version(&engine[1..]),
        os_name,
        os_version: version(&os[1..]),
        device_vendor: known(device_vendor),
        device_model,
        device_type,
        cpu_arch: known(cpu),
    }
}

/// tablet (iPad, Android without "Mobile", "Tablet"), mobile ("Mobile", "iPhone"), else
/// desktop.
fn device_type(ua: &str, model: Option<&str>) -> &'static str {
    let lower = ua.to_ascii_lowercase();
    let model = model.unwrap_or("").to_ascii_lowercase();
    if lower.contains("ipad")
        || lower.contains("tablet")
        || model.contains("ipad")
        || (lower.contains("android") && !lower.contains("mobile"))
    {
        "tablet"
    } else if lower.contains("mobile") || lower.contains("iphone") || lower.contains("ipod") {
        "mobile"
    } else {
        "desktop"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_common_agents() {
        let mac = parse(
            "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 \
             (KHTML, like Gecko) Chrome/126.0.6478.122 Safari/537.36",
        );
        assert_eq!(mac.browser_name.as_deref(), Some("Chrome"));
        assert_eq!(mac.os_name.as_deref(), Some("macOS"));
        assert_eq!(mac.engine_name.as_deref(), Some("Blink"));
        assert_eq!(mac.device_type.as_deref(), Some("desktop"));
        assert_eq!(mac.title(), "Chrome on macOS");
        let ipad = parse(
            "Mozilla/5.0 (iPad; CPU OS 17_5 like Mac OS X) AppleWebKit/605.1.15 \
             (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1",
        );
        assert_eq!(ipad.device_type.as_deref(), Some("tablet"));
        assert_eq!(ipad.device_vendor.as_deref(), Some("Apple"));
        let win = parse(
            "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) \
             Chrome/126.0.0.0 Safari/537.36 Edg/126.0.0.0",
        );
        assert_eq!(win.cpu_arch.as_deref(), Some("amd64"));
        assert_eq!(parse("").title(), "Unknown device");
    }

    /// Agents from uap-core's test files (and common ones) with what the `user-agent-parser`
    /// crate reported for them: agent, then the ten fields in `UaInfo` order ("" = none).
    #[test]
    fn matches_the_former_parser() {
        let field = |v: &str| (!v.is_empty()).then(|| v.to_string());
        let mut checked = 0;
        for line in include_str!("useragent/golden.tsv").lines() {
            let cols: Vec<&str> = line.split('\t').collect();
            assert_eq!(cols.len(), 11, "{line}");
            let expected = UaInfo {
                browser_name: field(cols[1]),
                browser_version: field(cols[2]),
                engine_name: field(cols[3]),
                engine_version: field(cols[4]),
                os_name: field(cols[5]),
                os_version: field(cols[6]),
                device_vendor: field(cols[7]),
                device_model: field(cols[8]),
                device_type: field(cols[9]),
                cpu_arch: field(cols[10]),
            };
            assert_eq!(parse(cols[0]), expected, "{}", cols[0]);
            checked += 1;
        }
        assert!(checked > 200);
    }

    #[test]
    fn every_pattern_compiles_and_most_are_prefiltered() {
        let uap = Uap::new(REGEXES).unwrap();
        assert_eq!(uap.sizes(), [350, 197, 628, 21, 28]);
        uap.check().unwrap();
        assert!(
            uap.unfiltered() <= 5,
            "{} patterns run on every agent",
            uap.unfiltered()
        );
    }

    #[test]
    fn compiles_only_the_patterns_an_agent_reaches() {
        let uap = Uap::new(REGEXES).unwrap();
        assert_eq!(uap.compiled(), 0);
        let matched = uap.matched(
            "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) \
             Chrome/126.0.0.0 Safari/537.36",
        );
        assert_eq!(matched.browser[0].as_deref(), Some("Chrome"));
        assert!(uap.compiled() < 60, "{} compiled", uap.compiled());
    }

    #[test]
    fn odd_agents_do_not_panic() {
        let long = "Mozilla/5.0 (".repeat(40);
        for ua in [
            "",
            " ",
            "Other",
            "$1",
            "é ž \u{200e}",
            "((((",
            long.as_str(),
        ] {
            let _ = parse(ua).title();
        }
        assert_eq!(parse("Other").browser_name, None);
    }
}
