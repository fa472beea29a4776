//! `PeerGroupOpen` of the C ABI with arbitrary UTF-16 buffers: unpaired surrogates, missing
//! or misplaced terminators, NULL arguments, long strings. Never a crash or a panic, only
//! documented outcomes; a successful open gives a handle that closes.
#![no_main]

use std::ptr::{null, null_mut};
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use peergroup::hresult::{self, E_INVALIDARG, S_OK};
use peergroup_capi::*;

struct Prepared {
    _tmp: tempfile::TempDir,
    identity: Vec<u16>,
    group: Vec<u16>,
}

fn wide(s: &str) -> Vec<u16> {
    s.encode_utf16().chain([0]).collect()
}

/// A started session with one identity and one group; DNS goes to a closed port with a 1 ms
/// timeout, so DNS cloud names fail fast.
fn prepared() -> &'static Prepared {
    static P: OnceLock<Prepared> = OnceLock::new();
    P.get_or_init(|| {
        let tmp = tempfile::tempdir().expect("temp dir");
        let home = tmp.path().join("home");
        std::os::unix::fs::DirBuilderExt::mode(&mut std::fs::DirBuilder::new(), 0o700).create(&home).expect("home");
        std::fs::write(
            home.join("config.toml"),
            "[dns]\nnameservers = [\"127.0.0.1:9\"]\nsearch = []\ntimeout_ms = 1\n",
        )
        .expect("config");
        // SAFETY: set once, before any thread of this process reads the environment.
        unsafe { std::env::set_var("PEERGROUP_HOME", &home) };
        let mut version = PEER_VERSION_DATA::default();
        let mut id = null_mut();
        let mut group = null_mut();
        let mut props: PEER_GROUP_PROPERTIES;
        let (identity, name);
        // SAFETY: valid arguments; the strings are read before they are freed.
        unsafe {
            assert_eq!(PeerGroupStartup(PEER_GROUP_VERSION, &mut version), S_OK.0);
            assert_eq!(PeerIdentityCreate(wide("fuzz").as_ptr(), null(), 0, &mut id), S_OK.0);
            identity = read(id);
            props = std::mem::zeroed();
            props.dwSize = size_of::<PEER_GROUP_PROPERTIES>() as u32;
            props.pwzCreatorPeerName = id;
            assert_eq!(PeerGroupCreate(&props, &mut group), S_OK.0);
            let mut got = null_mut();
            assert_eq!(PeerGroupGetProperties(group, &mut got), S_OK.0);
            name = read((*got).pwzGroupPeerName);
            PeerFreeData(got.cast());
            PeerFreeData(id.cast());
            assert_eq!(PeerGroupClose(group), S_OK.0);
        }
        Prepared { _tmp: tmp, identity, group: name }
    })
}

/// A NUL-terminated copy of a returned string.
unsafe fn read(p: PWSTR) -> Vec<u16> {
    let mut v = Vec::new();
    let mut i = 0;
    // SAFETY: a NUL-terminated string handed out by the library.
    while unsafe { *p.add(i) } != 0 {
        v.push(unsafe { *p.add(i) });
        i += 1;
    }
    v.push(0);
    v
}

fuzz_target!(|data: &[u8]| {
    let p = prepared();
    let Some((&mode, rest)) = data.split_first() else { return };
    // The input as UTF-16 units, cut into three arguments at 0xFFFF units.
    let units: Vec<u16> = rest.chunks_exact(2).map(|c| u16::from_le_bytes([c[0], c[1]])).collect();
    let mut args: Vec<Vec<u16>> = units.split(|u| *u == 0xFFFF).map(<[u16]>::to_vec).take(3).collect();
    args.resize(3, Vec::new());
    for (i, arg) in args.iter_mut().enumerate() {
        // Bit i: use the real identity / group instead (so the cloud and later steps are reached).
        if mode & (1 << i) != 0 {
            *arg = match i {
                0 => p.identity.clone(),
                1 => p.group.clone(),
                _ => wide("Global_"),
            };
        }
        // Bit 3+i: leave it without a terminator of its own: a long run of units follows, longer
        // than the documented limit, so the reader must stop at the limit.
        if mode & (1 << (3 + i)) != 0 {
            arg.resize(MAX_STRING_UNITS + 8, u16::from(b'a'));
        }
        arg.push(0);
    }
    let ptr = |i: usize| if mode & 0x40 != 0 && i == 2 { null() } else { args[i].as_ptr() };
    let mut group: HGROUP = null_mut();
    let out: *mut HGROUP = if mode & 0x80 != 0 && mode & 0x7 != 0x3 { null_mut() } else { &mut group };
    // SAFETY: every argument is NUL-terminated or NULL; `out` is NULL or writable.
    let hr = unsafe { PeerGroupOpen(ptr(0), ptr(1), ptr(2), out) };
    let code = peergroup::Hresult(hr);
    if hr == S_OK.0 {
        assert!(!group.is_null());
        // SAFETY: a handle just opened.
        assert_eq!(unsafe { PeerGroupClose(group) }, S_OK.0);
    } else {
        assert!(group.is_null(), "a failed open left a handle");
        assert!(code == E_INVALIDARG || hresult::OPEN_ERRORS.contains(&code), "undocumented outcome {code:?}");
    }
});
