//! peergroup's automation: `cargo xtask <command>`.
//!
//! - `ci [--fuzz-secs N]`: everything CI checks, in the order that fails fastest.
//! - `fuzz [TARGET|--all] [SECS]`: short fuzz runs on stable (`cargo fuzz run -s none`), each
//!   from a scratch copy of the committed seed corpus.
//! - `corpus [--check]`: writes (or checks) the seed corpora (`fuzz/corpus/<target>/seed-*`): valid objects in the
//!   form each fuzz target reads.
//! - `layers`: the layering rules of `docs/ARCHITECTURE.md`, checked on `cargo tree`.
//! - `bench [ARGS...]`: the criterion benchmarks, then OpenSSL's RSA-2048 sign rate measured in
//!   the same run and the ratio of our default provider to it.
//! - `convergence [SEEDS] [SIZES]`: the simulator's convergence figures for one new item among
//!   N members (a markdown table, and `docs/convergence.svg`).
//! - `release <VERSION> [--dry-run]`: bumps every crate, checks `cargo package` in dependency
//!   order, writes the changelog section, commits and tags.
//!
//! Like rust-analyzer's xtask it is plain Rust calling cargo, so it runs wherever cargo does.

mod bench;
mod ci;
mod convergence;
mod corpus;
mod layers;
mod release;
mod util;

use std::process::ExitCode;

const USAGE: &str = "usage: cargo xtask <command>
  ci [--fuzz-secs N] [--no-deny] [--no-fuzz]   fmt, clippy, tests, benches once, fuzz, deny
  fuzz [TARGET | --all] [SECS]                  fuzz one target (or all) for SECS seconds (default 10)
  corpus [--check]                              write (or check) the fuzz seed corpora (fuzz/corpus/<target>/seed-*)
  layers                                        check the layering rules of docs/ARCHITECTURE.md on cargo tree
  bench [CRITERION ARGS...]                     criterion benchmarks + OpenSSL sign-rate comparison
  convergence [SEEDS] [SIZES]                   simulated time for one item to reach N members (table, docs/convergence.svg)
  release <VERSION> [--dry-run]                 bump versions, cargo package, changelog, tag";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("ci") => ci::command(&args[1..]),
        Some("fuzz") => ci::fuzz_command(&args[1..]),
        Some("corpus") => corpus::command(&args[1..]),
        Some("layers") => layers::check(),
        Some("bench") => bench::command(&args[1..]),
        Some("convergence") => convergence::command(&args[1..]),
        Some("release") => release::command(&args[1..]),
        Some("-h" | "--help" | "help") => {
            println!("{USAGE}");
            Ok(())
        }
        _ => Err(format!("unknown or missing command\n{USAGE}")),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("xtask: {e}");
            ExitCode::FAILURE
        }
    }
}
