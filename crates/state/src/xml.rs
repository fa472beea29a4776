//! A small bounded XML tree reader on quick-xml, shared by the attribute and search parsers.
//! Both documents are tiny and untrusted, so the reader caps size, depth and element count.

use std::borrow::Cow;

use quick_xml::events::{BytesStart, Event};

/// The largest document read, in bytes.
pub(crate) const MAX_XML_LEN: usize = 64 * 1024;
/// The deepest nesting read.
pub(crate) const MAX_DEPTH: usize = 32;
/// The most elements read.
pub(crate) const MAX_ELEMENTS: usize = 1024;

/// An element: its name, its attributes (unescaped), its children and its text (unescaped,
/// the concatenation of every text and CDATA run directly inside it).
#[derive(Debug, Default)]
pub(crate) struct Element {
    pub name: String,
    pub attrs: Vec<(String, String)>,
    pub children: Vec<Element>,
    pub text: String,
}

impl Element {
    /// The value of attribute `name`, if present.
    pub fn attr(&self, name: &str) -> Option<&str> {
        self.attrs.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }

    /// Whether the text holds anything but white space.
    pub fn has_text(&self) -> bool {
        !self.text.trim().is_empty()
    }
}

/// Parses a document with one root element. Errors are short human-readable reasons.
pub(crate) fn parse(doc: &str) -> Result<Element, String> {
    if doc.len() > MAX_XML_LEN {
        return Err(format!("document is {} bytes; at most {MAX_XML_LEN} are read", doc.len()));
    }
    let mut reader = quick_xml::Reader::from_str(doc);
    reader.config_mut().check_end_names = true;
    let mut stack: Vec<Element> = Vec::new();
    let mut root: Option<Element> = None;
    let mut count = 0usize;
    loop {
        let event = reader.read_event().map_err(|e| format!("not well-formed XML: {e}"))?;
        match event {
            Event::Start(start) | Event::Empty(start) if root.is_some() => {
                let _ = start;
                return Err("content after the root element".into());
            }
            Event::Start(start) => {
                count += 1;
                if count > MAX_ELEMENTS || stack.len() >= MAX_DEPTH {
                    return Err(format!("more than {MAX_ELEMENTS} elements or deeper than {MAX_DEPTH}"));
                }
                stack.push(element(&start)?);
            }
            Event::Empty(start) => {
                count += 1;
                if count > MAX_ELEMENTS || stack.len() >= MAX_DEPTH {
                    return Err(format!("more than {MAX_ELEMENTS} elements or deeper than {MAX_DEPTH}"));
                }
                let el = element(&start)?;
                match stack.last_mut() {
                    Some(parent) => parent.children.push(el),
                    None => root = Some(el),
                }
            }
            Event::End(_) => {
                let el = stack.pop().ok_or("unbalanced end tag")?;
                match stack.last_mut() {
                    Some(parent) => parent.children.push(el),
                    None => root = Some(el),
                }
            }
            Event::Text(text) => {
                let content = text.xml10_content();
                push_text(&mut stack, &content)?;
            }
            Event::CData(data) => {
                let content = data.xml10_content();
                push_text(&mut stack, &content)?;
            }
            Event::GeneralRef(r) => {
                let resolved: Cow<'_, str> = if r.is_char_ref() {
                    match r.resolve_char_ref() {
                        Ok(Some(c)) => Cow::Owned(c.to_string()),
                        _ => return Err(format!("invalid character reference &{};", &*r)),
                    }
                } else {
                    match quick_xml::escape::resolve_predefined_entity(&r) {
                        Some(s) => Cow::Borrowed(s),
                        None => return Err(format!("unknown entity &{};", &*r)),
                    }
                };
                push_text(&mut stack, &resolved)?;
            }
            Event::Decl(_) | Event::Comment(_) | Event::PI(_) => {}
            Event::DocType(_) => return Err("document type declarations are not accepted".into()),
            Event::Eof => break,
        }
    }
    if !stack.is_empty() {
        return Err("unclosed element".into());
    }
    root.ok_or_else(|| "no root element".into())
}

fn push_text(stack: &mut [Element], text: &str) -> Result<(), String> {
    match stack.last_mut() {
        Some(el) => {
            el.text.push_str(text);
            Ok(())
        }
        None if text.trim().is_empty() => Ok(()),
        None => Err("text outside the root element".into()),
    }
}

fn element(start: &BytesStart<'_>) -> Result<Element, String> {
    let name = AsRef::<str>::as_ref(&start.name()).to_owned();
    let mut attrs = Vec::new();
    for attr in start.attributes() {
        let attr = attr.map_err(|e| format!("bad attribute in <{name}>: {e}"))?;
        let key = AsRef::<str>::as_ref(&attr.key).to_owned();
        let value = attr
            .normalized_value(quick_xml::XmlVersion::Implicit1_0)
            .map_err(|e| format!("bad value of attribute {key} in <{name}>: {e}"))?
            .into_owned();
        attrs.push((key, value));
    }
    Ok(Element { name, attrs, children: Vec::new(), text: String::new() })
}

/// Escapes text for element content or a double-quoted attribute value.
/// A carriage return is written as a character reference: a parser turns a literal one into a
/// line feed (XML end-of-line handling), so the value would not read back the same.
pub(crate) fn escape(s: &str) -> Cow<'_, str> {
    let escaped = quick_xml::escape::escape(s);
    if escaped.contains('\r') { Cow::Owned(escaped.replace('\r', "&#13;")) } else { escaped }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_tree_with_entities() {
        let el = parse("<?xml version=\"1.0\"?><a x=\"1&amp;2\"><b>t&lt;&#65;<![CDATA[<c>]]></b><c/></a>").unwrap();
        assert_eq!(el.name, "a");
        assert_eq!(el.attr("x"), Some("1&2"));
        assert_eq!(el.children.len(), 2);
        assert_eq!(el.children[0].text, "t<A<c>");
    }

    #[test]
    fn refuses_bad_documents() {
        for bad in ["", "<a>", "<a></b>", "<a/><b/>", "x<a/>", "<a>&foo;</a>", "<!DOCTYPE a><a/>"] {
            assert!(parse(bad).is_err(), "{bad}");
        }
        let deep = "<a>".repeat(40) + &"</a>".repeat(40);
        assert!(parse(&deep).is_err());
    }
}
