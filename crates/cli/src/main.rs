//! `peergroup`: identities, clouds, groups and records from the shell.
//!
//! Scripts depend on the grammar of `docs/cli.md`: a command that creates something prints the
//! new peer name (or record id) as the first line of its standard output; errors print one line
//! on standard error with the message, the symbolic name and the HRESULT, and exit with 1 (2
//! for usage errors). With `--json`, output is JSON (one object per line for `group watch`).

mod args;
mod commands;
mod demo;
mod net;
mod output;
mod pnrp;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = args::Cli::parse();
    let out = output::Output::new(cli.json);
    match commands::run(&cli, &out) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            out.error(&e);
            ExitCode::from(e.exit_code())
        }
    }
}
