//! The identity-info document (`PeerIdentityGetXML`'s form): what `IdentityInfo::from_xml`
//! accepts (with or without an XML declaration) and the error every malformed one gives.

#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests fail loudly on any unexpected error.

use base64::Engine;
use peergroup_identity::{IdentityError, IdentityInfo, Keystore, MAX_IDENTITY_INFO_LEN, testing};

fn alice() -> (tempfile::TempDir, IdentityInfo) {
    let home = tempfile::tempdir().unwrap();
    let store = Keystore::open(home.path().join("peergroup")).unwrap();
    let alice = store.create_with_key("alice", Some("Alice"), &testing::key(0)).unwrap();
    let info = alice.info().clone();
    (home, info)
}

fn b64(info: &IdentityInfo) -> String {
    base64::engine::general_purpose::STANDARD.encode(info.certificate_der())
}

fn reason(xml: &str) -> String {
    match IdentityInfo::from_xml(xml) {
        Err(IdentityError::InvalidIdentityInfo { reason }) => reason,
        other => panic!("expected InvalidIdentityInfo for {xml:?}, got {other:?}"),
    }
}

#[test]
fn written_form_is_windows_and_reads_back() {
    let (_home, info) = alice();
    let xml = info.to_xml();
    assert_eq!(
        xml,
        format!(
            "<PEERIDENTITYINFO VERSION=\"1.0\"><IDC xmlns:dt=\"urn:schemas-microsoft-com:datatypes\" \
             dt:dt=\"bin.base64\">{}</IDC></PEERIDENTITYINFO>",
            b64(&info)
        )
    );
    assert_eq!(IdentityInfo::from_xml(&xml).unwrap(), info);
}

#[test]
fn accepts_a_prolog_white_space_comments_and_wrapped_base64() {
    let (_home, info) = alice();
    let wrapped: String = b64(&info)
        .as_bytes()
        .chunks(64)
        .map(|line| format!("\r\n    {}", std::str::from_utf8(line).unwrap()))
        .collect();
    let documents = [
        format!("<?xml version=\"1.0\" encoding=\"utf-8\"?>{}", info.to_xml()),
        format!("<?xml version=\"1.0\" encoding=\"utf-8\"?>\r\n{}\r\n", info.to_xml()),
        format!("\u{feff}<?xml version=\"1.0\"?>\n{}", info.to_xml()),
        format!("  \n{}  \n", info.to_xml()),
        format!(
            "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<!-- from PeerIdentityGetXML -->\n\
             <PEERIDENTITYINFO VERSION=\"1.0\">\n  <IDC xmlns:dt=\"urn:schemas-microsoft-com:datatypes\" \
             dt:dt=\"bin.base64\">{wrapped}\n  </IDC>\n</PEERIDENTITYINFO>\n"
        ),
        // No version attribute, and the base64 in a CDATA section.
        format!("<PEERIDENTITYINFO><IDC><![CDATA[{}]]></IDC></PEERIDENTITYINFO>", b64(&info)),
    ];
    for xml in &documents {
        assert_eq!(IdentityInfo::from_xml(xml).unwrap(), info, "{xml}");
    }
}

#[test]
fn malformed_documents_are_invalid_identity_info_with_the_reason() {
    let (_home, info) = alice();
    let cert = b64(&info);
    let idc = format!("<IDC>{cert}</IDC>");
    let cases: Vec<(String, &str)> = vec![
        (String::new(), "no PEERIDENTITYINFO element"),
        ("just text".into(), "not a PEERIDENTITYINFO document (text before the root element)"),
        (format!("<OTHER>{idc}</OTHER>"), "not a PEERIDENTITYINFO document"),
        (format!("<PEERIDENTITYINFO>{idc}"), "unclosed element"),
        (format!("<PEERIDENTITYINFO>{idc}</OTHER>"), "not well-formed XML"),
        (format!("<PEERIDENTITYINFO><IDC>{cert}</PEERIDENTITYINFO>"), "not well-formed XML"),
        ("<PEERIDENTITYINFO/>".into(), "no IDC element"),
        ("<PEERIDENTITYINFO></PEERIDENTITYINFO>".into(), "no IDC element"),
        (format!("<PEERIDENTITYINFO>{idc}{idc}</PEERIDENTITYINFO>"), "more than one IDC element"),
        (format!("<PEERIDENTITYINFO>{idc}<EXTRA/></PEERIDENTITYINFO>"), "unexpected element <EXTRA>"),
        (format!("<PEERIDENTITYINFO><IDC><B/>{cert}</IDC></PEERIDENTITYINFO>"), "unexpected element <B>"),
        (format!("<PEERIDENTITYINFO>x{idc}</PEERIDENTITYINFO>"), "text outside the IDC element"),
        (format!("<PEERIDENTITYINFO VERSION=\"2.0\">{idc}</PEERIDENTITYINFO>"), "version 2.0 is not supported"),
        (format!("<PEERIDENTITYINFO>{idc}</PEERIDENTITYINFO><PEERIDENTITYINFO/>"), "content after the root"),
        (format!("<PEERIDENTITYINFO>{idc}</PEERIDENTITYINFO>trailing"), "content after the root"),
        (format!("<!DOCTYPE x><PEERIDENTITYINFO>{idc}</PEERIDENTITYINFO>"), "document type declarations"),
        (format!("<PEERIDENTITYINFO><IDC>&ent;{cert}</IDC></PEERIDENTITYINFO>"), "unknown entity &ent;"),
        (format!("<PEERIDENTITYINFO>{idc}</PEERIDENTITYINFO><?xml version=\"1.0\"?>"), "only allowed at the start"),
        (
            format!("<!-- c --><?xml version=\"1.0\"?><PEERIDENTITYINFO>{idc}</PEERIDENTITYINFO>"),
            "only allowed at the start",
        ),
        ("<PEERIDENTITYINFO><IDC>not base64!</IDC></PEERIDENTITYINFO>".into(), "IDC is not base64"),
        ("<PEERIDENTITYINFO><IDC>AAAA</IDC></PEERIDENTITYINFO>".into(), "certificate:"),
    ];
    for (xml, expected) in &cases {
        let reason = reason(xml);
        assert!(reason.contains(expected), "{xml:?}: reason {reason:?} does not say {expected:?}");
    }
}

#[test]
fn a_document_over_the_bound_is_too_large() {
    let (_home, info) = alice();
    let padding = " ".repeat(MAX_IDENTITY_INFO_LEN);
    let xml = format!("{}{padding}", info.to_xml());
    assert!(matches!(
        IdentityInfo::from_xml(&xml),
        Err(IdentityError::TooLarge { what: "identity info", max: MAX_IDENTITY_INFO_LEN, .. })
    ));
}
