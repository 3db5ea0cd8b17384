//! A small matcher for uap-core's `regexes.yaml` (browser, OS and device sections).
//!
//! Same semantics as uap-core and the `user-agent-parser` crate: the first pattern of a
//! section that matches wins, `$1`..`$9` in a `*_replacement` take that capture group (an
//! absent group gives ""), every result is trimmed and an empty one is no value, and
//! `regex_flag: 'i'` makes a pattern case-insensitive. Patterns run on `regex-lite`: no
//! Unicode tables and no lazy-DFA caches, and its `\d`, `\w`, `\s`, `\b` are ASCII, which is
//! what uap-core means. Each pattern gets a prefilter when it is built: a few literals, one of
//! which every match must contain (found with `regex-syntax`), so for an agent only the
//! patterns whose literal occurs in it (case-insensitively) run at all.

use std::sync::OnceLock;

use regex_lite::{Captures, Regex, RegexBuilder};

mod prefilter;

use prefilter::{Needle, prefilter};

/// One pattern of a section and its replacements (the meaning of each slot is per section).
struct Rule {
    pattern: Box<str>,
    case_insensitive: bool,
    /// Compiled the first time the prefilter lets an agent through (`None`: it does not
    /// compile, which the unit tests rule out).
    regex: OnceLock<Option<Regex>>,
    /// Prefilter: every match contains, for each group, one of its needles (compared with the
    /// ASCII-lowercased agent). No group: the pattern runs on every agent.
    needles: Box<[Box<[Needle]>]>,
    replacements: [Option<Box<str>>; 5],
}

impl Rule {
    fn regex(&self) -> Option<&Regex> {
        self.regex
            .get_or_init(|| {
                RegexBuilder::new(&self.pattern)
                    .case_insensitive(self.case_insensitive)
                    .build()
                    .ok()
            })
            .as_ref()
    }

    fn may_match(&self, lower: &[u8]) -> bool {
        self.needles.iter().all(|group| {
            group
                .iter()
                .any(|needle| memchr::memmem::find(lower, needle).is_some())
        })
    }
}

/// The three uap-core sections and the engine and CPU lists, compiled.
pub struct Uap {
    ua: Vec<Rule>,
    os: Vec<Rule>,
    device: Vec<Rule>,
    engine: Vec<Rule>,
    cpu: Vec<Rule>,
}

/// Browser (`family`), OS and device results, before any renaming.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Matched {
    pub browser: [Option<String>; 5],
    pub os: [Option<String>; 5],
    /// family, brand, model
    pub device: [Option<String>; 3],
    /// name, major, minor, patch
    pub engine: [Option<String>; 4],
    pub cpu: Option<String>,
}

/// The replacement keys of each section, in slot order.
const UA_KEYS: [&str; 4] = [
    "family_replacement",
    "v1_replacement",
    "v2_replacement",
    "v3_replacement",
];
const OS_KEYS: [&str; 5] = [
    "os_replacement",
    "os_v1_replacement",
    "os_v2_replacement",
    "os_v3_replacement",
    "os_v4_replacement",
];
const DEVICE_KEYS: [&str; 3] = [
    "device_replacement",
    "brand_replacement",
    "model_replacement",
];

/// An entry of the YAML source, as read line by line.
#[derive(Default)]
struct Entry {
    regex: String,
    case_insensitive: bool,
    values: Vec<(String, String)>,
}

impl Uap {
    /// Reads uap-core's `regexes.yaml` (its own regular layout: `- regex: '...'` entries with
    /// single-quoted `key: '...'` lines under the three section headers).
    pub fn new(yaml: &str) -> Result<Uap, String> {
        let mut sections: [Vec<Entry>; 3] = Default::default();
        let mut section: Option<usize> = None;
        for (number, line) in yaml.lines().enumerate() {
            let trimmed = line.trim();
            if trimmed.is_empty() || trimmed.starts_with('#') {
                continue;
            }
            let bad = || format!("regexes line {}: cannot read {trimmed:?}", number + 1);
            if !line.starts_with(' ') {
                section = Some(match trimmed {
                    "user_agent_parsers:" => 0,
                    "os_parsers:" => 1,
                    "device_parsers:" => 2,
                    _ => return Err(bad()),
                });
                continue;
            }
            let entries = &mut sections[section.ok_or_else(bad)?];
            let (starts, item) = match trimmed.strip_prefix("- ") {
                Some(rest) => (true, rest),
                None => (false, trimmed),
            };
            let (key, value) = item.split_once(": ").ok_or_else(bad)?;
            let value = value
                .strip_prefix('\'')
                .and_then(|v| v.strip_suffix('\''))
                .ok_or_else(bad)?
                .replace("''", "'");
            if starts {
                if key != "regex" {
                    return Err(bad());
                }
                entries.push(Entry {
                    regex: value,
                    ..Entry::default()
                });
                continue;
            }
            let entry = entries.last_mut().ok_or_else(bad)?;
            if key == "regex_flag" {
                entry.case_insensitive = value == "i";
            } else {
                entry.values.push((key.to_string(), value));
            }
        }
        let [ua, os, device] = sections;
        let built_in = |list: &[(&str, &str)]| {
            list.iter()
                .map(|(pattern, name)| Entry {
                    regex: (*pattern).to_string(),
                    case_insensitive: false,
                    values: vec![("name".to_string(), (*name).to_string())],
                })
                .collect::<Vec<_>>()
        };
        Ok(Uap {
            ua: compile(ua, &UA_KEYS)?,
            os: compile(os, &OS_KEYS)?,
            device: compile(device, &DEVICE_KEYS)?,
            engine: compile(built_in(ENGINES), &["name"])?,
            cpu: compile(built_in(CPUS), &["name"])?,
        })
    }

    /// Number of patterns in the browser, OS, device, engine and CPU lists.
    #[cfg(test)]
    pub fn sizes(&self) -> [usize; 5] {
        [&self.ua, &self.os, &self.device, &self.engine, &self.cpu].map(Vec::len)
    }

    /// Number of patterns without a prefilter (they run on every agent).
    #[cfg(test)]
    pub fn unfiltered(&self) -> usize {
        self.rules().filter(|r| r.needles.is_empty()).count()
    }

    /// Number of patterns compiled so far.
    #[cfg(test)]
    pub fn compiled(&self) -> usize {
        self.rules().filter(|r| r.regex.get().is_some()).count()
    }

    /// Compiles every pattern; the first that does not compile, with its error.
    #[cfg(test)]
    pub fn check(&self) -> Result<(), String> {
        self.rules().try_for_each(|rule| {
            RegexBuilder::new(&rule.pattern)
                .case_insensitive(rule.case_insensitive)
                .build()
                .map(drop)
                .map_err(|e| format!("pattern {:?}: {e}", rule.pattern))
        })
    }

    #[cfg(test)]
    fn rules(&self) -> impl Iterator<Item = &Rule> {
        let lists = [&self.ua, &self.os, &self.device, &self.engine, &self.cpu];
        lists.into_iter().flatten()
    }

    pub fn matched(&self, ua: &str) -> Matched {
        let lower = ua.to_ascii_lowercase();
        let lower = lower.as_bytes();
        let mut out = Matched::default();
        if let Some((rule, caps)) = first(&self.ua, ua, lower) {
            for (slot, value) in out.browser.iter_mut().enumerate().take(4) {
                *value = resolve(rule, slot, slot + 1, &caps);
            }
            out.browser[4] = group(&caps, 5);
        }
        if let Some((rule, caps)) = first(&self.os, ua, lower) {
            for (slot, value) in out.os.iter_mut().enumerate() {
                *value = resolve(rule, slot, slot + 1, &caps);
            }
        }
        if let Some((rule, caps)) = first(&self.device, ua, lower) {
            out.device[0] = resolve(rule, 0, 1, &caps);
            // uap-core: the brand has no default group, only its replacement.
            out.device[1] = rule.replacements[1]
                .as_deref()
                .and_then(|r| substitute(r, &caps));
            out.device[2] = resolve(rule, 2, 1, &caps);
        }
        if let Some((rule, caps)) = first(&self.engine, ua, lower) {
            out.engine[0] = resolve(rule, 0, 1, &caps);
            for (index, value) in out.engine.iter_mut().enumerate().skip(1) {
                *value = group(&caps, index + 1);
            }
        }
        if let Some((rule, caps)) = first(&self.cpu, ua, lower) {
            out.cpu = resolve(rule, 0, 1, &caps);
        }
        out
    }
}

fn compile(entries: Vec<Entry>, keys: &[&str]) -> Result<Vec<Rule>, String> {
    entries
        .into_iter()
        .map(|entry| {
            let mut replacements: [Option<Box<str>>; 5] = Default::default();
            for (key, value) in entry.values {
                let slot = keys
                    .iter()
                    .position(|k| *k == key)
                    .ok_or_else(|| format!("unknown key {key:?}"))?;
                replacements[slot] = Some(value.into());
            }
            Ok(Rule {
                needles: prefilter(&entry.regex),
                pattern: entry.regex.into(),
                case_insensitive: entry.case_insensitive,
                regex: OnceLock::new(),
                replacements,
            })
        })
        .collect()
}

/// The first rule whose prefilter passes and whose pattern matches.
fn first<'r, 'h>(rules: &'r [Rule], ua: &'h str, lower: &[u8]) -> Option<(&'r Rule, Captures<'h>)> {
    rules.iter().find_map(|rule| {
        if !rule.may_match(lower) {
            return None;
        }
        // `is_match` tracks no groups, so it is cheaper for the (most) patterns that fail.
        let regex = rule.regex()?;
        if !regex.is_match(ua) {
            return None;
        }
        regex.captures(ua).map(|caps| (rule, caps))
    })
}

/// The replacement in `slot` if there is one, else capture group `index`.
fn resolve(rule: &Rule, slot: usize, index: usize, caps: &Captures<'_>) -> Option<String> {
    match rule.replacements[slot].as_deref() {
        Some(replacement) => substitute(replacement, caps),
        None => group(caps, index),
    }
}

fn group(caps: &Captures<'_>, index: usize) -> Option<String> {
    let text = caps.get(index)?.as_str().trim();
    (!text.is_empty()).then(|| text.to_string())
}

/// `$1`..`$9` replaced by their groups ("" when absent), trimmed; empty is no value.
fn substitute(replacement: &str, caps: &Captures<'_>) -> Option<String> {
    let mut out = String::with_capacity(replacement.len() + 8);
    let mut chars = replacement.chars().peekable();
    while let Some(c) = chars.next() {
        match (c, chars.peek().and_then(|d| d.to_digit(10))) {
            ('$', Some(index)) => {
                chars.next();
                out.push_str(caps.get(index as usize).map_or("", |m| m.as_str()));
            }
            _ => out.push(c),
        }
    }
    let text = out.trim();
    (!text.is_empty()).then(|| text.to_string())
}

/// The layout engine and CPU patterns (with the name each one gives) of the
/// `user-agent-parser` 0.5.0 crate (MIT, Magic Len; after ua-parser-js), which Roost used
/// before: uap-core has no such sections. First match wins; an engine's version is groups 2..4.
const ENGINES: &[(&str, &str)] = &[
    (
        r"(?i)(windows.+\sedge)/(\w+)(?:\.(\w+))?(?:\.(\w+))?",
        "EdgeHTML",
    ),
    (
        r"(?i)webkit/537\.36.+(chrome)/(\d{3,}|2[89]|[3-9]\d)(?:\.(\w+))?(?:\.(\w+))?",
        "Blink",
    ),
    (r"(?i)(presto)/(\w+)(?:\.(\w+))?(?:\.(\w+))?", "Presto"),
    (r"(?i)(webkit)/(\w+)(?:\.(\w+))?(?:\.(\w+))?", "WebKit"),
    (r"(?i)(trident)/(\w+)(?:\.(\w+))?(?:\.(\w+))?", "Trident"),
    (r"(?i)(netfront)/(\w+)(?:\.(\w+))?(?:\.(\w+))?", "NetFront"),
    (r"(?i)(netsurf)/(\w+)(?:\.(\w+))?(?:\.(\w+))?", "NetSurf"),
    (r"(?i)(amaya)/(\w+)(?:\.(\w+))?(?:\.(\w+))?", "Amaya"),
    (r"(?i)(servo)/(\w+)(?:\.(\w+))?(?:\.(\w+))?", "Servo"),
    (r"(?i)(lynx)/(\w+)(?:\.(\w+))?(?:\.(\w+))?", "Lynx"),
    (r"(?i)(w3m)/(\w+)(?:\.(\w+))?(?:\.(\w+))?", "w3m"),
    (r"(?i)(goanna)/(\w+)(?:\.(\w+))?(?:\.(\w+))?", "Goanna"),
    (r"(?i)(arkweb)/(\w+)(?:\.(\w+))?(?:\.(\w+))?", "ArkWeb"),
    (r"(?i)ekioh(flow)/(\w+)(?:\.(\w+))?(?:\.(\w+))?", "Flow"),
    (r"(?i)(khtml)[/\s]\(?(\w+)(?:\.(\w+))?(?:\.(\w+))?", "KHTML"),
    (
        r"(?i)(tasman)[/\s]\(?(\w+)(?:\.(\w+))?(?:\.(\w+))?",
        "Tasman",
    ),
    (r"(?i)(links)[/\s]\(?(\w+)(?:\.(\w+))?(?:\.(\w+))?", "Links"),
    (r"(?i)(dillo)[/\s]\(?(\w+)(?:\.(\w+))?(?:\.(\w+))?", "Dillo"),
    (r"(?i)(icab)[/\s]([23])(?:\.(\d+))?(?:\.(\d+))?", "iCab"),
    (r"(?i)\blibweb", "LibWeb"),
    (r"(?i)(rv:)(\w+)(?:\.(\w+))?(?:\.(\w+))?.+gecko", "Gecko"),
];
const CPUS: &[(&str, &str)] = &[
    (r"(?i)(?:amd|x(?:(?:86|64)[_-])?|wow|win)64[;)]", "amd64"),
    (r"(?i)ia32[;)]", "ia32"),
    (r"(?i)(?:i[346]|x)86[;)]", "ia32"),
    (r"(?i)\b(?:aarch64|arm(?:v?[89]e?l?|_?64))\b", "arm64"),
    (r"(?i)\barm(?:v[67])?ht?n?[fl]p?\b", "armhf"),
    (r"(?i)windows\s(?:ce|mobile);\sppc;", "arm"),
    (r"(?i)(?:ppc|powerpc)64(?:le|el)?(?:\smac|;|\))", "ppc64"),
    (r"(?i)(?:ppc|powerpc)(?:\smac|;|\))", "ppc"),
    (r"(?i)sun4\w[;)]", "sparc"),
    (
        r"(?i)(?:\b(?:osf1|(?:free|open|net|dragonfly)bsd)(?:\s+v[\d.]+)?\s+alpha\b|winnt.+\[axp)",
        "alpha",
    ),
    (r"(?i)ia64[;)]", "ia64"),
    (r"(?i)(?:68k\)|mc680[\dx]0)", "68k"),
    (r"(?i)\b(?:aarch32|armeabi(?:[-_]v\d+)?)\b", "arm"),
    (r"(?i)\barm(?:64|v\d+)?[;)l]", "arm"),
    (r"(?i)avr32\b", "avr32"),
    (r"(?i)atmel\s+avr", "avr"),
    (r"(?i)\briscv64\b", "riscv64"),
    (r"(?i)\briscv(?:32)?\b", "riscv"),
    (r"(?i)\b(?:loongarch64|loong64)\b", "loong64"),
    (r"(?i)\bs390x\b", "s390x"),
    (r"(?i)\be2k\b", "e2k"),
    (r"(?i)irix64\b", "irix64"),
    (r"(?i)irix\b", "irix"),
    (r"(?i)mips64(?:el)?\b", "mips64"),
    (r"(?i)mips\b", "mips"),
    (r"(?i)sparc64\b", "sparc64"),
    (r"(?i)sparc\b", "sparc"),
    (r"(?i)pa-risc", "pa-risc"),
];
