//! The module rules of CONVENTIONS.md, checked by reading the source (production code:
//! each file up to its `#[cfg(test)]` module; `tests.rs` files and `tests/` folders are
//! skipped):
//!
//! - Generic code (`service/` the core, `hooks/`, `realtime/`, `transport/`) names no
//!   resource: no string literal equal to a service path or table of `services/`, and no
//!   `crate::services` path. A resource declares its rules in its own file.
//! - The transport never reaches the store: no `sea_orm`, `sea_query` or `crate::store`.
//! - The core (`service/`) depends on nothing above it: no `crate::app`, `hooks`,
//!   `transport`, `realtime`, `store` or `services`.
//! - Settings (`config`) are read by every module and read none but `proxies` (a value
//!   type of theirs): each section checks itself, so no import cycle runs through them.
//! - The top-level modules form no import cycle (`crate::<module>` paths between them).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

fn src(dir: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src").join(dir)
}

/// The production `.rs` files under `dir` (or the file `dir` itself).
fn files(dir: &Path) -> Vec<PathBuf> {
    if dir.is_file() {
        return vec![dir.to_path_buf()];
    }
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            let name = path.file_name().unwrap().to_string_lossy().to_string();
            if path.is_dir() {
                if name != "tests" {
                    stack.push(path);
                }
            } else if name.ends_with(".rs") && name != "tests.rs" {
                out.push(path);
            }
        }
    }
    assert!(!out.is_empty(), "no source under {}", dir.display());
    out.sort();
    out
}

/// A file's code before its test module, without comments.
fn production_code(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap();
    let code = text.split("#[cfg(test)]").next().unwrap_or_default();
    code.lines()
        .map(|line| match line.trim_start().starts_with("//") {
            true => "",
            false => line,
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// The string literals of `code` (plain `"..."` with escapes).
fn string_literals(code: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut chars = code.chars().peekable();
    let mut previous = ' ';
    while let Some(c) = chars.next() {
        // `'"'` is a char literal, not the start of a string.
        if c == '"' && previous != '\'' {
            let mut literal = String::new();
            while let Some(c) = chars.next() {
                match c {
                    '\\' => {
                        chars.next();
                    }
                    '"' => break,
                    c => literal.push(c),
                }
            }
            out.push(literal);
            previous = '"';
        } else {
            previous = c;
        }
    }
    out
}

/// Every name a resource is known by: the `PATH` constants and table names in `services/`,
/// and the paths named for them by the subsystems that call them (`auth::principal`'s
/// users, `oauth`'s identity links).
fn resource_names() -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    let declaring = ["services", "auth/principal.rs", "oauth/mod.rs"];
    for file in declaring.iter().flat_map(|dir| files(&src(dir))) {
        let code = production_code(&file);
        for line in code.lines() {
            let declares = (line.contains("PATH: &str =") && line.contains('"'))
                || line.contains("Table::new(\"");
            if declares {
                names.extend(string_literals(line));
            }
        }
    }
    // The audit log's table is declared by the store.
    names.insert("events".into());
    for expected in [
        "users",
        "user_oauth_providers",
        "roles",
        "auth_sessions",
        "authentication",
        "otp",
        "v1/users",
    ] {
        assert!(names.contains(expected), "{expected} not found: {names:?}");
    }
    names
}

fn violations(dirs: &[&str], forbidden: &[&str], names: &BTreeSet<String>) -> Vec<String> {
    let mut found = Vec::new();
    for dir in dirs {
        for file in files(&src(dir)) {
            let code = production_code(&file);
            let shown = file
                .strip_prefix(env!("CARGO_MANIFEST_DIR"))
                .unwrap()
                .display();
            for needle in forbidden {
                if code.contains(needle) {
                    found.push(format!("{shown}: uses {needle}"));
                }
            }
            for literal in string_literals(&code) {
                if names.contains(&literal) {
                    found.push(format!("{shown}: names the resource \"{literal}\""));
                }
            }
        }
    }
    found
}

#[test]
fn generic_code_names_no_resource() {
    let names = resource_names();
    let found = violations(
        &["service", "hooks", "realtime", "transport"],
        &["crate::services"],
        &names,
    );
    assert!(found.is_empty(), "{found:#?}");
}

#[test]
fn the_transport_never_reaches_the_store() {
    let found = violations(
        &["transport"],
        &["sea_orm", "sea_query", "crate::store"],
        &BTreeSet::new(),
    );
    assert!(found.is_empty(), "{found:#?}");
}

#[test]
fn the_core_depends_on_nothing_above_it() {
    let above = [
        "crate::app",
        "crate::auth",
        "crate::hooks",
        "crate::transport",
        "crate::realtime",
        "crate::store",
        "crate::services",
    ];
    let found = violations(&["service"], &above, &BTreeSet::new());
    assert!(found.is_empty(), "{found:#?}");
}

#[test]
fn settings_read_no_other_module() {
    let allowed = ["config", "proxies"];
    let others: Vec<String> = std::fs::read_dir(src(""))
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().to_string())
        .map(|name| name.trim_end_matches(".rs").to_string())
        .filter(|module| !allowed.contains(&module.as_str()))
        .map(|module| format!("crate::{module}::"))
        .collect();
    assert!(
        others.contains(&"crate::notify::".to_string()),
        "{others:?}"
    );
    let others: Vec<&str> = others.iter().map(String::as_str).collect();
    let found = violations(&["config.rs", "config"], &others, &BTreeSet::new());
    assert!(found.is_empty(), "{found:#?}");
}

/// `module -> modules it names` for the crate's top-level modules.
fn module_graph() -> BTreeMap<String, BTreeSet<String>> {
    let modules: BTreeSet<String> = std::fs::read_dir(src(""))
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().to_string())
        .map(|name| name.trim_end_matches(".rs").to_string())
        .filter(|name| !matches!(name.as_str(), "lib" | "main"))
        .collect();
    let mut graph = BTreeMap::new();
    for module in &modules {
        let mut sources = Vec::new();
        for path in [src(&format!("{module}.rs")), src(module)] {
            if path.exists() {
                sources.extend(files(&path));
            }
        }
        let code: String = sources.iter().map(|f| production_code(f)).collect();
        let named = modules
            .iter()
            .filter(|other| *other != module && code.contains(&format!("crate::{other}::")))
            .cloned()
            .collect();
        graph.insert(module.clone(), named);
    }
    graph
}

#[test]
fn modules_form_no_import_cycle() {
    let graph = module_graph();
    assert!(graph["app"].contains("hooks"), "{graph:?}");
    // Depth-first search; a module met again while still on the path closes a cycle.
    fn visit<'a>(
        graph: &'a BTreeMap<String, BTreeSet<String>>,
        module: &'a str,
        path: &mut Vec<&'a str>,
        done: &mut BTreeSet<&'a str>,
    ) -> Option<Vec<String>> {
        if let Some(start) = path.iter().position(|m| *m == module) {
            let mut cycle: Vec<String> = path[start..].iter().map(|m| m.to_string()).collect();
            cycle.push(module.to_string());
            return Some(cycle);
        }
        if !done.insert(module) {
            return None;
        }
        path.push(module);
        for next in graph.get(module).into_iter().flatten() {
            if let Some(cycle) = visit(graph, next, path, done) {
                return Some(cycle);
            }
        }
        path.pop();
        None
    }
    let mut done = BTreeSet::new();
    for module in graph.keys() {
        let cycle = visit(&graph, module, &mut Vec::new(), &mut done);
        assert!(
            cycle.is_none(),
            "import cycle: {}",
            cycle.unwrap().join(" -> ")
        );
    }
}

#[test]
fn the_scanner_sees_string_literals() {
    assert_eq!(
        string_literals(r#"let a = "users"; let b = '"'; f("x\"y", "v1/users");"#),
        ["users", "xy", "v1/users"]
    );
}
