//! `cargo xtask layers`: the layering rules of `docs/ARCHITECTURE.md`, checked on the resolved
//! dependency graph (`cargo tree`) so that a dependency added in the wrong place fails CI.

use crate::util::{Result, cmd, output};

/// Crates a layer must never pull in (its normal dependencies, however deep), and why.
const RULES: &[(&str, &[&str], &str)] = &[
    (
        "peergroup-security",
        &[
            "rusqlite",
            "libsqlite3-sys",
            "tokio",
            "mio",
            "hickory-proto",
            "hickory-resolver",
            "peergroup-state",
            "peergroup-pnrp",
            "peergroup-net",
            "quinn",
            "rustls",
        ],
        "security is pure: no SQLite, no runtime, no network, nothing of the layers above it",
    ),
    (
        "peergroup-identity",
        &["peergroup-security", "peergroup-state", "peergroup-pnrp", "peergroup-net", "rusqlite", "tokio", "rustls"],
        "identity is the base",
    ),
    (
        "peergroup-pnrp",
        &["peergroup-state", "peergroup-security", "peergroup-identity", "peergroup-net", "rusqlite"],
        "pnrp stands apart from the group state and knows no identity (proofs go through its traits)",
    ),
    (
        "peergroup-state",
        &["peergroup-pnrp", "peergroup-net", "tokio", "hickory-proto", "quinn"],
        "state does not reach the clouds, the network or a runtime",
    ),
    (
        "peergroup-sync",
        &[
            "rusqlite",
            "libsqlite3-sys",
            "tokio",
            "mio",
            "socket2",
            "hickory-proto",
            "hickory-resolver",
            "peergroup-state",
            "peergroup-pnrp",
            "peergroup-net",
            "quinn",
        ],
        "the sync protocol does no I/O: no SQLite, no runtime, no sockets, not the store (issue 12)",
    ),
    (
        "peergroup-cli",
        &["peergroup-identity", "peergroup-security", "peergroup-state", "peergroup-pnrp", "peergroup-net"],
        "the command line uses the facade's API only (depth 1)",
    ),
    (
        "peergroup-capi",
        &["peergroup-identity", "peergroup-security", "peergroup-state", "peergroup-pnrp", "peergroup-net"],
        "the C ABI uses the facade's API only (depth 1)",
    ),
];

/// The package names of `package`'s normal dependencies: all of them, or only the direct ones.
fn dependencies(package: &str, direct_only: bool) -> Result<Vec<String>> {
    let mut args = vec!["tree", "-p", package, "-e", "normal", "--prefix", "none", "--format", "{p}"];
    if direct_only {
        args.extend(["--depth", "1"]);
    }
    let text = output(cmd("cargo", &args))?;
    Ok(text
        .lines()
        .skip(1) // the package itself
        .filter_map(|l| l.split_whitespace().next())
        .map(str::to_owned)
        .collect())
}

pub fn check() -> Result {
    let mut broken = Vec::new();
    for (package, forbidden, why) in RULES {
        let front_end = matches!(*package, "peergroup-cli" | "peergroup-capi");
        let deps = dependencies(package, front_end)?;
        for bad in forbidden.iter().filter(|f| deps.iter().any(|d| d == *f)) {
            broken.push(format!("  {package} depends on {bad}: {why}"));
        }
    }
    if broken.is_empty() {
        println!("layers: every rule of docs/ARCHITECTURE.md holds ({} crates checked)", RULES.len());
        Ok(())
    } else {
        Err(format!("layering rules broken:\n{}", broken.join("\n")))
    }
}
