//! User-agent parsing for `auth_sessions`, with the uap-core 0.18.0 `regexes.yaml`
//! (npm `uap-core@0.18.0`, Apache-2.0) vendored as `uap-regexes.yaml`. The parser is built
//! once (about half a second in release) on a blocking thread: [`warm_up`] at start, so the
//! first login does not pay for it.

use std::sync::OnceLock;

use user_agent_parser::UserAgentParser;

const REGEXES: &str = include_str!("uap-regexes.yaml");

static PARSER: OnceLock<Option<UserAgentParser>> = OnceLock::new();

fn parser() -> Option<&'static UserAgentParser> {
    PARSER
        .get_or_init(|| match UserAgentParser::from_str(REGEXES) {
            Ok(parser) => Some(parser),
            Err(e) => {
                tracing::error!(error = %e, "cannot load the user-agent regexes");
                None
            }
        })
        .as_ref()
}

/// Builds the parser in the background.
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
fn known(value: Option<std::borrow::Cow<'_, str>>) -> Option<String> {
    value
        .map(|v| v.trim().to_string())
        .filter(|v| !v.is_empty() && v != "Other")
}

/// Parses `ua` (blocking: call from a blocking thread, or after [`warm_up`]).
pub fn parse(ua: &str) -> UaInfo {
    let Some(parser) = parser() else {
        return UaInfo::default();
    };
    let product = parser.parse_product(ua);
    let engine = parser.parse_engine(ua);
    let os = parser.parse_os(ua);
    let device = parser.parse_device(ua);
    let cpu = parser.parse_cpu(ua);
    let device_vendor = known(device.brand.clone());
    let device_model = known(device.model.clone());
    let os_name = known(os.name.clone()).map(|n| if n == "Mac OS X" { "macOS".into() } else { n });
    let device_type = Some(device_type(ua, device_model.as_deref()).to_string());
    UaInfo {
        browser_name: known(product.name.clone()),
        browser_version: known(product.version()),
        engine_name: known(engine.name.clone()),
        engine_version: known(engine.version()),
        os_name,
        os_version: known(os.version()),
        device_vendor,
        device_model,
        device_type,
        cpu_arch: known(cpu.architecture.clone()),
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
}
