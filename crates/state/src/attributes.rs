//! Record attributes: typed name/value pairs, and the Windows attribute XML form
//! `<attributes><attribute name="X" type="string|int|date">value</attribute>...</attributes>`.

use std::fmt;

use crate::error::{Result, StateError};
use crate::time::Timestamp;
use crate::xml;

/// The most attributes a record may carry.
pub const MAX_ATTRIBUTES: usize = 100;
/// The longest attribute name, in bytes (names are ASCII letters and digits).
pub const MAX_ATTRIBUTE_NAME_LEN: usize = 128;
/// The longest string attribute value, in bytes of UTF-8.
pub const MAX_ATTRIBUTE_VALUE_LEN: usize = 4096;

/// Attribute names the infrastructure sets; an application may search on them but not set them.
pub const RESERVED_ATTRIBUTE_NAMES: [&str; 6] = [
    "peerlastmodifiedby",
    "peercreatorid",
    "peerlastmodificationtime",
    "peerrecordid",
    "peerrecordtype",
    "peercreationtime",
];

/// The type of an attribute, as named in XML (`string`, `int`, `date`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum AttributeType {
    /// `string`: UTF-8 text, compared byte by byte.
    String,
    /// `int`: a signed 64-bit integer.
    Int,
    /// `date`: a W3C date-time.
    Date,
}

impl AttributeType {
    /// The XML name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::String => "string",
            Self::Int => "int",
            Self::Date => "date",
        }
    }

    /// From the XML name.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "string" => Some(Self::String),
            "int" => Some(Self::Int),
            "date" => Some(Self::Date),
            _ => None,
        }
    }

    /// The code stored in the database and in the canonical record encoding.
    pub(crate) fn code(self) -> u8 {
        match self {
            Self::String => 1,
            Self::Int => 2,
            Self::Date => 3,
        }
    }

    pub(crate) fn from_code(code: u8) -> Option<Self> {
        match code {
            1 => Some(Self::String),
            2 => Some(Self::Int),
            3 => Some(Self::Date),
            _ => None,
        }
    }
}

/// A typed attribute value.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum AttributeValue {
    /// A string.
    String(String),
    /// An integer.
    Int(i64),
    /// A date.
    Date(Timestamp),
}

impl AttributeValue {
    /// Its type.
    pub fn kind(&self) -> AttributeType {
        match self {
            Self::String(_) => AttributeType::String,
            Self::Int(_) => AttributeType::Int,
            Self::Date(_) => AttributeType::Date,
        }
    }

    /// Parses a value of type `kind` from its XML text.
    pub fn parse(kind: AttributeType, text: &str) -> Option<Self> {
        match kind {
            AttributeType::String => Some(Self::String(text.to_owned())),
            AttributeType::Int => text.trim().parse().ok().map(Self::Int),
            AttributeType::Date => Timestamp::parse_w3c(text.trim()).map(Self::Date),
        }
    }

    /// The XML text.
    fn to_text(&self) -> String {
        match self {
            Self::String(s) => s.clone(),
            Self::Int(i) => i.to_string(),
            Self::Date(t) => t.to_w3c().unwrap_or_default(),
        }
    }
}

/// One attribute.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Attribute {
    /// Its name: ASCII letters and digits, not a reserved name.
    pub name: String,
    /// Its value.
    pub value: AttributeValue,
}

impl Attribute {
    /// A string attribute.
    pub fn string(name: &str, value: &str) -> Self {
        Self { name: name.to_owned(), value: AttributeValue::String(value.to_owned()) }
    }

    /// An integer attribute.
    pub fn int(name: &str, value: i64) -> Self {
        Self { name: name.to_owned(), value: AttributeValue::Int(value) }
    }

    /// A date attribute.
    pub fn date(name: &str, value: Timestamp) -> Self {
        Self { name: name.to_owned(), value: AttributeValue::Date(value) }
    }
}

/// A record's attributes: valid, with unique names, kept sorted by name so that the
/// canonical encoding does not depend on the order they were given in.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Default)]
pub struct Attributes(Vec<Attribute>);

fn invalid(reason: impl Into<String>) -> StateError {
    StateError::InvalidAttributes { reason: reason.into() }
}

/// Checks an attribute name: 1 to [`MAX_ATTRIBUTE_NAME_LEN`] ASCII letters or digits.
pub(crate) fn check_name(name: &str) -> Result<()> {
    if name.is_empty() || name.len() > MAX_ATTRIBUTE_NAME_LEN {
        return Err(invalid(format!("attribute name must be 1 to {MAX_ATTRIBUTE_NAME_LEN} characters")));
    }
    if !name.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return Err(invalid(format!("attribute name {name:?} may hold only ASCII letters and digits")));
    }
    Ok(())
}

impl Attributes {
    /// No attributes.
    pub fn empty() -> Self {
        Self(Vec::new())
    }

    /// Checks and sorts attributes: names valid, unique (ignoring case) and not reserved,
    /// string values at most [`MAX_ATTRIBUTE_VALUE_LEN`] bytes with no NUL, dates in years
    /// 1 to 9999, at most [`MAX_ATTRIBUTES`].
    pub fn new(mut attrs: Vec<Attribute>) -> Result<Self> {
        if attrs.len() > MAX_ATTRIBUTES {
            return Err(StateError::TooManyAttributes { count: attrs.len(), max: MAX_ATTRIBUTES });
        }
        for a in &attrs {
            check_name(&a.name)?;
            let lower = a.name.to_ascii_lowercase();
            if RESERVED_ATTRIBUTE_NAMES.contains(&lower.as_str()) {
                return Err(invalid(format!("attribute name {} is reserved", a.name)));
            }
            match &a.value {
                AttributeValue::String(s) if s.len() > MAX_ATTRIBUTE_VALUE_LEN => {
                    return Err(invalid(format!(
                        "value of {} is {} bytes; at most {MAX_ATTRIBUTE_VALUE_LEN} are allowed",
                        a.name,
                        s.len()
                    )));
                }
                AttributeValue::String(s) if s.contains('\0') => {
                    return Err(invalid(format!("value of {} holds a NUL character", a.name)));
                }
                AttributeValue::Date(t) if t.to_w3c().is_none() => {
                    return Err(invalid(format!("date of {} is outside years 1 to 9999", a.name)));
                }
                _ => {}
            }
        }
        attrs.sort_by(|a, b| a.name.cmp(&b.name));
        // Names differing only in case sort apart: compare their lowercase forms sorted.
        let mut lower: Vec<String> = attrs.iter().map(|a| a.name.to_ascii_lowercase()).collect();
        lower.sort();
        if let Some(pair) = lower.windows(2).find(|p| p[0] == p[1]) {
            return Err(invalid(format!("attribute {} appears twice", pair[0])));
        }
        Ok(Self(attrs))
    }

    /// Parses the Windows attribute XML form. An empty string means no attributes.
    pub fn from_xml(text: &str) -> Result<Self> {
        if text.trim().is_empty() {
            return Ok(Self::empty());
        }
        let root = xml::parse(text).map_err(invalid)?;
        if root.name != "attributes" {
            return Err(invalid(format!("root element is <{}>, not <attributes>", root.name)));
        }
        if root.has_text() {
            return Err(invalid("text directly inside <attributes>"));
        }
        if root.children.len() > MAX_ATTRIBUTES {
            return Err(StateError::TooManyAttributes { count: root.children.len(), max: MAX_ATTRIBUTES });
        }
        let mut attrs = Vec::with_capacity(root.children.len());
        for el in &root.children {
            if el.name != "attribute" {
                return Err(invalid(format!("unexpected element <{}>", el.name)));
            }
            if !el.children.is_empty() {
                return Err(invalid("elements inside <attribute>"));
            }
            if let Some((name, _)) = el.attrs.iter().find(|(n, _)| n != "name" && n != "type") {
                return Err(invalid(format!("unexpected XML attribute {name} on <attribute>")));
            }
            let name = el.attr("name").ok_or_else(|| invalid("<attribute> without name"))?;
            let kind_text = el.attr("type").unwrap_or("string");
            let kind = AttributeType::parse(kind_text)
                .ok_or_else(|| invalid(format!("unknown attribute type {kind_text:?}")))?;
            let value = AttributeValue::parse(kind, &el.text)
                .ok_or_else(|| invalid(format!("value of {name} is not a valid {kind_text}")))?;
            attrs.push(Attribute { name: name.to_owned(), value });
        }
        Self::new(attrs)
    }

    /// The Windows attribute XML form (empty attributes give `<attributes></attributes>`).
    pub fn to_xml(&self) -> String {
        let mut out = String::from("<attributes>");
        for a in &self.0 {
            out.push_str("<attribute name=\"");
            out.push_str(&xml::escape(&a.name));
            out.push_str("\" type=\"");
            out.push_str(a.value.kind().as_str());
            out.push_str("\">");
            out.push_str(&xml::escape(&a.value.to_text()));
            out.push_str("</attribute>");
        }
        out.push_str("</attributes>");
        out
    }

    /// The value of attribute `name`.
    pub fn get(&self, name: &str) -> Option<&AttributeValue> {
        self.0.iter().find(|a| a.name == name).map(|a| &a.value)
    }

    /// The attributes, sorted by name.
    pub fn iter(&self) -> std::slice::Iter<'_, Attribute> {
        self.0.iter()
    }

    /// How many there are.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The attributes as a vector.
    pub fn into_vec(self) -> Vec<Attribute> {
        self.0
    }
}

impl<'a> IntoIterator for &'a Attributes {
    type Item = &'a Attribute;
    type IntoIter = std::slice::Iter<'a, Attribute>;
    fn into_iter(self) -> Self::IntoIter {
        self.0.iter()
    }
}

impl fmt::Display for Attributes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_xml())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn xml_round_trip_and_order() {
        let xml = r#"<attributes>
            <attribute name="b" type="int"> 42 </attribute>
            <attribute name="a">x &amp; &lt;y&gt; "q"</attribute>
            <attribute name="when" type="date">2024-01-02T03:04:05Z</attribute>
        </attributes>"#;
        let attrs = Attributes::from_xml(xml).unwrap();
        assert_eq!(attrs.iter().map(|a| a.name.as_str()).collect::<Vec<_>>(), ["a", "b", "when"]);
        assert_eq!(attrs.get("a"), Some(&AttributeValue::String("x & <y> \"q\"".into())));
        assert_eq!(attrs.get("b"), Some(&AttributeValue::Int(42)));
        let again = Attributes::from_xml(&attrs.to_xml()).unwrap();
        assert_eq!(again, attrs);
        assert_eq!(Attributes::from_xml("").unwrap(), Attributes::empty());
        // A carriage return survives the round trip (a literal one would read back as \n).
        let cr = Attributes::new(vec![Attribute::string("a", "x\r\ny\rz")]).unwrap();
        assert_eq!(Attributes::from_xml(&cr.to_xml()).unwrap(), cr);
        assert_eq!(Attributes::from_xml(&Attributes::empty().to_xml()).unwrap(), Attributes::empty());
    }

    #[test]
    fn each_rule_has_its_error() {
        let bad = [
            "<attribute name=\"a\">x</attribute>",
            "<attributes><attribute>x</attribute></attributes>",
            "<attributes><attribute name=\"a-b\">x</attribute></attributes>",
            "<attributes><attribute name=\"a\" type=\"float\">1</attribute></attributes>",
            "<attributes><attribute name=\"a\" type=\"int\">x</attribute></attributes>",
            "<attributes><attribute name=\"a\" type=\"date\">tomorrow</attribute></attributes>",
            "<attributes><attribute name=\"a\">x</attribute><attribute name=\"A\">y</attribute></attributes>",
            "<attributes><attribute name=\"peerrecordid\">x</attribute></attributes>",
            "<attributes><attribute name=\"a\" extra=\"1\">x</attribute></attributes>",
            "<attributes><other/></attributes>",
            "<attributes>",
        ];
        for xml in bad {
            assert!(matches!(Attributes::from_xml(xml), Err(StateError::InvalidAttributes { .. })), "{xml}");
        }
        let many: String = (0..=MAX_ATTRIBUTES).map(|i| format!("<attribute name=\"a{i}\">x</attribute>")).collect();
        assert!(matches!(
            Attributes::from_xml(&format!("<attributes>{many}</attributes>")),
            Err(StateError::TooManyAttributes { count: 101, max: MAX_ATTRIBUTES })
        ));
        let long = Attribute::string("a", &"x".repeat(MAX_ATTRIBUTE_VALUE_LEN + 1));
        assert!(matches!(Attributes::new(vec![long]), Err(StateError::InvalidAttributes { .. })));
    }
}
