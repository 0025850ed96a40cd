//! The XML underneath the SOAP client: a writer that emits namespace-qualified elements in
//! the order the caller gives (the WSDL's sequences), and a small namespace-aware tree reader
//! for responses (quick-xml underneath; any prefix accepted).

use std::fmt::{Display, Write as _};

use quick_xml::NsReader;
use quick_xml::escape::escape;
use quick_xml::events::Event;
use quick_xml::name::ResolveResult;

/// Target namespace of MplusQAPI (`elementFormDefault="qualified"`).
pub const NS: &str = "urn:mplusqapi";
/// SOAP 1.1 envelope namespace.
pub const SOAP_ENV: &str = "http://schemas.xmlsoap.org/soap/envelope/";
/// Prefix the writer binds to [`NS`].
const PREFIX: &str = "m";

/// Writes the body of a request: every element in the `urn:mplusqapi` namespace.
#[derive(Debug, Default)]
pub struct Writer {
    out: String,
}

impl Writer {
    /// An empty writer.
    pub fn new() -> Self {
        Self {
            out: String::with_capacity(512),
        }
    }

    /// `<m:name>`.
    pub fn open(&mut self, name: &str) {
        let _ = write!(self.out, "<{PREFIX}:{name}>");
    }

    /// `</m:name>`.
    pub fn close(&mut self, name: &str) {
        let _ = write!(self.out, "</{PREFIX}:{name}>");
    }

    /// An element with children written by `body`.
    pub fn elem(&mut self, name: &str, body: impl FnOnce(&mut Writer)) {
        self.open(name);
        body(self);
        self.close(name);
    }

    /// `<m:name/>`.
    pub fn empty(&mut self, name: &str) {
        let _ = write!(self.out, "<{PREFIX}:{name}/>");
    }

    /// A simple element; the value is escaped.
    pub fn leaf(&mut self, name: &str, value: impl Display) {
        self.open(name);
        let text = value.to_string();
        self.out.push_str(&escape(text.as_str()));
        self.close(name);
    }

    /// A simple element when `value` is present.
    pub fn opt<T: Display>(&mut self, name: &str, value: Option<T>) {
        if let Some(v) = value {
            self.leaf(name, v);
        }
    }

    /// A string element when `value` is present and not empty.
    pub fn opt_str(&mut self, name: &str, value: Option<&str>) {
        if let Some(v) = value.filter(|v| !v.is_empty()) {
            self.leaf(name, v);
        }
    }

    /// The written XML.
    pub fn finish(self) -> String {
        self.out
    }
}

/// Opening of a request envelope (the body element follows).
pub fn envelope_start() -> String {
    format!(
        r#"<?xml version="1.0" encoding="UTF-8"?><soapenv:Envelope xmlns:soapenv="{SOAP_ENV}" xmlns:{PREFIX}="{NS}"><soapenv:Body>"#
    )
}

/// Closing of a request envelope.
pub const ENVELOPE_END: &str = "</soapenv:Body></soapenv:Envelope>";

/// Why a response could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum XmlError {
    /// Not well-formed XML.
    #[error("malformed XML: {0}")]
    Syntax(String),
    /// Well-formed, but not what the schema says (a missing element, a bad number).
    #[error("unexpected content: {0}")]
    Content(String),
}

/// One element of a response: namespace (when bound), local name, children and text.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Node {
    /// Namespace URI.
    pub ns: Option<String>,
    /// Local name.
    pub name: String,
    /// Child elements in document order.
    pub children: Vec<Node>,
    /// The element's own text (concatenated).
    pub text: String,
}

/// Parses a whole document into its root element.
pub fn parse(input: &str) -> Result<Node, XmlError> {
    let input = input.trim_start_matches('\u{feff}');
    let mut reader = NsReader::from_str(input);
    reader.config_mut().check_end_names = true;
    let mut open: Vec<Node> = Vec::new();
    let mut done: Option<Node> = None;
    loop {
        let (bound, event) = reader
            .read_resolved_event()
            .map_err(|e| XmlError::Syntax(e.to_string()))?;
        let ns = match bound {
            ResolveResult::Bound(ns) => Some(ns.as_ref().to_owned()),
            ResolveResult::Unbound => None,
            ResolveResult::Unknown(p) => {
                return Err(XmlError::Syntax(format!("unbound prefix `{p}`")));
            }
        };
        let element = |name: &str| Node {
            ns: ns.clone(),
            name: name.to_owned(),
            ..Node::default()
        };
        match event {
            Event::Start(s) => open.push(element(s.local_name().as_ref())),
            Event::Empty(s) => close_into(&mut open, &mut done, element(s.local_name().as_ref()))?,
            Event::End(_) => {
                let node = open
                    .pop()
                    .ok_or_else(|| XmlError::Syntax("end tag without start".into()))?;
                close_into(&mut open, &mut done, node)?;
            }
            Event::Text(t) => {
                add_text(&mut open, &t.xml10_content())?;
            }
            Event::CData(c) => {
                add_text(&mut open, &c.xml10_content())?;
            }
            Event::GeneralRef(r) => {
                let value = if r.is_char_ref() {
                    r.resolve_char_ref()
                        .map_err(|e| XmlError::Syntax(e.to_string()))?
                        .map(String::from)
                } else {
                    predefined_entity(r.as_ref()).map(str::to_owned)
                };
                let value = value
                    .ok_or_else(|| XmlError::Syntax(format!("unknown entity &{};", r.as_ref())))?;
                add_text(&mut open, &value)?;
            }
            Event::DocType(_) => return Err(XmlError::Syntax("DTDs are refused".into())),
            Event::Decl(_) | Event::PI(_) | Event::Comment(_) => {}
            Event::Eof => break,
        }
    }
    if !open.is_empty() {
        return Err(XmlError::Syntax("document ends inside an element".into()));
    }
    done.ok_or_else(|| XmlError::Syntax("empty document".into()))
}

fn predefined_entity(name: &str) -> Option<&'static str> {
    Some(match name {
        "lt" => "<",
        "gt" => ">",
        "amp" => "&",
        "apos" => "'",
        "quot" => "\"",
        _ => return None,
    })
}

fn close_into(open: &mut [Node], done: &mut Option<Node>, node: Node) -> Result<(), XmlError> {
    match open.last_mut() {
        Some(parent) => parent.children.push(node),
        None if done.is_some() => return Err(XmlError::Syntax("two root elements".into())),
        None => *done = Some(node),
    }
    Ok(())
}

fn add_text(open: &mut [Node], text: &str) -> Result<(), XmlError> {
    match open.last_mut() {
        Some(node) => node.text.push_str(text),
        None if text.trim().is_empty() => {}
        None => return Err(XmlError::Syntax("text outside the root element".into())),
    }
    Ok(())
}

impl Node {
    /// Whether this is `{ns}name`.
    pub fn is(&self, ns: &str, name: &str) -> bool {
        self.name == name && self.ns.as_deref() == Some(ns)
    }

    /// The first child called `name`.
    pub fn child(&self, name: &str) -> Option<&Node> {
        self.children.iter().find(|c| c.name == name)
    }

    /// Every child called `name`.
    pub fn all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a Node> + 'a {
        self.children.iter().filter(move |c| c.name == name)
    }

    /// The first child called `name`, or an error naming it.
    pub fn required(&self, name: &str) -> Result<&Node, XmlError> {
        self.child(name)
            .ok_or_else(|| XmlError::Content(format!("<{}> has no <{name}> element", self.name)))
    }

    /// The trimmed text of child `name`, when present.
    pub fn str(&self, name: &str) -> Option<&str> {
        self.child(name).map(|c| c.text.trim())
    }

    /// The text of child `name`, empty when absent.
    pub fn string(&self, name: &str) -> String {
        self.str(name).unwrap_or_default().to_owned()
    }

    /// Child `name` as a number, when present.
    pub fn num<T: std::str::FromStr>(&self, name: &str) -> Result<Option<T>, XmlError> {
        match self.str(name) {
            None | Some("") => Ok(None),
            Some(v) => v
                .parse()
                .map(Some)
                .map_err(|_| XmlError::Content(format!("<{name}> is not a number: {v:?}"))),
        }
    }

    /// Child `name` as a number, or an error.
    pub fn required_num<T: std::str::FromStr>(&self, name: &str) -> Result<T, XmlError> {
        self.num(name)?
            .ok_or_else(|| XmlError::Content(format!("<{}> has no <{name}> element", self.name)))
    }

    /// Every child `name` as numbers.
    pub fn nums<T: std::str::FromStr>(&self, name: &str) -> Result<Vec<T>, XmlError> {
        self.all(name)
            .map(|c| {
                let v = c.text.trim();
                v.parse()
                    .map_err(|_| XmlError::Content(format!("<{name}> is not a number: {v:?}")))
            })
            .collect()
    }

    /// Child `name` as a boolean (`true/false/1/0`), when present.
    pub fn bool(&self, name: &str) -> Result<Option<bool>, XmlError> {
        match self.str(name) {
            None | Some("") => Ok(None),
            Some("true" | "1") => Ok(Some(true)),
            Some("false" | "0") => Ok(Some(false)),
            Some(v) => Err(XmlError::Content(format!(
                "<{name}> is not a boolean: {v:?}"
            ))),
        }
    }

    /// The node as a JSON value: leaves become strings, repeated names arrays. This is the
    /// `raw` record of an observed event.
    pub fn to_json(&self) -> serde_json::Value {
        if self.children.is_empty() {
            return serde_json::Value::String(self.text.trim().to_owned());
        }
        let mut map = serde_json::Map::new();
        for child in &self.children {
            let value = child.to_json();
            match map.get_mut(&child.name) {
                Some(serde_json::Value::Array(items)) if self.repeats(&child.name) => {
                    items.push(value)
                }
                Some(existing) => {
                    let first = existing.take();
                    *existing = serde_json::Value::Array(vec![first, value]);
                }
                None if self.repeats(&child.name) => {
                    map.insert(child.name.clone(), serde_json::Value::Array(vec![value]));
                }
                None => {
                    map.insert(child.name.clone(), value);
                }
            }
        }
        serde_json::Value::Object(map)
    }

    fn repeats(&self, name: &str) -> bool {
        self.children.iter().filter(|c| c.name == name).count() > 1
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_qualified_escaped_elements() {
        let mut w = Writer::new();
        w.elem("relation", |w| {
            w.leaf("name", "Bakker & Zn <BV>");
            w.opt::<i64>("relationNumber", None);
            w.opt_str("email", Some(""));
            w.leaf("active", true);
        });
        assert_eq!(
            w.finish(),
            "<m:relation><m:name>Bakker &amp; Zn &lt;BV&gt;</m:name><m:active>true</m:active></m:relation>"
        );
    }

    #[test]
    fn reads_any_prefix_entities_and_cdata() {
        let doc = r#"<?xml version="1.0"?><a:x xmlns:a="urn:mplusqapi"><a:n> 12 </a:n><a:t>A &amp; B&#33;</a:t><a:c><![CDATA[<raw>]]></a:c><a:b>1</a:b><a:l>1</a:l><a:l>2</a:l></a:x>"#;
        let root = parse(doc).expect("parses");
        assert!(root.is(NS, "x"));
        assert_eq!(root.num::<i64>("n"), Ok(Some(12)));
        assert_eq!(root.str("t"), Some("A & B!"));
        assert_eq!(root.str("c"), Some("<raw>"));
        assert_eq!(root.bool("b"), Ok(Some(true)));
        assert_eq!(root.nums::<i32>("l"), Ok(vec![1, 2]));
        assert!(root.num::<i64>("t").is_err());
        let json = root.to_json();
        assert_eq!(json["l"], serde_json::json!(["1", "2"]));
        assert_eq!(json["n"], "12");
    }

    #[test]
    fn refuses_broken_documents() {
        for bad in [
            "",
            "<a>",
            "<a></b>",
            "<a/><b/>",
            "<p:a/>",
            "<a>&bogus;</a>",
            "<!DOCTYPE a><a/>",
            "garbage",
        ] {
            assert!(parse(bad).is_err(), "{bad:?} must be refused");
        }
    }
}
