//! `cargo xtask release <VERSION> [--dry-run]`.
//!
//! 1. Sets `[workspace.package] version` and the version pins of our crates in
//!    `[workspace.dependencies]` (every publishable crate inherits the workspace version).
//! 2. Checks `cargo package` of every publishable crate, in dependency order, in one call so
//!    that cargo resolves our unpublished crates from each other.
//! 3. Writes a `CHANGELOG.md` section from the commit subjects since the last tag.
//! 4. Commits and tags `v<VERSION>` (not with `--dry-run`, which restores the files instead).

use std::collections::{BTreeMap, BTreeSet};

use crate::util::{Result, cmd, output, root, run};

pub fn command(args: &[String]) -> Result {
    let version = args.first().ok_or("release: give the new version, e.g. `cargo xtask release 0.2.0`")?;
    let dry_run = args.iter().any(|a| a == "--dry-run");
    if !is_semver(version) {
        return Err(format!("release: {version} is not a version of the form MAJOR.MINOR.PATCH"));
    }
    let manifest = root().join("Cargo.toml");
    let original = std::fs::read_to_string(&manifest).map_err(|e| format!("cannot read Cargo.toml: {e}"))?;
    let lockfile = root().join("Cargo.lock");
    let original_lock = std::fs::read(&lockfile).map_err(|e| format!("cannot read Cargo.lock: {e}"))?;
    let bumped = bump_versions(&original, version)?;
    std::fs::write(&manifest, &bumped).map_err(|e| format!("cannot write Cargo.toml: {e}"))?;

    let result = (|| {
        let crates = publishable_in_dependency_order()?;
        println!("publishable crates, dependency order: {}", crates.join(", "));
        let mut package = cmd("cargo", &["package", "--allow-dirty"]);
        for c in &crates {
            package.args(["-p", c]);
        }
        run("cargo package", package)?;
        let changelog = changelog_section(version)?;
        println!("\n{changelog}");
        if dry_run {
            return Ok(());
        }
        prepend_changelog(&changelog)?;
        // `commit -a` takes only tracked files: the first release creates CHANGELOG.md.
        run("stage the changelog", cmd("git", &["add", "CHANGELOG.md"]))?;
        run("commit", cmd("git", &["commit", "-am", &format!("Release {version}")]))?;
        run("tag", cmd("git", &["tag", "-a", &format!("v{version}"), "-m", &format!("peergroup {version}")]))
    })();
    if dry_run || result.is_err() {
        // Leave the tree as it was: cargo package rewrote the lock file with the new versions.
        let _ = std::fs::write(&manifest, &original);
        let _ = std::fs::write(&lockfile, &original_lock);
    }
    result
}

fn is_semver(v: &str) -> bool {
    let core = v.split(['-', '+']).next().unwrap_or_default();
    let parts: Vec<&str> = core.split('.').collect();
    parts.len() == 3 && parts.iter().all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
}

/// Rewrites the workspace version and the `version = "..."` of our own path dependencies.
fn bump_versions(manifest: &str, version: &str) -> Result<String> {
    let mut section = String::new();
    let mut changed = 0;
    let mut out = String::with_capacity(manifest.len());
    for line in manifest.lines() {
        let trimmed = line.trim();
        if trimmed.starts_with('[') {
            section = trimmed.to_owned();
        }
        let new_line = if section == "[workspace.package]" && trimmed.starts_with("version") {
            changed += 1;
            format!("version = \"{version}\"")
        } else if section == "[workspace.dependencies]" && trimmed.starts_with("peergroup") && line.contains("path =") {
            changed += 1;
            replace_version_field(line, version)
        } else {
            line.to_owned()
        };
        out.push_str(&new_line);
        out.push('\n');
    }
    if changed < 2 {
        return Err("release: Cargo.toml has no [workspace.package] version or no pinned crates".into());
    }
    Ok(out)
}

fn replace_version_field(line: &str, version: &str) -> String {
    match line.find("version = \"") {
        Some(start) => {
            let value = start + "version = \"".len();
            match line[value..].find('"') {
                Some(end) => format!("{}{version}{}", &line[..value], &line[value + end..]),
                None => line.to_owned(),
            }
        }
        None => line.to_owned(),
    }
}

/// Our publishable crates, each after the crates of ours it depends on.
fn publishable_in_dependency_order() -> Result<Vec<String>> {
    let meta = output(cmd("cargo", &["metadata", "--format-version", "1", "--no-deps"]))?;
    let meta: serde_json::Value = serde_json::from_str(&meta).map_err(|e| format!("cargo metadata: {e}"))?;
    let packages = meta["packages"].as_array().ok_or("cargo metadata: no packages")?;
    let mut deps: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for p in packages {
        // `publish: []` means never published; null means any registry.
        if p["publish"].as_array().is_some_and(|a| a.is_empty()) {
            continue;
        }
        let name = p["name"].as_str().unwrap_or_default().to_owned();
        let ours: BTreeSet<String> = p["dependencies"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|d| d["path"].is_string() && d["kind"].is_null())
            .filter_map(|d| d["name"].as_str().map(str::to_owned))
            .collect();
        deps.insert(name, ours);
    }
    let mut order = Vec::new();
    let mut placed = BTreeSet::new();
    while placed.len() < deps.len() {
        let ready: Vec<String> = deps
            .iter()
            .filter(|(n, d)| !placed.contains(*n) && d.iter().all(|x| placed.contains(x) || !deps.contains_key(x)))
            .map(|(n, _)| n.clone())
            .collect();
        if ready.is_empty() {
            return Err("release: the crates depend on each other in a cycle".into());
        }
        for n in ready {
            placed.insert(n.clone());
            order.push(n);
        }
    }
    Ok(order)
}

fn changelog_section(version: &str) -> Result<String> {
    let last_tag = output(cmd("git", &["describe", "--tags", "--abbrev=0"])).ok();
    let range = match &last_tag {
        Some(tag) => format!("{}..HEAD", tag.trim()),
        None => "HEAD".to_owned(),
    };
    let log = output(cmd("git", &["log", "--no-merges", "--format=- %s", &range]))?;
    let date = output(cmd("date", &["-u", "+%Y-%m-%d"]))?;
    Ok(format!("## {version} ({})\n\n{}", date.trim(), log.trim_end()))
}

fn prepend_changelog(section: &str) -> Result {
    let path = root().join("CHANGELOG.md");
    let old = std::fs::read_to_string(&path).unwrap_or_else(|_| "# Changelog\n".to_owned());
    let (head, rest) = match old.find("\n## ") {
        Some(i) => old.split_at(i + 1),
        None => (old.as_str(), ""),
    };
    let new = format!("{}\n{section}\n\n{rest}", head.trim_end());
    std::fs::write(&path, new).map_err(|e| format!("cannot write CHANGELOG.md: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bumps_workspace_and_pins() {
        let toml = "[workspace.package]\nversion = \"0.1.0\"\n[workspace.dependencies]\npeergroup-identity = { path = \"crates/identity\", version = \"0.1.0\" }\nserde = \"1\"\n";
        let out = bump_versions(toml, "0.2.0").unwrap();
        assert!(out.contains("version = \"0.2.0\"\n"));
        assert!(out.contains("peergroup-identity = { path = \"crates/identity\", version = \"0.2.0\" }"));
        assert!(out.contains("serde = \"1\""));
        assert!(is_semver("1.2.3") && !is_semver("1.2") && !is_semver("x.1.2"));
    }
}
