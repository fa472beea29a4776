//! Printing results and errors, as text for people or JSON for scripts.

use std::fmt;

use peergroup::hresult::{self, Hresult};
use serde_json::{Value, json};

/// An error of the command: one of peergroup's, or one of the command line itself.
#[derive(Debug)]
pub enum CliError {
    /// An error of the library, with its HRESULT.
    Peergroup(peergroup::Error),
    /// A value on the command line that is not valid (`E_INVALIDARG`, exit status 2).
    Usage(String),
    /// A file the command reads or writes (`E_FAIL`).
    File { path: std::path::PathBuf, source: std::io::Error },
    /// Something the group reported by an event or did not do in time, with its code.
    Failed { code: Hresult, message: String },
}

impl From<peergroup::Error> for CliError {
    fn from(e: peergroup::Error) -> Self {
        Self::Peergroup(e)
    }
}

impl From<peergroup::StateError> for CliError {
    fn from(e: peergroup::StateError) -> Self {
        Self::Peergroup(e.into())
    }
}

impl From<peergroup::IdentityError> for CliError {
    fn from(e: peergroup::IdentityError) -> Self {
        Self::Peergroup(e.into())
    }
}

impl CliError {
    pub fn hresult(&self) -> Hresult {
        match self {
            Self::Peergroup(e) => e.hresult(),
            Self::Usage(_) => hresult::E_INVALIDARG,
            Self::File { .. } => hresult::E_FAIL,
            Self::Failed { code, .. } => *code,
        }
    }

    pub fn exit_code(&self) -> u8 {
        match self {
            Self::Usage(_) => 2,
            _ => 1,
        }
    }
}

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Peergroup(e) => write!(f, "{e}"),
            Self::Usage(m) => f.write_str(m),
            Self::File { path, source } => write!(f, "{}: {source}", path.display()),
            Self::Failed { message, .. } => f.write_str(message),
        }
    }
}

pub type CliResult<T = ()> = Result<T, CliError>;

/// Where results go.
#[derive(Debug, Clone, Copy)]
pub struct Output {
    pub json: bool,
}

impl Output {
    pub fn new(json: bool) -> Self {
        Self { json }
    }

    /// Prints a result: the text lines, or the JSON value on one line. A reader that has
    /// gone (a closed pipe: `... | head -1`) is no reason to fail, or to panic, in a command
    /// that did its work: a registration stays until interrupted whoever reads its output.
    pub fn print(&self, text: &str, value: Value) {
        use std::io::Write as _;
        let mut text = if self.json { value.to_string() } else { text.trim_end_matches('\n').to_owned() };
        if text.is_empty() {
            return;
        }
        text.push('\n');
        let mut out = std::io::stdout().lock();
        // One write for all the lines, then flushed: nothing is left in a buffer to fail later.
        let _ = out.write_all(text.as_bytes()).and_then(|()| out.flush());
    }

    /// Prints an error: one line on standard error; with `--json` also an object on standard
    /// output.
    pub fn error(&self, e: &CliError) {
        let hr = e.hresult();
        let name = hr.name().unwrap_or("E_FAIL");
        eprintln!("peergroup: error: {e} [{name} {hr}]");
        if self.json {
            println!("{}", json!({"error": {"name": name, "hresult": format!("{hr}"), "message": e.to_string()}}));
        }
    }
}
