//! Identity layer: lookup for `open` at several keystore sizes, create, sign and verify.
fn main() {}
