//! `peergroup-sim`: runs the simulator from the command line.
//!
//! - `seeds N [FROM]`: checks the scenarios of seeds FROM..FROM+N (default FROM 0); prints
//!   every failing seed and exits non-zero if any failed.
//! - `seed S`: checks one seed and prints its outcome (to reproduce a failure).
//! - `convergence [SEEDS] [SIZES]`: the convergence experiment, one tab-separated line per run
//!   (`cargo xtask convergence` reads them); SIZES is a comma-separated list (default
//!   2,10,100,1000), SEEDS the runs per size (default 20).

use std::process::ExitCode;

use peergroup_sim::convergence::{Spread, measure};
use peergroup_sim::scenario::check;

const USAGE: &str = "usage: peergroup-sim seeds N [FROM] | seed S | convergence [SEEDS] [SIZES]";

fn number(arg: Option<&String>, default: u64) -> Result<u64, String> {
    arg.map_or(Ok(default), |a| a.parse().map_err(|_| format!("not a number: {a}\n{USAGE}")))
}

fn spread_columns(s: &Spread) -> String {
    let time = s.time_micros.map_or_else(|| "-".to_owned(), |t| t.to_string());
    format!("{time}\t{:.3}\t{:.3}\t{:.3}", s.messages_per_member, s.pushes_per_member, s.duplicates_per_member)
}

fn run(args: &[String]) -> Result<(), String> {
    match args.first().map(String::as_str) {
        Some("seeds") => {
            let n = number(args.get(1), 1000)?;
            let from = number(args.get(2), 0)?;
            let mut failed = 0u64;
            for seed in from..from.saturating_add(n) {
                if let Err(e) = check(seed) {
                    println!("FAILED {e}");
                    failed += 1;
                }
            }
            println!("{} seeds from {from}: {} passed, {failed} failed", n, n - failed);
            if failed == 0 { Ok(()) } else { Err(format!("{failed} seeds failed")) }
        }
        Some("seed") => {
            let seed = number(args.get(1), 0)?;
            let outcome = check(seed)?;
            println!("seed {seed}: {outcome:?}");
            Ok(())
        }
        Some("convergence") => {
            let seeds = number(args.get(1), 20)?;
            let sizes: Vec<u32> = args
                .get(2)
                .map_or("2,10,100,1000", String::as_str)
                .split(',')
                .map(|s| s.parse().map_err(|_| format!("not a size: {s}")))
                .collect::<Result<_, _>>()?;
            println!(
                "# n\tseed\tcold_us\tcold_msgs\tcold_pushes\tcold_dups\twarm_us\twarm_msgs\twarm_pushes\twarm_dups"
            );
            for n in sizes {
                for seed in 0..seeds {
                    let m = measure(n, seed);
                    println!("{n}\t{seed}\t{}\t{}", spread_columns(&m.cold), spread_columns(&m.warm));
                }
            }
            Ok(())
        }
        _ => Err(USAGE.to_owned()),
    }
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("peergroup-sim: {e}");
            ExitCode::FAILURE
        }
    }
}
