//! The crate layout's rules (ARCHITECTURE.md), checked on `cargo metadata` and on the sources:
//! - each workspace crate depends (normally) only on the workspace crates its layer allows;
//! - the HTTP adapter knows nothing of the store, SEQR's client or wire format, or sqlx; the AMQP adapter nothing
//!   of the store; the engine nothing of HTTP, AMQP or sqlx;
//! - the production binary (`seqrd`, through all its normal dependencies) does not link the simulator;
//! - no SQL statement is issued outside `store-pg` (the tests and the benchmarks, which inspect databases, aside).
//! - inside `http-api`, the domain's types are named only by the DTO conversions (`src/dto/convert.rs` and its
//!   tests): the API's JSON is its own DTOs', not the domain's or the events'; elsewhere only the text limits
//!   (`domain::text::max`) its schemas publish.
//!
//! Every rule is also broken on purpose below, on a doctored copy of the graph, to show that it can fail.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// crate name -> its normal (non-dev, non-build) dependencies, by package name (workspace and external).
type Graph = BTreeMap<String, BTreeSet<String>>;

/// The workspace crates each crate may depend on (normal dependencies). A crate not listed may depend on none.
const ALLOWED: &[(&str, &[&str])] = &[
    ("domain", &[]),
    ("seqr-wire", &[]),
    ("seqr-client", &["seqr-wire"]),
    ("seqr-sim", &["seqr-wire"]),
    ("store-pg", &["domain"]),
    ("engine", &["domain", "store-pg", "seqr-wire", "seqr-client"]),
    ("http-api", &["engine", "domain"]),
    ("amqp", &["engine"]),
    ("seqrd", &["engine", "http-api", "amqp", "store-pg", "seqr-client", "domain"]),
    ("devstack", &["seqrd", "engine", "amqp", "store-pg", "seqr-sim"]),
    ("bench", &["seqrd", "engine", "amqp", "devstack", "store-pg", "seqr-sim", "seqr-client", "seqr-wire", "domain"]),
    ("tests", &[]),
];

/// Packages a crate must never depend on, directly.
const FORBIDDEN: &[(&str, &[&str])] = &[
    ("http-api", &["store-pg", "seqr-client", "seqr-wire", "sqlx", "lapin"]),
    ("amqp", &["store-pg", "sqlx", "axum"]),
    ("engine", &["axum", "hyper", "lapin", "sqlx", "http-api", "amqp"]),
    ("domain", &["sqlx", "tokio", "axum", "reqwest"]),
];

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("the tests crate sits in the workspace").to_owned()
}

/// The normal dependencies of every workspace package, as their manifests declare them (`cargo metadata
/// --no-deps`: no resolution, so nothing is downloaded). The simulator can only be reached through workspace crates,
/// so the closure over these edges is the binary's.
fn graph() -> (Graph, BTreeSet<String>) {
    let out = std::process::Command::new(env!("CARGO"))
        .args(["metadata", "--format-version", "1", "--no-deps", "--offline"])
        .current_dir(workspace_root())
        .output()
        .expect("cargo metadata runs");
    assert!(out.status.success(), "cargo metadata: {}", String::from_utf8_lossy(&out.stderr));
    let meta: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let mut graph = Graph::new();
    let mut members = BTreeSet::new();
    for package in meta["packages"].as_array().unwrap() {
        let name = package["name"].as_str().unwrap().to_owned();
        let deps = package["dependencies"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|d| d["kind"].is_null())
            .map(|d| d["name"].as_str().unwrap().to_owned())
            .collect();
        graph.insert(name.clone(), deps);
        members.insert(name);
    }
    (graph, members)
}

/// Everything `from` links through normal dependencies.
fn reachable(graph: &Graph, from: &str) -> BTreeSet<String> {
    let mut seen = BTreeSet::new();
    let mut todo = vec![from.to_owned()];
    while let Some(next) = todo.pop() {
        for dep in graph.get(&next).into_iter().flatten() {
            if seen.insert(dep.clone()) {
                todo.push(dep.clone());
            }
        }
    }
    seen
}

/// Every broken dependency rule, in words.
fn dependency_violations(graph: &Graph, members: &BTreeSet<String>) -> Vec<String> {
    let mut found = Vec::new();
    for member in members {
        let Some((_, allowed)) = ALLOWED.iter().find(|(name, _)| name == member) else {
            found.push(format!("{member}: a workspace crate without a place in the layout (add it to ALLOWED)"));
            continue;
        };
        for dep in graph.get(member).into_iter().flatten().filter(|d| members.contains(*d)) {
            if !allowed.contains(&dep.as_str()) {
                found.push(format!("{member} depends on {dep}, which its layer does not allow"));
            }
        }
    }
    for (krate, forbidden) in FORBIDDEN {
        for dep in graph.get(*krate).into_iter().flatten() {
            if forbidden.contains(&dep.as_str()) {
                found.push(format!("{krate} depends on {dep}"));
            }
        }
    }
    if reachable(graph, "seqrd").contains("seqr-sim") {
        found.push("the seqrd binary links seqr-sim (only devstack, the tests and the benchmarks may)".to_owned());
    }
    found
}

/// Lines of `source` that issue SQL (sqlx's query functions and macros).
fn sql_lines(source: &str) -> Vec<usize> {
    const NEEDLES: &[&str] =
        &["sqlx::query", "sqlx::raw_sql", "query_as(", "query_scalar(", "query!(", "query_as!(", "query_scalar!("];
    source
        .lines()
        .enumerate()
        .filter(|(_, line)| {
            let code = line.split("//").next().unwrap_or("");
            NEEDLES.iter().any(|n| code.contains(n))
        })
        .map(|(i, _)| i + 1)
        .collect()
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// SQL issued by a product crate other than store-pg.
fn sql_outside_store(root: &Path) -> Vec<String> {
    let mut found = Vec::new();
    for krate in std::fs::read_dir(root.join("crates")).unwrap() {
        let krate = krate.unwrap().path();
        let name = krate.file_name().unwrap().to_string_lossy().into_owned();
        if name == "store-pg" || name == "bench" {
            continue;
        }
        let mut files = Vec::new();
        rust_files(&krate.join("src"), &mut files);
        for file in files {
            let source = std::fs::read_to_string(&file).unwrap();
            for line in sql_lines(&source) {
                found.push(format!("{}:{line}", file.strip_prefix(root).unwrap().display()));
            }
        }
    }
    found
}

/// Whether a line of Rust (comments stripped) names the `domain` crate other than by its text limits
/// (`domain::text::max::...`): a path through it, `use domain`, `domain as ...`, `extern crate domain`.
fn names_domain(code: &str) -> bool {
    let ident = |c: char| c.is_ascii_alphanumeric() || c == '_';
    code.match_indices("domain").any(|(i, word)| {
        let after = &code[i + word.len()..];
        if code[..i].ends_with(ident) || after.starts_with(ident) {
            return false;
        }
        let rest = after.trim_start();
        if let Some(path) = rest.strip_prefix("::") {
            let limits = path.trim_start().strip_prefix("text::max");
            return limits.is_none_or(|l| l.starts_with(ident));
        }
        let head = code[..i].trim_end();
        head.ends_with("use") || head.ends_with("crate") || rest.starts_with("as ")
    })
}

/// Lines of `source` that name the domain (see [`names_domain`]).
fn domain_lines(source: &str) -> Vec<usize> {
    source
        .lines()
        .enumerate()
        .filter(|(_, line)| names_domain(line.split("//").next().unwrap_or("")))
        .map(|(i, _)| i + 1)
        .collect()
}

/// Where http-api names the domain outside its DTO conversions.
fn domain_outside_conversions(root: &Path) -> Vec<String> {
    let krate = root.join("crates/http-api");
    let mut files = Vec::new();
    rust_files(&krate.join("src"), &mut files);
    let mut found = Vec::new();
    for file in files {
        let inside = file.strip_prefix(&krate).unwrap();
        if inside == Path::new("src/dto/convert.rs") || inside.starts_with("src/dto/convert") {
            continue;
        }
        let source = std::fs::read_to_string(&file).unwrap();
        for line in domain_lines(&source) {
            found.push(format!("{}:{line}", file.strip_prefix(root).unwrap().display()));
        }
    }
    found
}

#[test]
fn the_crates_depend_only_in_the_directions_of_the_layout() {
    let (graph, members) = graph();
    let violations = dependency_violations(&graph, &members);
    assert!(violations.is_empty(), "layout rules broken:\n{}", violations.join("\n"));
}

#[test]
fn no_sql_is_issued_outside_store_pg() {
    let found = sql_outside_store(&workspace_root());
    assert!(found.is_empty(), "SQL outside store-pg:\n{}", found.join("\n"));
}

/// Each rule, broken on a copy of the real graph, is reported.
#[test]
fn each_dependency_rule_fails_when_broken() {
    let (graph, members) = graph();
    let broken = |from: &str, to: &str| {
        let mut g = graph.clone();
        g.entry(from.to_owned()).or_default().insert(to.to_owned());
        dependency_violations(&g, &members)
    };
    // A direction: the domain may depend on no workspace crate.
    assert!(broken("domain", "store-pg").iter().any(|v| v.contains("domain depends on store-pg")));
    // The adapters.
    for dep in ["store-pg", "seqr-client", "seqr-wire", "sqlx"] {
        assert!(broken("http-api", dep).iter().any(|v| v == &format!("http-api depends on {dep}")), "{dep}");
    }
    assert!(broken("amqp", "store-pg").iter().any(|v| v == "amqp depends on store-pg"));
    assert!(broken("engine", "http-api").iter().any(|v| v.contains("engine depends on http-api")));
    // The simulator, also through another crate the binary links.
    assert!(broken("seqrd", "seqr-sim").iter().any(|v| v.contains("links seqr-sim")));
    assert!(broken("engine", "seqr-sim").iter().any(|v| v.contains("links seqr-sim")));
    // A new crate must be placed.
    let mut with_new = members.clone();
    with_new.insert("newcomer".to_owned());
    assert!(dependency_violations(&graph, &with_new).iter().any(|v| v.starts_with("newcomer:")));
}

#[test]
fn the_sql_scan_finds_statements_and_ignores_comments() {
    let source = "let a = 1;\nsqlx::query(\"SELECT 1\")\n// sqlx::query in a comment\nlet r: (i64,) = query_as(SQL);\n";
    assert_eq!(sql_lines(source), vec![2, 4]);
    // On a copy of a crate's sources with a statement added, the scan reports it.
    let root = std::env::temp_dir().join(format!("seqrd-layout-{}", std::process::id()));
    let src = root.join("crates/http-api/src");
    std::fs::create_dir_all(&src).unwrap();
    std::fs::write(src.join("lib.rs"), "fn f() { sqlx::query(\"DELETE FROM events\"); }\n").unwrap();
    let found = sql_outside_store(&root);
    std::fs::remove_dir_all(&root).unwrap();
    assert_eq!(found, vec!["crates/http-api/src/lib.rs:1".to_owned()]);
}

#[test]
fn http_api_names_the_domain_only_in_its_conversions() {
    let found = domain_outside_conversions(&workspace_root());
    assert!(found.is_empty(), "http-api names the domain outside src/dto/convert.rs:\n{}", found.join("\n"));
}

#[test]
fn the_domain_scan_finds_uses_and_allows_the_text_limits() {
    let source = "use domain::Money;\n#[schemars(length(max = \"domain::text::max::ROWS\"))]\n// domain::Invoice in a \
                  comment\nlet m: ::domain::Money = x;\nuse domain as d;\nlet subdomain = 1; // the domain's rules\n\
                  #[schemars(with = \"domain::TerminalId\")]\nlet n = domain::text::check(a, b, 1);\n";
    assert_eq!(domain_lines(source), vec![1, 4, 5, 7, 8]);
    // On a copy of http-api's sources with a domain type named in a handler, the scan reports it, and only it.
    let root = std::env::temp_dir().join(format!("seqrd-layout-domain-{}", std::process::id()));
    let src = root.join("crates/http-api/src");
    std::fs::create_dir_all(src.join("dto/convert")).unwrap();
    std::fs::write(src.join("invoices.rs"), "use domain::Money;\n").unwrap();
    std::fs::write(src.join("dto/convert.rs"), "use domain::Money;\n").unwrap();
    std::fs::write(src.join("dto/convert/tests.rs"), "let m = domain::Money::zero(c);\n").unwrap();
    std::fs::write(src.join("dto/requests.rs"), "#[schemars(length(max = \"domain::text::max::ROWS\"))]\n").unwrap();
    let found = domain_outside_conversions(&root);
    std::fs::remove_dir_all(&root).unwrap();
    assert_eq!(found, vec!["crates/http-api/src/invoices.rs:1".to_owned()]);
}
