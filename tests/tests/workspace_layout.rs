//! Checks that the workspace keeps its agreed shape: every member is a real crate with a
//! crate doc line and inherited package metadata, and the consensus crate depends on none of ours.

use std::fs;
use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ lives inside the workspace root")
        .to_path_buf()
}

fn read(path: &Path) -> String {
    fs::read_to_string(path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
}

/// The `members = [...]` list of the root Cargo.toml.
fn members() -> Vec<String> {
    let manifest = read(&root().join("Cargo.toml"));
    let start = manifest
        .find("members")
        .expect("root Cargo.toml has a members list");
    let rest = &manifest[start..];
    let open = rest.find('[').expect("members = [");
    let close = rest.find(']').expect("members list is closed");
    let members: Vec<String> = rest[open + 1..close]
        .split(',')
        .map(|m| m.trim().trim_matches('"').to_owned())
        .filter(|m| !m.is_empty())
        .collect();
    assert!(!members.is_empty(), "empty members list");
    members
}

/// Names of the `otedama-*` crates a manifest depends on, in any dependency table.
fn otedama_dependencies(manifest: &str) -> Vec<String> {
    let mut in_deps = false;
    let mut deps = Vec::new();
    for line in manifest.lines().map(str::trim) {
        if line.starts_with('[') {
            in_deps = line.ends_with("dependencies]");
            continue;
        }
        if in_deps && line.starts_with("otedama-") {
            let name = line.split(['=', '.', ' ']).next().unwrap_or_default();
            deps.push(name.to_owned());
        }
    }
    deps
}

#[test]
fn every_member_is_a_documented_crate() {
    let mut problems = Vec::new();
    for member in members() {
        let dir = root().join(&member);
        let manifest_path = dir.join("Cargo.toml");
        if !manifest_path.is_file() {
            problems.push(format!("{member}: no Cargo.toml"));
            continue;
        }
        let manifest = read(&manifest_path);
        for key in [
            "version.workspace = true",
            "edition.workspace = true",
            "license.workspace = true",
            "rust-version.workspace = true",
            "description = ",
        ] {
            if !manifest.contains(key) {
                problems.push(format!("{member}/Cargo.toml: missing `{key}`"));
            }
        }
        let roots: Vec<PathBuf> = ["src/lib.rs", "src/main.rs"]
            .iter()
            .map(|f| dir.join(f))
            .filter(|p| p.is_file())
            .collect();
        if roots.is_empty() {
            problems.push(format!("{member}: neither src/lib.rs nor src/main.rs"));
        }
        for path in roots {
            let first = read(&path).lines().next().unwrap_or_default().to_owned();
            if !first.starts_with("//! ") {
                problems.push(format!(
                    "{}: first line is not a `//!` crate doc",
                    path.strip_prefix(root()).unwrap().display()
                ));
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn consensus_depends_on_no_other_otedama_crate() {
    let manifest = read(&root().join("consensus/Cargo.toml"));
    // Its own dev-dependency on itself (to switch on the `testkit` feature for its integration
    // tests) is not a dependency on another crate.
    let deps: Vec<String> = otedama_dependencies(&manifest)
        .into_iter()
        .filter(|d| d != "otedama-consensus")
        .collect();
    assert!(
        deps.is_empty(),
        "consensus must stay at the centre, but depends on {deps:?}"
    );
}

#[test]
fn dependency_parser_sees_otedama_dependencies() {
    let manifest = "[package]\nname = \"otedama-x\"\n\n[dependencies]\n\
                    otedama-consensus = { workspace = true }\nclap.workspace = true\n\n\
                    [dev-dependencies]\notedama-rpc.workspace = true\n";
    assert_eq!(
        otedama_dependencies(manifest),
        ["otedama-consensus", "otedama-rpc"]
    );
}
