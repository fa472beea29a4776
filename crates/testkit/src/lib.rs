//! Test support shared by the tests of every peergroup crate. Not published: each crate uses it
//! as a dev-dependency (tests only), so none of this is part of a library's API.
//!
//! - [`require`] and [`skip`]: the one rule for a test that cannot get what it needs (root,
//!   network namespaces, a tool). Outside CI it prints `SKIPPED: <test>: <why>` on the real
//!   standard error and the test returns; under `CI=true` it fails the test with that message,
//!   so that nothing CI counts as passed was skipped.
//! - [`child_test`], [`as_child`] and [`child_entry`]: a test binary re-running itself as a
//!   worker process. The worker is an `#[ignore]`d test, so a normal run neither counts it nor
//!   runs it; its parent runs it with `--ignored --exact <name>`.
//! - [`Netns`]: a network namespace made for one test.
//! - [`Bind`]: a BIND 9 primary on loopback with a TSIG key and one zone (DNS cloud tests).

mod bind;
mod child;
mod netns;
mod skip;

pub use bind::{BIND_KEY_NAME, Bind, has_bind};
pub use child::{CHILD_ENV, as_child, child_entry, child_test, test_exe};
pub use netns::Netns;
pub use skip::{has_tool, in_ci, is_root, require, skip};
