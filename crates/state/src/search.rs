//! Record search with the semantics of Windows' `peersearch` queries:
//!
//! ```xml
//! <peersearch>
//!   <and>
//!     <clause attrib="author" type="string" compare="equal">J*n\*</clause>
//!     <or>
//!       <clause attrib="size" type="int" compare="greater">10</clause>
//!       <clause attrib="peercreationtime" type="date" compare="less">2024-01-01</clause>
//!     </or>
//!   </and>
//! </peersearch>
//! ```
//!
//! `<peersearch>` holds exactly one `clause`, `and` or `or`; `and`/`or` hold one or more of
//! them. `compare` is `equal` (default), `notequal`, `less`, `greater`, `lessorequal` or
//! `greaterorequal`. In string values `*` matches any run of characters and `?` one
//! character, with `\*`, `\?` and `\\` for the characters themselves; any other backslash is
//! invalid, and wildcards are only meaningful with `equal` and `notequal`. Strings compare
//! byte by byte (UTF-8), case-sensitively. A clause matches a record that has the attribute
//! with that type and a value that compares as asked; a record without the attribute matches
//! no clause on it (not even `notequal`).
//!
//! Parsing ([`SearchQuery::parse`]) is a pure function. Each clause on a record's own attribute
//! becomes an indexed lookup in the `attributes` table (`name`, value); a clause on a reserved
//! attribute (`peercreatorid`, ...) is a condition on a column of `records`, checked on the
//! rows the other clauses leave (alone, it reads every row's columns, never a record body).
//! [`SearchQuery::matches`] is the same semantics evaluated on one record, for tests and for
//! records not in a database.

use std::cmp::Ordering;

use rusqlite::types::Value;

use crate::attributes::{AttributeType, AttributeValue, check_name};
use crate::error::{Result, StateError};
use crate::record::Record;
use crate::time::Timestamp;
use crate::xml::{self, Element};

/// A comparison.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Compare {
    /// `equal`
    Equal,
    /// `notequal`
    NotEqual,
    /// `less`
    Less,
    /// `greater`
    Greater,
    /// `lessorequal`
    LessOrEqual,
    /// `greaterorequal`
    GreaterOrEqual,
}

impl Compare {
    fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "equal" => Self::Equal,
            "notequal" => Self::NotEqual,
            "less" => Self::Less,
            "greater" => Self::Greater,
            "lessorequal" => Self::LessOrEqual,
            "greaterorequal" => Self::GreaterOrEqual,
            _ => return None,
        })
    }

    fn sql(self) -> &'static str {
        match self {
            Self::Equal => "=",
            Self::NotEqual => "!=",
            Self::Less => "<",
            Self::Greater => ">",
            Self::LessOrEqual => "<=",
            Self::GreaterOrEqual => ">=",
        }
    }

    fn holds(self, ord: Ordering) -> bool {
        match self {
            Self::Equal => ord == Ordering::Equal,
            Self::NotEqual => ord != Ordering::Equal,
            Self::Less => ord == Ordering::Less,
            Self::Greater => ord == Ordering::Greater,
            Self::LessOrEqual => ord != Ordering::Greater,
            Self::GreaterOrEqual => ord != Ordering::Less,
        }
    }
}

/// One piece of a string pattern.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum PatternPart {
    /// Characters matched as they are.
    Literal(String),
    /// `*`: any run of characters.
    Any,
    /// `?`: exactly one character.
    One,
}

/// The value a clause compares with.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum ClauseValue {
    /// A string without wildcards.
    String(String),
    /// A string pattern with at least one wildcard (only with `equal`/`notequal`).
    Pattern(Vec<PatternPart>),
    /// An integer.
    Int(i64),
    /// A date.
    Date(Timestamp),
}

/// A parsed query.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum SearchQuery {
    /// Every child matches.
    And(Vec<SearchQuery>),
    /// Some child matches.
    Or(Vec<SearchQuery>),
    /// The record has attribute `attrib` whose value compares with `value` as asked.
    Clause {
        /// The attribute name.
        attrib: String,
        /// The comparison.
        compare: Compare,
        /// The value.
        value: ClauseValue,
    },
}

fn invalid(reason: impl Into<String>) -> StateError {
    StateError::InvalidSearch { reason: reason.into() }
}

/// Splits a string value into literal runs and wildcards, resolving escapes.
fn parse_pattern(text: &str) -> Result<Vec<PatternPart>> {
    let mut parts = Vec::new();
    let mut lit = String::new();
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => match chars.next() {
                Some(e @ ('*' | '?' | '\\')) => lit.push(e),
                Some(other) => return Err(invalid(format!("invalid escape \\{other} in {text:?}"))),
                None => return Err(invalid(format!("trailing backslash in {text:?}"))),
            },
            '*' | '?' => {
                if !lit.is_empty() {
                    parts.push(PatternPart::Literal(std::mem::take(&mut lit)));
                }
                parts.push(if c == '*' { PatternPart::Any } else { PatternPart::One });
            }
            c => lit.push(c),
        }
    }
    if !lit.is_empty() {
        parts.push(PatternPart::Literal(lit));
    }
    Ok(parts)
}

impl SearchQuery {
    /// Parses a `peersearch` document. Anything outside the grammar is
    /// [`StateError::InvalidSearch`].
    pub fn parse(text: &str) -> Result<Self> {
        let root = xml::parse(text).map_err(invalid)?;
        if root.name != "peersearch" {
            return Err(invalid(format!("root element is <{}>, not <peersearch>", root.name)));
        }
        if !root.attrs.is_empty() || root.has_text() {
            return Err(invalid("<peersearch> takes no attributes and no text"));
        }
        match root.children.as_slice() {
            [only] => Self::node(only),
            [] => Err(invalid("<peersearch> is empty")),
            _ => Err(invalid("<peersearch> must hold exactly one clause, and or or")),
        }
    }

    fn node(el: &Element) -> Result<Self> {
        match el.name.as_str() {
            "and" | "or" => {
                if !el.attrs.is_empty() || el.has_text() {
                    return Err(invalid(format!("<{}> takes no attributes and no text", el.name)));
                }
                if el.children.is_empty() {
                    return Err(invalid(format!("<{}> needs at least one child", el.name)));
                }
                let children = el.children.iter().map(Self::node).collect::<Result<Vec<_>>>()?;
                Ok(if el.name == "and" { Self::And(children) } else { Self::Or(children) })
            }
            "clause" => Self::clause(el),
            other => Err(invalid(format!("unexpected element <{other}>"))),
        }
    }

    fn clause(el: &Element) -> Result<Self> {
        if !el.children.is_empty() {
            return Err(invalid("<clause> holds elements"));
        }
        if let Some((name, _)) = el.attrs.iter().find(|(n, _)| !matches!(n.as_str(), "attrib" | "type" | "compare")) {
            return Err(invalid(format!("unexpected XML attribute {name} on <clause>")));
        }
        let attrib = el.attr("attrib").ok_or_else(|| invalid("<clause> without attrib"))?;
        check_name(attrib).map_err(|e| invalid(e.to_string()))?;
        let kind_text = el.attr("type").ok_or_else(|| invalid("<clause> without type"))?;
        let kind = AttributeType::parse(kind_text).ok_or_else(|| invalid(format!("unknown type {kind_text:?}")))?;
        let compare_text = el.attr("compare").unwrap_or("equal");
        let compare =
            Compare::parse(compare_text).ok_or_else(|| invalid(format!("unknown compare {compare_text:?}")))?;
        let text = el.text.as_str();
        let value = match kind {
            AttributeType::String => {
                let parts = parse_pattern(text)?;
                let wild = parts.iter().any(|p| !matches!(p, PatternPart::Literal(_)));
                if !wild {
                    let lit = parts
                        .into_iter()
                        .map(|p| match p {
                            PatternPart::Literal(s) => s,
                            _ => String::new(),
                        })
                        .collect();
                    ClauseValue::String(lit)
                } else if matches!(compare, Compare::Equal | Compare::NotEqual) {
                    ClauseValue::Pattern(parts)
                } else {
                    return Err(invalid(format!("wildcards cannot be used with compare=\"{compare_text}\"")));
                }
            }
            AttributeType::Int => ClauseValue::Int(
                text.trim().parse().map_err(|_| invalid(format!("{text:?} is not an int for {attrib}")))?,
            ),
            AttributeType::Date => ClauseValue::Date(
                Timestamp::parse_w3c(text.trim())
                    .ok_or_else(|| invalid(format!("{text:?} is not a W3C date for {attrib}")))?,
            ),
        };
        Ok(Self::Clause { attrib: attrib.to_owned(), compare, value })
    }

    /// The SQL condition on `records` (use with `rowid`) and its parameters, numbered from 1.
    pub fn to_sql(&self) -> (String, Vec<Value>) {
        let mut sql = String::new();
        let mut values = Vec::new();
        self.write_sql(&mut sql, &mut values);
        (sql, values)
    }

    fn write_sql(&self, sql: &mut String, values: &mut Vec<Value>) {
        match self {
            Self::And(children) | Self::Or(children) => {
                let op = if matches!(self, Self::And(_)) { " AND " } else { " OR " };
                sql.push('(');
                for (i, c) in children.iter().enumerate() {
                    if i > 0 {
                        sql.push_str(op);
                    }
                    c.write_sql(sql, values);
                }
                sql.push(')');
            }
            Self::Clause { attrib, compare, value } => match reserved_column(attrib) {
                Some((column, kind)) => write_reserved_clause(sql, values, column, kind, *compare, value),
                None => write_attribute_clause(sql, values, attrib, *compare, value),
            },
        }
    }

    /// Evaluates the query on one record (reserved attributes included), without a database.
    pub fn matches(&self, record: &Record) -> bool {
        match self {
            Self::And(children) => children.iter().all(|c| c.matches(record)),
            Self::Or(children) => children.iter().any(|c| c.matches(record)),
            Self::Clause { attrib, compare, value } => {
                let Some((_, attr)) = indexed_attributes(record).into_iter().find(|(n, _)| n == attrib) else {
                    return false;
                };
                match (value, &attr) {
                    (ClauseValue::String(want), AttributeValue::String(have)) => {
                        compare.holds(have.as_bytes().cmp(want.as_bytes()))
                    }
                    (ClauseValue::Pattern(parts), AttributeValue::String(have)) => {
                        let m = wildcard_match(parts, have);
                        if *compare == Compare::NotEqual { !m } else { m }
                    }
                    (ClauseValue::Int(want), AttributeValue::Int(have)) => compare.holds(have.cmp(want)),
                    (ClauseValue::Date(want), AttributeValue::Date(have)) => compare.holds(have.cmp(want)),
                    _ => false,
                }
            }
        }
    }
}

/// A clause on a reserved attribute: a condition on its `records` column.
fn write_reserved_clause(
    sql: &mut String,
    values: &mut Vec<Value>,
    column: &str,
    kind: AttributeType,
    compare: Compare,
    value: &ClauseValue,
) {
    let condition = match (value, kind) {
        (ClauseValue::String(s), AttributeType::String) => {
            values.push(Value::Text(s.clone()));
            format!("{column} {} ?{}", compare.sql(), values.len())
        }
        (ClauseValue::Pattern(parts), AttributeType::String) => {
            values.push(Value::Text(glob(parts)));
            let not = if compare == Compare::NotEqual { "NOT " } else { "" };
            format!("{not}{column} GLOB ?{}", values.len())
        }
        (ClauseValue::Date(t), AttributeType::Date) => {
            values.push(Value::Integer(t.as_micros()));
            format!("{column} {} ?{}", compare.sql(), values.len())
        }
        // The reserved attribute has another type: nothing matches.
        _ => "0".to_owned(),
    };
    sql.push('(');
    sql.push_str(&condition);
    sql.push(')');
}

/// A clause on a record's own attribute: a lookup in the `attributes` index.
fn write_attribute_clause(
    sql: &mut String,
    values: &mut Vec<Value>,
    attrib: &str,
    compare: Compare,
    value: &ClauseValue,
) {
    values.push(Value::Text(attrib.to_owned()));
    let name_param = values.len();
    // `kind` keeps the value types apart (crate::db::attribute_sql_value).
    let (kind, condition) = match value {
        ClauseValue::String(s) => {
            values.push(Value::Text(s.clone()));
            (AttributeType::String, format!("value {} ?{}", compare.sql(), values.len()))
        }
        ClauseValue::Pattern(parts) => {
            values.push(Value::Text(glob(parts)));
            let not = if compare == Compare::NotEqual { "NOT " } else { "" };
            (AttributeType::String, format!("{not}value GLOB ?{}", values.len()))
        }
        ClauseValue::Int(i) => {
            values.push(Value::Integer(*i));
            (AttributeType::Int, format!("value {} ?{}", compare.sql(), values.len()))
        }
        ClauseValue::Date(t) => {
            values.push(Value::Integer(t.as_micros()));
            (AttributeType::Date, format!("value {} ?{}", compare.sql(), values.len()))
        }
    };
    sql.push_str(&format!(
        "rowid IN (SELECT record FROM attributes WHERE name = ?{name_param} AND kind = {} AND {condition})",
        kind.code()
    ));
}

/// The SQL expression on `records` that gives a reserved attribute, and its type.
fn reserved_column(name: &str) -> Option<(&'static str, AttributeType)> {
    // The braced lowercase form of a 16-byte UUID column, as `Uuid::braced` writes it.
    const ID: &str = "('{' || lower(hex(substr(id, 1, 4))) || '-' || lower(hex(substr(id, 5, 2))) || '-' || \
        lower(hex(substr(id, 7, 2))) || '-' || lower(hex(substr(id, 9, 2))) || '-' || lower(hex(substr(id, 11, 6))) || '}')";
    const TYPE: &str = "('{' || lower(hex(substr(type, 1, 4))) || '-' || lower(hex(substr(type, 5, 2))) || '-' || \
        lower(hex(substr(type, 7, 2))) || '-' || lower(hex(substr(type, 9, 2))) || '-' || lower(hex(substr(type, 11, 6))) || '}')";
    Some(match name {
        "peerrecordid" => (ID, AttributeType::String),
        "peerrecordtype" => (TYPE, AttributeType::String),
        "peercreatorid" => ("creator", AttributeType::String),
        "peerlastmodifiedby" => ("modifier", AttributeType::String),
        "peercreationtime" => ("created", AttributeType::Date),
        "peerlastmodificationtime" => ("modified", AttributeType::Date),
        _ => return None,
    })
}

/// A SQLite GLOB pattern for the parts (`[` is GLOB's only other special character here;
/// literal `*`, `?` and `[` become one-character classes).
fn glob(parts: &[PatternPart]) -> String {
    let mut out = String::new();
    for p in parts {
        match p {
            PatternPart::Any => out.push('*'),
            PatternPart::One => out.push('?'),
            PatternPart::Literal(s) => {
                for c in s.chars() {
                    match c {
                        '*' => out.push_str("[*]"),
                        '?' => out.push_str("[?]"),
                        '[' => out.push_str("[[]"),
                        c => out.push(c),
                    }
                }
            }
        }
    }
    out
}

/// Matches `text` against the parts, character by character (as GLOB does).
fn wildcard_match(parts: &[PatternPart], text: &str) -> bool {
    // Expand to a character-level pattern and run the classic backtracking matcher.
    enum P {
        Char(char),
        Any,
        One,
    }
    let mut pat = Vec::new();
    for p in parts {
        match p {
            PatternPart::Any => pat.push(P::Any),
            PatternPart::One => pat.push(P::One),
            PatternPart::Literal(s) => pat.extend(s.chars().map(P::Char)),
        }
    }
    let text: Vec<char> = text.chars().collect();
    let (mut ti, mut pi) = (0usize, 0usize);
    let mut star: Option<(usize, usize)> = None;
    while ti < text.len() {
        match pat.get(pi) {
            Some(P::Any) => {
                star = Some((pi, ti));
                pi += 1;
            }
            Some(P::One) => {
                pi += 1;
                ti += 1;
            }
            Some(P::Char(c)) if *c == text[ti] => {
                pi += 1;
                ti += 1;
            }
            _ => match star {
                Some((sp, st)) => {
                    pi = sp + 1;
                    ti = st + 1;
                    star = Some((sp, st + 1));
                }
                None => return false,
            },
        }
    }
    pat[pi..].iter().all(|p| matches!(p, P::Any))
}

/// The attributes a record is searchable by: its own plus the reserved ones
/// (`peerrecordid` and `peerrecordtype` as braced lowercase UUID strings, `peercreatorid` and
/// `peerlastmodifiedby` as peer names, `peercreationtime` and `peerlastmodificationtime` as
/// dates).
pub fn indexed_attributes(record: &Record) -> Vec<(String, AttributeValue)> {
    let mut out: Vec<(String, AttributeValue)> =
        record.attributes.iter().map(|a| (a.name.clone(), a.value.clone())).collect();
    let s = |v: String| AttributeValue::String(v);
    out.push(("peerrecordid".into(), s(record.id.braced().to_string())));
    out.push(("peerrecordtype".into(), s(record.record_type.braced().to_string())));
    out.push(("peercreatorid".into(), s(record.creator.to_string())));
    out.push(("peerlastmodifiedby".into(), s(record.modifier.to_string())));
    out.push(("peercreationtime".into(), AttributeValue::Date(record.created)));
    out.push(("peerlastmodificationtime".into(), AttributeValue::Date(record.modified)));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grammar() {
        let q = SearchQuery::parse(
            r#"<peersearch><and><clause attrib="a" type="string">x*y\*</clause>
               <or><clause attrib="n" type="int" compare="greater"> 5 </clause></or></and></peersearch>"#,
        )
        .unwrap();
        let SearchQuery::And(children) = &q else { panic!("{q:?}") };
        assert_eq!(
            children[0],
            SearchQuery::Clause {
                attrib: "a".into(),
                compare: Compare::Equal,
                value: ClauseValue::Pattern(vec![
                    PatternPart::Literal("x".into()),
                    PatternPart::Any,
                    PatternPart::Literal("y*".into())
                ])
            }
        );
        let bad = [
            "<peersearch/>",
            "<search><clause attrib=\"a\" type=\"int\">1</clause></search>",
            "<peersearch><and/></peersearch>",
            "<peersearch><clause attrib=\"a\" type=\"int\">1</clause><clause attrib=\"a\" type=\"int\">1</clause></peersearch>",
            "<peersearch><clause attrib=\"a\" type=\"int\">x</clause></peersearch>",
            "<peersearch><clause attrib=\"a\" type=\"float\">1</clause></peersearch>",
            "<peersearch><clause attrib=\"a\" type=\"string\" compare=\"like\">1</clause></peersearch>",
            "<peersearch><clause attrib=\"a\" type=\"string\">\\n</clause></peersearch>",
            "<peersearch><clause attrib=\"a\" type=\"string\" compare=\"less\">a*</clause></peersearch>",
            "<peersearch><clause type=\"string\">a</clause></peersearch>",
            "<peersearch><clause attrib=\"a-b\" type=\"string\">a</clause></peersearch>",
            "<peersearch><not/></peersearch>",
            "<peersearch>",
        ];
        for b in bad {
            assert!(matches!(SearchQuery::parse(b), Err(StateError::InvalidSearch { .. })), "{b}");
        }
    }

    #[test]
    fn wildcards() {
        let m = |p: &str, t: &str| wildcard_match(&parse_pattern(p).unwrap(), t);
        assert!(m("*", ""));
        assert!(m("a*c", "abbbc"));
        assert!(m("a?c", "abc"));
        assert!(!m("a?c", "ac"));
        assert!(m("\\*", "*"));
        assert!(!m("\\*", "x"));
        assert!(m("*a*a", "banana"));
        assert!(m("é?", "éé"));
        assert_eq!(glob(&parse_pattern("a[\\*?").unwrap()), "a[[][*]?");
    }
}
