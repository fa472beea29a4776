//! `open` with arbitrary argument bytes against a prepared keystore (an identity with a group,
//! a host with two link-local interfaces, no DNS server): never a panic, and only documented
//! outcomes.
#![no_main]

use std::sync::{Arc, OnceLock};

use libfuzzer_sys::fuzz_target;
use peergroup::hresult;
use peergroup::DnsConfig;
use peergroup::testing::host_with_link_locals;
use peergroup::{Context, Keystore, NewGroup};

struct Prepared {
    _tmp: tempfile::TempDir,
    ctx: Context,
}

fn prepared() -> &'static Prepared {
    static P: OnceLock<Prepared> = OnceLock::new();
    P.get_or_init(|| {
        let tmp = tempfile::tempdir().expect("temp dir");
        let keystore = Keystore::open(tmp.path().join("home")).expect("keystore");
        let ctx = Context::with_parts(keystore, DnsConfig::default(), Arc::new(host_with_link_locals(2)));
        let id = ctx.keystore().create_with_key("alice", None, &peergroup::testing_key(0)).expect("identity");
        ctx.create_group(&id.peer_name().to_string(), &NewGroup::new("chat", "Chat")).expect("group");
        Prepared { _tmp: tmp, ctx }
    })
}

fuzz_target!(|data: &[u8]| {
    let p = prepared();
    // Three arguments separated by 0xFF bytes (never in UTF-8); a missing third is "no cloud given".
    let mut parts = data.split(|b| *b == 0xff).map(|b| String::from_utf8_lossy(b).into_owned());
    let identity = parts.next().unwrap_or_default();
    let group = parts.next().unwrap_or_default();
    let cloud = parts.next();
    if let Err(e) = p.ctx.open_group_blocking(&identity, &group, cloud.as_deref()) {
        assert!(hresult::OPEN_ERRORS.contains(&e.hresult()), "undocumented outcome {e:?}");
    }
});
