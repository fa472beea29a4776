//! The identity-info document (`PeerIdentityGetXML`'s form), read and written with quick-xml:
//!
//! ```text
//! <?xml version="1.0" encoding="utf-8"?>                     optional prolog
//! <PEERIDENTITYINFO VERSION="1.0">
//!   <IDC xmlns:dt="urn:schemas-microsoft-com:datatypes" dt:dt="bin.base64">certificate, base64</IDC>
//! </PEERIDENTITYINFO>
//! ```
//!
//! Windows says applications must not add elements inside, so the reader accepts exactly one
//! `IDC` in the root and nothing else but white space, comments and processing instructions.
//! Document type declarations are refused (no entity expansion from outside input).

use std::borrow::Cow;

use base64::Engine;
use quick_xml::events::{BytesStart, BytesText, Event};

const ROOT: &str = "PEERIDENTITYINFO";
const IDC: &str = "IDC";
const VERSION: &str = "1.0";
const DATATYPES_NS: &str = "urn:schemas-microsoft-com:datatypes";
const BASE64_TYPE: &str = "bin.base64";

/// Writes the document for a certificate (DER), without a prolog, as Windows does.
pub(crate) fn write(certificate: &[u8]) -> String {
    let b64 = base64::engine::general_purpose::STANDARD.encode(certificate);
    let mut writer = quick_xml::Writer::new(Vec::with_capacity(b64.len() + 160));
    let written = writer.create_element(ROOT).with_attribute(("VERSION", VERSION)).write_inner_content(|w| {
        w.create_element(IDC)
            .with_attributes([("xmlns:dt", DATATYPES_NS), ("dt:dt", BASE64_TYPE)])
            .write_text_content(BytesText::new(&b64))
            .map(|_| ())
    });
    // Invariant: writing into a Vec cannot fail, and every piece written is a &str (base64
    // and fixed ASCII), so the bytes are UTF-8.
    #[allow(clippy::expect_used)]
    {
        written.expect("writing into a Vec cannot fail");
        String::from_utf8(writer.into_inner()).expect("the document is built from UTF-8 pieces")
    }
}

/// Where the reader is in the document.
#[derive(PartialEq, Eq)]
enum At {
    /// Before the root element (the prolog).
    Prolog,
    /// Inside the root, outside `IDC`.
    Root,
    /// Inside `IDC`.
    Idc,
    /// After the root element.
    End,
}

/// Reads the document and returns the certificate it carries (DER, not verified yet). Errors
/// are short reasons for [`crate::IdentityError::InvalidIdentityInfo`].
pub(crate) fn read(doc: &str) -> Result<Vec<u8>, String> {
    // A byte-order mark, and white space before the prolog, as editors and earlier versions
    // of this reader let through.
    let doc = doc.trim_start_matches('\u{feff}').trim_start();
    let mut reader = quick_xml::Reader::from_str(doc);
    reader.config_mut().check_end_names = true;
    let mut at = At::Prolog;
    let mut idc: Option<String> = None;
    let mut first = true;
    loop {
        let event = reader.read_event().map_err(|e| format!("not well-formed XML: {e}"))?;
        let is_first = std::mem::replace(&mut first, false);
        match event {
            Event::Decl(_) if is_first => {}
            Event::Decl(_) => return Err("an XML declaration is only allowed at the start".into()),
            Event::Comment(_) | Event::PI(_) => {}
            Event::DocType(_) => return Err("document type declarations are not accepted".into()),
            Event::Start(start) => {
                at = match at {
                    At::Prolog => root(&start).map(|()| At::Root)?,
                    At::Root if name(&start) == IDC && idc.is_none() => {
                        idc = Some(String::new());
                        At::Idc
                    }
                    At::Root if name(&start) == IDC => return Err("more than one IDC element".into()),
                    At::Root | At::Idc => return Err(format!("unexpected element <{}>", name(&start))),
                    At::End => return Err("content after the root element".into()),
                };
            }
            Event::Empty(start) => match at {
                At::Prolog => {
                    root(&start)?;
                    return Err("no IDC element".into());
                }
                At::Root if name(&start) == IDC && idc.is_none() => idc = Some(String::new()),
                At::Root if name(&start) == IDC => return Err("more than one IDC element".into()),
                At::Root | At::Idc => return Err(format!("unexpected element <{}>", name(&start))),
                At::End => return Err("content after the root element".into()),
            },
            Event::End(_) => {
                at = match at {
                    At::Idc => At::Root,
                    At::Root => At::End,
                    // The reader checks that end tags match their start tags.
                    At::Prolog | At::End => return Err("unbalanced end tag".into()),
                };
            }
            Event::Text(text) => text_in(&at, &mut idc, &text.xml10_content())?,
            Event::CData(data) => text_in(&at, &mut idc, &data.xml10_content())?,
            Event::GeneralRef(r) => {
                let resolved: Cow<'_, str> = match r.resolve_char_ref() {
                    Ok(Some(c)) => Cow::Owned(c.to_string()),
                    Ok(None) => match quick_xml::escape::resolve_predefined_entity(&r) {
                        Some(s) => Cow::Borrowed(s),
                        None => return Err(format!("unknown entity &{};", &*r)),
                    },
                    Err(_) => return Err(format!("invalid character reference &{};", &*r)),
                };
                text_in(&at, &mut idc, &resolved)?;
            }
            Event::Eof => break,
        }
    }
    match at {
        At::End => {}
        At::Prolog => return Err(format!("no {ROOT} element")),
        At::Root | At::Idc => return Err("unclosed element".into()),
    }
    let b64: String = idc.ok_or("no IDC element")?.chars().filter(|c| !c.is_ascii_whitespace()).collect();
    base64::engine::general_purpose::STANDARD.decode(b64).map_err(|e| format!("IDC is not base64: {e}"))
}

fn name<'a>(start: &'a BytesStart<'_>) -> &'a str {
    start.name().0
}

/// Checks the root element: its name, and its version when it gives one.
fn root(start: &BytesStart<'_>) -> Result<(), String> {
    if name(start) != ROOT {
        return Err(format!("not a {ROOT} document (root element <{}>)", name(start)));
    }
    let version = start.try_get_attribute("VERSION").map_err(|e| format!("bad attribute in <{ROOT}>: {e}"))?;
    if let Some(attr) = version
        && attr.value != VERSION
    {
        return Err(format!("version {} is not supported (only {VERSION})", attr.value));
    }
    Ok(())
}

/// Text goes into `IDC`; elsewhere only white space is allowed.
fn text_in(at: &At, idc: &mut Option<String>, text: &str) -> Result<(), String> {
    match (at, idc) {
        (At::Idc, Some(content)) => {
            content.push_str(text);
            Ok(())
        }
        _ if text.trim().is_empty() => Ok(()),
        (At::Prolog, _) => Err(format!("not a {ROOT} document (text before the root element)")),
        (At::End, _) => Err("content after the root element".into()),
        _ => Err("text outside the IDC element".into()),
    }
}
