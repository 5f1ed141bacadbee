//! A TOML document as a tree that remembers where each key and value came from.
//!
//! The `toml` crate's own `Value` forgets positions, and its map type only keeps document order
//! with the `preserve_order` feature (not enabled in this workspace). The parser underneath
//! (`toml_edit`) does keep both: it hands values out in document order and can attach a byte span
//! to every key and value through `toml::Spanned`. [`Node`] asks for exactly that, so every error
//! the config layer reports can name a line, and period lists and statistics keep the order the
//! author wrote them in.
//!
//! `toml::Spanned` and `toml::value::Datetime` are recognised by the deserializer through private
//! struct names. Rather than copying those names (they are an implementation detail of the `toml`
//! crate), [`magic`] asks the public `Deserialize` impls for them once, with a deserializer that
//! only records what it is asked for. Should that ever stop working, parsing still succeeds, only
//! without line numbers (and TOML datetimes are then reported as unsupported values).

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use std::cell::Cell;
use std::fmt;
use std::ops::Range;
use std::sync::OnceLock;

/// A value of the document with its byte span, when the parser knows it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Node {
    pub kind: Kind,
    pub span: Option<Range<usize>>,
}

/// The value itself.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Kind {
    String(String),
    Integer(i64),
    Float(f64),
    Boolean(bool),
    Datetime(toml::value::Datetime),
    Array(Vec<Node>),
    /// Entries in document order.
    Table(Vec<Entry>),
}

/// One `key = value` of a table (or one `[table]` header's key).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Entry {
    pub key: String,
    pub key_span: Option<Range<usize>>,
    pub value: Node,
}

impl Node {
    /// A short rendering of the value for error messages.
    pub fn describe(&self) -> String {
        let text = match &self.kind {
            Kind::String(s) => format!("{s:?}"),
            Kind::Integer(i) => i.to_string(),
            Kind::Float(f) => format!("{f:?}"),
            Kind::Boolean(b) => b.to_string(),
            Kind::Datetime(d) => d.to_string(),
            Kind::Array(_) => return "an array".to_string(),
            Kind::Table(_) => return "a table".to_string(),
        };
        truncate(&text, 60)
    }

    /// Converts to the `toml` crate's value type (for parts kept raw).
    pub fn to_toml(&self) -> toml::Value {
        match &self.kind {
            Kind::String(s) => toml::Value::String(s.clone()),
            Kind::Integer(i) => toml::Value::Integer(*i),
            Kind::Float(f) => toml::Value::Float(*f),
            Kind::Boolean(b) => toml::Value::Boolean(*b),
            Kind::Datetime(d) => toml::Value::Datetime(*d),
            Kind::Array(items) => toml::Value::Array(items.iter().map(Node::to_toml).collect()),
            Kind::Table(entries) => toml::Value::Table(
                entries
                    .iter()
                    .map(|e| (e.key.clone(), e.value.to_toml()))
                    .collect(),
            ),
        }
    }
}

pub(crate) fn truncate(text: &str, max_chars: usize) -> String {
    if text.chars().count() <= max_chars {
        text.to_string()
    } else {
        let mut out: String = text.chars().take(max_chars).collect();
        out.push('…');
        out
    }
}

/// Parses a TOML document into a [`Node`] tree (the root is always a table).
pub(crate) fn parse_document(text: &str) -> Result<Node, toml::de::Error> {
    let Plain(node) = toml::from_str::<Plain>(text)?;
    Ok(node)
}

/// Maps byte offsets to 1-based line and column numbers.
pub(crate) struct LineIndex {
    starts: Vec<usize>,
}

impl LineIndex {
    pub fn new(text: &str) -> LineIndex {
        let mut starts = vec![0];
        starts.extend(text.match_indices('\n').map(|(i, _)| i + 1));
        LineIndex { starts }
    }

    /// 1-based line of a byte offset.
    pub fn line(&self, offset: usize) -> usize {
        self.starts.partition_point(|&s| s <= offset)
    }

    /// 1-based (line, column) of a byte offset; the column counts characters.
    pub fn line_col(&self, text: &str, offset: usize) -> (usize, usize) {
        let line = self.line(offset);
        let start = self.starts[line - 1];
        let offset = offset.min(text.len());
        let column = text
            .get(start..offset)
            .map(|s| s.chars().count())
            .unwrap_or(0)
            + 1;
        (line, column)
    }
}

/// The private names through which `toml` recognises spans and datetimes.
struct Magic {
    spanned_name: &'static str,
    spanned_fields: &'static [&'static str],
    datetime_field: Option<&'static str>,
}

fn magic() -> Option<&'static Magic> {
    static MAGIC: OnceLock<Option<Magic>> = OnceLock::new();
    MAGIC
        .get_or_init(|| {
            let (spanned_name, spanned_fields) =
                capture_struct_request(|d| toml::Spanned::<bool>::deserialize(d).map(|_| ()))?;
            if spanned_fields.len() != 3 {
                return None;
            }
            let datetime_field =
                capture_struct_request(|d| toml::value::Datetime::deserialize(d).map(|_| ()))
                    .and_then(|(_, fields)| fields.first().copied());
            Some(Magic {
                spanned_name,
                spanned_fields,
                datetime_field,
            })
        })
        .as_ref()
}

type StructRequest = (&'static str, &'static [&'static str]);

/// Runs a `Deserialize` impl against a deserializer that records the `deserialize_struct`
/// request it receives (and fails it).
fn capture_struct_request(
    run: impl FnOnce(Recorder<'_>) -> Result<(), de::value::Error>,
) -> Option<StructRequest> {
    let seen = Cell::new(None);
    let _ = run(Recorder(&seen));
    seen.get()
}

struct Recorder<'a>(&'a Cell<Option<StructRequest>>);

impl<'de> Deserializer<'de> for Recorder<'_> {
    type Error = de::value::Error;

    fn deserialize_any<V: Visitor<'de>>(self, _visitor: V) -> Result<V::Value, Self::Error> {
        Err(de::Error::custom("recording only"))
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        fields: &'static [&'static str],
        _visitor: V,
    ) -> Result<V::Value, Self::Error> {
        self.0.set(Some((name, fields)));
        Err(de::Error::custom("recording only"))
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string
        bytes byte_buf option unit unit_struct newtype_struct seq tuple
        tuple_struct map enum identifier ignored_any
    }
}

/// A node deserialized without asking for its span (used for the root and for the value
/// inside a span wrapper).
struct Plain(Node);

impl<'de> Deserialize<'de> for Plain {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(NodeVisitor).map(Plain)
    }
}

impl<'de> Deserialize<'de> for Node {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        match magic() {
            Some(m) => {
                deserializer.deserialize_struct(m.spanned_name, m.spanned_fields, NodeVisitor)
            }
            None => deserializer.deserialize_any(NodeVisitor),
        }
    }
}

struct NodeVisitor;

fn node(kind: Kind) -> Node {
    Node { kind, span: None }
}

impl<'de> Visitor<'de> for NodeVisitor {
    type Value = Node;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a TOML value")
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Node, E> {
        Ok(node(Kind::Boolean(v)))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Node, E> {
        Ok(node(Kind::Integer(v)))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Node, E> {
        i64::try_from(v)
            .map(|v| node(Kind::Integer(v)))
            .map_err(|_| E::custom(format!("integer {v} is out of range")))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Node, E> {
        Ok(node(Kind::Float(v)))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Node, E> {
        Ok(node(Kind::String(v.to_string())))
    }

    fn visit_string<E: de::Error>(self, v: String) -> Result<Node, E> {
        Ok(node(Kind::String(v)))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Node, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element::<Node>()? {
            items.push(item);
        }
        Ok(node(Kind::Array(items)))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Node, A::Error> {
        let Some(first) = map.next_key::<Key>()? else {
            return Ok(node(Kind::Table(Vec::new())));
        };
        if let Some(m) = magic() {
            if first.name == m.spanned_fields[0] {
                return read_spanned(first, map, m);
            }
            if Some(first.name.as_str()) == m.datetime_field {
                let text: String = map.next_value()?;
                let datetime = text
                    .parse::<toml::value::Datetime>()
                    .map_err(|e| de::Error::custom(format!("invalid date/time {text:?}: {e}")))?;
                return Ok(node(Kind::Datetime(datetime)));
            }
        }
        let mut entries = Vec::new();
        let mut key = Some(first);
        while let Some(k) = key {
            let value = map.next_value::<Node>()?;
            entries.push(Entry {
                key: k.name,
                key_span: k.span,
                value,
            });
            key = map.next_key::<Key>()?;
        }
        Ok(node(Kind::Table(entries)))
    }
}

/// Reads the `start`, `end`, `value` triple of a span wrapper (its first key already read).
fn read_spanned<'de, A: MapAccess<'de>>(
    first: Key,
    mut map: A,
    m: &Magic,
) -> Result<Node, A::Error> {
    let mut start: Option<usize> = None;
    let mut end: Option<usize> = None;
    let mut value: Option<Node> = None;
    let mut key = Some(first);
    while let Some(k) = key {
        if k.name == m.spanned_fields[0] {
            start = Some(map.next_value()?);
        } else if k.name == m.spanned_fields[1] {
            end = Some(map.next_value()?);
        } else if k.name == m.spanned_fields[2] {
            let Plain(v) = map.next_value()?;
            value = Some(v);
        } else {
            return Err(de::Error::custom(format!(
                "unexpected key {:?} in a spanned value",
                k.name
            )));
        }
        key = map.next_key::<Key>()?;
    }
    let mut value = value.ok_or_else(|| de::Error::custom("spanned value without a value"))?;
    if let (Some(start), Some(end)) = (start, end) {
        value.span = Some(start..end);
    }
    Ok(value)
}

/// A table key with its span, when known.
struct Key {
    name: String,
    span: Option<Range<usize>>,
}

impl<'de> Deserialize<'de> for Key {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        match magic() {
            Some(m) => {
                deserializer.deserialize_struct(m.spanned_name, m.spanned_fields, KeyVisitor)
            }
            None => deserializer.deserialize_any(KeyVisitor),
        }
    }
}

struct KeyVisitor;

impl<'de> Visitor<'de> for KeyVisitor {
    type Value = Key;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a table key")
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Key, E> {
        Ok(Key {
            name: v.to_string(),
            span: None,
        })
    }

    fn visit_string<E: de::Error>(self, v: String) -> Result<Key, E> {
        Ok(Key {
            name: v,
            span: None,
        })
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Key, A::Error> {
        let Some(m) = magic() else {
            return Err(de::Error::custom("unexpected map as a table key"));
        };
        let mut start: Option<usize> = None;
        let mut end: Option<usize> = None;
        let mut name: Option<String> = None;
        while let Some(k) = map.next_key::<String>()? {
            if k == m.spanned_fields[0] {
                start = Some(map.next_value()?);
            } else if k == m.spanned_fields[1] {
                end = Some(map.next_value()?);
            } else if k == m.spanned_fields[2] {
                name = Some(map.next_value()?);
            } else {
                return Err(de::Error::custom(format!(
                    "unexpected key {k:?} in a table key"
                )));
            }
        }
        let name = name.ok_or_else(|| de::Error::custom("spanned key without a name"))?;
        let span = match (start, end) {
            (Some(s), Some(e)) => Some(s..e),
            _ => None,
        };
        Ok(Key { name, span })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(text: &str, span: &Option<Range<usize>>) -> Option<usize> {
        span.as_ref().map(|s| LineIndex::new(text).line(s.start))
    }

    fn get<'a>(n: &'a Node, key: &str) -> &'a Entry {
        match &n.kind {
            Kind::Table(entries) => entries.iter().find(|e| e.key == key).unwrap(),
            other => panic!("not a table: {other:?}"),
        }
    }

    #[test]
    fn keeps_document_order_spans_and_datetimes() {
        let text = "[metrics]\nweekly = [\"b\", \"a\"]\ndaily = [\"c\"]\n\n[metrics.z.statistics.zeta]\n[metrics.z.statistics.alpha]\nx = 1\n\n[experiment]\nstart_date = 2024-01-02\nend_date = \"2024-02-01\"\n";
        let root = parse_document(text).unwrap();
        let metrics = &get(&root, "metrics").value;
        let keys: Vec<_> = match &metrics.kind {
            Kind::Table(e) => e.iter().map(|e| e.key.as_str()).collect(),
            _ => panic!(),
        };
        assert_eq!(keys, ["weekly", "daily", "z"]);
        let weekly = get(metrics, "weekly");
        assert_eq!(line(text, &weekly.value.span), Some(2));
        assert_eq!(line(text, &weekly.key_span), Some(2));
        let daily = get(metrics, "daily");
        assert_eq!(line(text, &daily.value.span), Some(3));
        let stats = &get(&get(metrics, "z").value, "statistics").value;
        let names: Vec<_> = match &stats.kind {
            Kind::Table(e) => e.iter().map(|e| e.key.as_str()).collect(),
            _ => panic!(),
        };
        assert_eq!(names, ["zeta", "alpha"]);
        let alpha = get(stats, "alpha");
        assert_eq!(line(text, &alpha.key_span), Some(6));
        let x = get(&alpha.value, "x");
        assert_eq!(x.value.kind, Kind::Integer(1));
        assert_eq!(line(text, &x.value.span), Some(7));
        let experiment = &get(&root, "experiment").value;
        let start = get(experiment, "start_date");
        assert!(matches!(start.value.kind, Kind::Datetime(_)));
        assert_eq!(line(text, &start.value.span), Some(10));
        let weekly_items = match &weekly.value.kind {
            Kind::Array(items) => items,
            _ => panic!(),
        };
        assert_eq!(weekly_items[1].kind, Kind::String("a".into()));
        assert!(weekly_items[1].span.is_some());
    }

    #[test]
    fn table_spans() {
        let text = "a = 1\n\n[experiment.exposure_signal]\nname = \"x\"\n";
        let root = parse_document(text).unwrap();
        let experiment = get(&root, "experiment");
        // An implicit table has no span of its own, only its key in the header.
        assert_eq!(experiment.value.span, None);
        assert_eq!(line(text, &experiment.key_span), Some(3));
        let signal = get(&experiment.value, "exposure_signal");
        assert_eq!(line(text, &signal.key_span), Some(3));
        assert_eq!(line(text, &signal.value.span), Some(3));
    }

    #[test]
    fn line_columns() {
        let text = "ab\ncd\n";
        let idx = LineIndex::new(text);
        assert_eq!(idx.line_col(text, 0), (1, 1));
        assert_eq!(idx.line_col(text, 4), (2, 2));
        assert_eq!(idx.line(6), 3);
    }
}
