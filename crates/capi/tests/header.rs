//! `include/p2p.h` against the library: a stale header fails here. Checked: the functions it
//! declares are exactly those the sources define and the shared library exports; its HRESULT
//! values are the facade's; every structure's size and field offsets, as a C compiler lays
//! them out, equal the Rust definitions.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers: a failure is a test failure

mod common;

use std::collections::BTreeSet;
use std::mem::{offset_of, size_of};
use std::process::Command;

use common::{Link, assert_success, compile, crate_dir, lib_dir};
use peergroup_capi::*;

fn header() -> String {
    std::fs::read_to_string(crate_dir().join("include/p2p.h")).unwrap()
}

/// `Peer*` functions declared in the header.
fn declared() -> BTreeSet<String> {
    header()
        .lines()
        .filter_map(|l| l.strip_prefix("HRESULT ").or_else(|| l.strip_prefix("void ")))
        .filter_map(|rest| rest.split_once('(').map(|(name, _)| name.trim().to_owned()))
        .filter(|name| name.starts_with("Peer"))
        .collect()
}

/// `Peer*` functions defined in the sources with `extern "C"`.
fn defined() -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    for entry in std::fs::read_dir(crate_dir().join("src/api")).unwrap() {
        let text = std::fs::read_to_string(entry.unwrap().path()).unwrap();
        for part in text.split("extern \"C\" fn ").skip(1) {
            let name: String = part.chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').collect();
            names.insert(name);
        }
    }
    names
}

/// `Peer*` symbols the shared library exports.
fn exported() -> BTreeSet<String> {
    let out = Command::new("nm").args(["-D", "--defined-only"]).arg(lib_dir().join("libpeergroup_capi.so")).output();
    let out = out.expect("nm (binutils) is needed to check the exported symbols");
    assert!(out.status.success());
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.split_whitespace().nth(2))
        .filter(|s| s.starts_with("Peer"))
        .map(str::to_owned)
        .collect()
}

#[test]
fn header_declares_exactly_the_exported_functions() {
    let (declared, defined, exported) = (declared(), defined(), exported());
    assert_eq!(declared, defined, "include/p2p.h and src/api disagree");
    assert_eq!(declared, exported, "include/p2p.h and libpeergroup_capi.so disagree");
    // The functions issue 7 asks for, at least.
    for name in [
        "PeerGroupStartup",
        "PeerGroupShutdown",
        "PeerFreeData",
        "PeerGetNextItem",
        "PeerGetItemCount",
        "PeerEndEnumeration",
        "PeerIdentityCreate",
        "PeerEnumIdentities",
        "PeerIdentityDelete",
        "PeerIdentityGetFriendlyName",
        "PeerIdentitySetFriendlyName",
        "PeerIdentityGetXML",
        "PeerIdentityExport",
        "PeerIdentityImport",
        "PeerCreatePeerName",
        "PeerPnrpGetCloudInfo",
        "PeerPnrpStartup",
        "PeerPnrpShutdown",
        "PeerPnrpRegister",
        "PeerPnrpUpdateRegistration",
        "PeerPnrpUnregister",
        "PeerPnrpResolve",
        "PeerPnrpStartResolve",
        "PeerPnrpGetEndpoint",
        "PeerPnrpEndResolve",
        "PeerGroupCreate",
        "PeerGroupCreateInvitation",
        "PeerGroupParseInvitation",
        "PeerGroupJoin",
        "PeerGroupOpen",
        "PeerGroupClose",
        "PeerGroupDelete",
        "PeerEnumGroups",
        "PeerGroupGetProperties",
        "PeerGroupGetStatus",
        "PeerGroupAddRecord",
        "PeerGroupUpdateRecord",
        "PeerGroupDeleteRecord",
        "PeerGroupGetRecord",
        "PeerGroupEnumRecords",
        "PeerGroupSearchRecords",
        "PeerGroupExportDatabase",
        "PeerGroupImportDatabase",
        "PeerGroupRegisterEvent",
        "PeerGroupUnregisterEvent",
        "PeerGroupGetEventData",
        "PeerGroupConnect",
        "PeerGroupConnectByAddress",
        "PeerGroupEnumConnections",
    ] {
        assert!(declared.contains(name), "{name} is missing");
    }
}

#[test]
fn header_hresults_are_the_facade_codes() {
    let mut seen = BTreeSet::new();
    for line in header().lines() {
        let Some(rest) = line.strip_prefix("#define ") else { continue };
        let mut parts = rest.split_whitespace();
        let (Some(name), Some(value)) = (parts.next(), parts.next()) else { continue };
        let Some(hex) = value.strip_prefix("((HRESULT)0x").and_then(|v| v.strip_suffix(')')) else { continue };
        let bits = u32::from_str_radix(hex, 16).unwrap();
        // A facade code, or a reason only the connection events carry.
        let reason = CONNECTION_FAILURE_CODES.iter().find(|(n, _)| *n == name).map(|(_, hr)| *hr as u32);
        let known = peergroup::Hresult::from_name(name).map(|hr| hr.bits()).or(reason);
        let known = known.unwrap_or_else(|| panic!("{name} is neither a facade code nor a connection failure code"));
        assert_eq!(known, bits, "{name}");
        seen.insert(name.to_owned());
    }
    let every = peergroup::hresult::ALL.iter().map(|(n, _)| *n).chain(CONNECTION_FAILURE_CODES.iter().map(|(n, _)| *n));
    for name in every {
        assert!(seen.contains(name), "{name} is missing from include/p2p.h");
    }
}

/// `(C expression, Rust value)` pairs: each structure's size and each field's offset.
macro_rules! layout {
    ($($ty:ident { $($field:ident),* $(,)? })*) => {{
        let mut v: Vec<(String, usize)> = Vec::new();
        $(
            v.push((format!("sizeof({})", stringify!($ty)), size_of::<$ty>()));
            v.push((format!("_Alignof({})", stringify!($ty)), std::mem::align_of::<$ty>()));
            $(
                let field = stringify!($field).trim_start_matches("r#");
                v.push((format!("offsetof({}, {field})", stringify!($ty)), offset_of!($ty, $field)));
            )*
        )*
        v
    }};
}

#[test]
fn struct_layouts_match_the_c_compiler() {
    let mut checks = layout! {
        GUID { Data1, Data2, Data3, Data4 }
        FILETIME { dwLowDateTime, dwHighDateTime }
        PEER_VERSION_DATA { wVersion, wHighestVersion }
        PEER_DATA { cbData, pbData }
        PEER_GROUP_PROPERTIES { dwSize, dwFlags, pwzCloud, pwzClassifier, pwzGroupPeerName, pwzCreatorPeerName,
            pwzFriendlyName, pwzComment, ulMemberDataLifetime, ulPresenceLifetime, dwAuthenticationSchemes,
            pwzGroupPassword, groupPasswordRole }
        PEER_RECORD { dwSize, r#type, id, dwVersion, dwFlags, pwzCreatorId, pwzModifiedById, pwzAttributes,
            ftCreation, ftExpiration, ftLastModified, securityData, data }
        PEER_ADDRESS { dwSize, sin6 }
        PEER_CONNECTION_INFO { dwSize, dwFlags, ullConnectionId, ullNodeId, pwzPeerId, address }
        PEER_CREDENTIAL_INFO { dwSize, dwFlags, pwzFriendlyName, pPublicKey, pwzIssuerPeerName,
            pwzIssuerFriendlyName, ftValidityStart, ftValidityEnd, cRoles, pRoles }
        PEER_MEMBER { dwSize, dwFlags, pwzIdentity, pwzAttributes, ullNodeId, cAddresses, pAddresses,
            pCredentialInfo }
        PEER_NAME_PAIR { dwSize, pwzPeerName, pwzFriendlyName }
        PEER_INVITATION_INFO { dwSize, dwFlags, pwzCloudName, dwScope, dwCloudFlags, pwzGroupPeerName,
            pwzIssuerPeerName, pwzSubjectPeerName, pwzGroupFriendlyName, pwzIssuerFriendlyName,
            pwzSubjectFriendlyName, ftValidityStart, ftValidityEnd, cRoles, pRoles, cClassifiers, ppwzClassifiers,
            pSubjectPublicKey, authScheme }
        PEER_PNRP_CLOUD_INFO { pwzCloudName, dwScope, dwScopeId }
        PEER_PNRP_ENDPOINT_INFO { pwzPeerName, cAddresses, ppAddresses, pwzComment, payload }
        PEER_PNRP_REGISTRATION_INFO { pwzCloudName, pwzPublishingIdentity, cAddresses, ppAddresses, wPort,
            pwzComment, payload }
        PEER_GROUP_EVENT_REGISTRATION { eventType, pType }
        PEER_EVENT_INCOMING_DATA { dwSize, ullConnectionId, r#type, data }
        PEER_EVENT_RECORD_CHANGE_DATA { dwSize, changeType, recordId, recordType }
        PEER_EVENT_CONNECTION_CHANGE_DATA { dwSize, status, ullConnectionId, ullNodeId, ullNextConnectionId,
            hrConnectionFailedReason }
        PEER_EVENT_MEMBER_CHANGE_DATA { dwSize, changeType, pwzIdentity }
        PEER_GROUP_EVENT_DATA { eventType }
    };
    // The anonymous union of PEER_GROUP_EVENT_DATA: every member starts where Rust's union does.
    let union_at = offset_of!(PEER_GROUP_EVENT_DATA, data);
    for member in [
        "dwStatus",
        "incomingData",
        "recordChangeData",
        "connectionChangeData",
        "memberChangeData",
        "hrConnectionFailedReason",
    ] {
        checks.push((format!("offsetof(PEER_GROUP_EVENT_DATA, {member})"), union_at));
    }
    // The sizes the reference gives for x64 Windows.
    for (name, size) in [
        ("PEER_GROUP_PROPERTIES", 96),
        ("PEER_RECORD", 128),
        ("PEER_MEMBER", 56),
        ("PEER_CREDENTIAL_INFO", 72),
        ("PEER_INVITATION_INFO", 136),
        ("PEER_NAME_PAIR", 24),
        ("PEER_DATA", 16),
        ("PEER_ADDRESS", 32),
        ("PEER_CONNECTION_INFO", 64),
        ("PEER_EVENT_INCOMING_DATA", 48),
        ("PEER_EVENT_RECORD_CHANGE_DATA", 40),
        ("PEER_EVENT_CONNECTION_CHANGE_DATA", 40),
        ("PEER_EVENT_MEMBER_CHANGE_DATA", 16),
        ("PEER_GROUP_EVENT_DATA", 56),
        ("PEER_GROUP_EVENT_REGISTRATION", 16),
        ("PEER_PNRP_CLOUD_INFO", 16),
        ("PEER_PNRP_ENDPOINT_INFO", 48),
        ("PEER_PNRP_REGISTRATION_INFO", 64),
    ] {
        let rust = checks.iter().find(|(expr, _)| *expr == format!("sizeof({name})")).unwrap().1;
        assert_eq!(rust, size, "sizeof({name}) differs from Windows x64");
    }

    let mut c = String::from("#include <stdio.h>\n#include <stddef.h>\n#include \"p2p.h\"\nint main(void) {\n");
    for (expr, _) in &checks {
        c.push_str(&format!("    printf(\"%zu\\n\", (size_t){expr});\n"));
    }
    c.push_str("    return 0;\n}\n");
    let dir = tempfile::tempdir().unwrap();
    let source = dir.path().join("layout.c");
    std::fs::write(&source, c).unwrap();
    let exe = compile(&source, dir.path(), Link::Shared);
    let out = Command::new(&exe).output().unwrap();
    assert_success("layout", &out);
    let printed: Vec<usize> = String::from_utf8_lossy(&out.stdout).lines().map(|l| l.parse().unwrap()).collect();
    assert_eq!(printed.len(), checks.len());
    for ((expr, rust), c) in checks.iter().zip(printed) {
        assert_eq!(*rust, c, "{expr}: Rust {rust}, C {c}");
    }
}

/// The C++ side of the header compiles too (`WCHAR` is `char16_t` there).
#[test]
fn header_compiles_as_cpp() {
    let dir = tempfile::tempdir().unwrap();
    let source = dir.path().join("x.cpp");
    std::fs::write(&source, "#include \"p2p.h\"\nint main() { HGROUP g = nullptr; return PeerGroupOpen(u\"a\", u\"b\", nullptr, &g) == S_OK; }\n")
        .unwrap();
    let have = peergroup_testkit::has_tool("c++", "--version");
    if !peergroup_testkit::require("header_compiles_as_cpp", have, "no C++ compiler `c++` (apt-get install g++)") {
        return;
    }
    let out = Command::new("c++")
        .args(["-std=c++17", "-fsyntax-only", "-Wall", "-Werror", "-I"])
        .arg(crate_dir().join("include"))
        .arg(&source)
        .output()
        .unwrap();
    assert_success("c++ -fsyntax-only", &out);
}

/// The header's enumeration values that the Rust side also names are the same numbers.
#[test]
fn header_constants_are_the_rust_constants() {
    let constants: &[(&str, i64)] = &[
        ("PEER_GROUP_EVENT_STATUS_CHANGED", PEER_GROUP_EVENT_STATUS_CHANGED.into()),
        ("PEER_GROUP_EVENT_NEIGHBOR_CONNECTION", PEER_GROUP_EVENT_NEIGHBOR_CONNECTION.into()),
        ("PEER_GROUP_EVENT_MEMBER_CHANGED", PEER_GROUP_EVENT_MEMBER_CHANGED.into()),
        ("PEER_GROUP_EVENT_CONNECTION_FAILED", PEER_GROUP_EVENT_CONNECTION_FAILED.into()),
        ("PEER_GROUP_EVENT_AUTHENTICATION_FAILED", PEER_GROUP_EVENT_AUTHENTICATION_FAILED.into()),
        ("PEER_MEMBER_CONNECTED", PEER_MEMBER_CONNECTED.into()),
        ("PEER_MEMBER_DISCONNECTED", PEER_MEMBER_DISCONNECTED.into()),
        ("PEER_MEMBER_UPDATED", PEER_MEMBER_UPDATED.into()),
        ("PEER_MEMBER_PRESENT", PEER_MEMBER_PRESENT.into()),
        ("PEER_CONNECTED", PEER_CONNECTED.into()),
        ("PEER_DISCONNECTED", PEER_DISCONNECTED.into()),
        ("PEER_CONNECTION_FAILED", PEER_CONNECTION_FAILED.into()),
        ("PEER_CONNECTION_NEIGHBOR", PEER_CONNECTION_NEIGHBOR.into()),
        ("PEER_CONNECTION_DIRECT", PEER_CONNECTION_DIRECT.into()),
        ("PEER_E_NO_MEMBERS_FOUND", PEER_E_NO_MEMBERS_FOUND.into()),
        ("PEER_E_NO_MEMBER_CONNECTIONS", PEER_E_NO_MEMBER_CONNECTIONS.into()),
        ("PEER_E_UNABLE_TO_LISTEN", PEER_E_UNABLE_TO_LISTEN.into()),
        ("PEER_GROUP_STORE_CREDENTIALS", PEER_GROUP_STORE_CREDENTIALS.into()),
        ("PEER_GROUP_EVENT_DIRECT_CONNECTION", PEER_GROUP_EVENT_DIRECT_CONNECTION.into()),
        ("PEER_GROUP_EVENT_INCOMING_DATA", PEER_GROUP_EVENT_INCOMING_DATA.into()),
        ("PEERGROUP_MAX_DATA_LEN", peergroup::MAX_DATA_LEN as i64),
    ];
    let mut c = String::from("#include <stdio.h>\n#include \"p2p.h\"\nint main(void) {\n");
    for (name, _) in constants {
        c.push_str(&format!("    printf(\"%lld\\n\", (long long){name});\n"));
    }
    c.push_str("    return 0;\n}\n");
    let dir = tempfile::tempdir().unwrap();
    let source = dir.path().join("constants.c");
    std::fs::write(&source, c).unwrap();
    let exe = compile(&source, dir.path(), Link::Shared);
    let out = Command::new(&exe).output().unwrap();
    assert_success("constants", &out);
    let printed: Vec<i64> = String::from_utf8_lossy(&out.stdout).lines().map(|l| l.parse().unwrap()).collect();
    assert_eq!(printed.len(), constants.len());
    for ((name, rust), c) in constants.iter().zip(printed) {
        assert_eq!(*rust, c, "{name}: Rust {rust}, C {c}");
    }
}
