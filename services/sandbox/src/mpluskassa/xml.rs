//! A small namespace-aware XML tree for SOAP requests (parsed with quick-xml, any prefix
//! accepted) and a writer that renders responses with the WSDL's element names.

use std::fmt::Write as _;

use quick_xml::NsReader;
use quick_xml::escape::escape;
use quick_xml::events::Event;
use quick_xml::name::ResolveResult;

use super::model::{MplusDate, MplusDateTime};

/// Target namespace of MplusQAPI (`elementFormDefault="qualified"`).
pub const NS: &str = "urn:mplusqapi";
/// SOAP 1.1 envelope namespace.
pub const SOAP_ENV: &str = "http://schemas.xmlsoap.org/soap/envelope/";

/// One element: namespace URI (if bound), local name, child elements and its own text.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Node {
    pub ns: Option<String>,
    pub name: String,
    pub children: Vec<Node>,
    pub text: String,
}

/// Why a request could not be read: becomes a SOAP `Client` fault.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum XmlError {
    #[error("XML syntax error: {0}")]
    Syntax(String),
    #[error("validation constraint violation: {0}")]
    Invalid(String),
}

/// Parses a whole document into its root element. Unknown prefixes, unbalanced tags,
/// unknown entities, text outside the root and an empty document are errors.
pub fn parse(input: &str) -> Result<Node, XmlError> {
    let input = input.strip_prefix('\u{feff}').unwrap_or(input);
    let mut reader = NsReader::from_str(input);
    reader.config_mut().check_end_names = true;
    let mut stack: Vec<Node> = Vec::new();
    let mut root: Option<Node> = None;
    loop {
        let (resolved, event) = reader
            .read_resolved_event()
            .map_err(|e| XmlError::Syntax(e.to_string()))?;
        let ns = match resolved {
            ResolveResult::Bound(ns) => Some(ns.as_ref().to_owned()),
            ResolveResult::Unbound => None,
            ResolveResult::Unknown(prefix) => {
                return Err(XmlError::Syntax(format!(
                    "unbound namespace prefix `{prefix}`"
                )));
            }
        };
        match event {
            Event::Start(_) | Event::Empty(_) if root.is_some() => {
                return Err(XmlError::Syntax("more than one root element".into()));
            }
            Event::Start(start) => {
                stack.push(Node {
                    ns,
                    name: start.local_name().as_ref().to_owned(),
                    ..Node::default()
                });
            }
            Event::Empty(start) => {
                let node = Node {
                    ns,
                    name: start.local_name().as_ref().to_owned(),
                    ..Node::default()
                };
                attach(&mut stack, &mut root, node);
            }
            Event::End(_) => {
                let node = stack
                    .pop()
                    .ok_or_else(|| XmlError::Syntax("unexpected end tag".into()))?;
                attach(&mut stack, &mut root, node);
            }
            Event::Text(text) => push_text(&mut stack, &text.xml10_content())?,
            Event::CData(data) => push_text(&mut stack, &data.xml10_content())?,
            Event::GeneralRef(reference) => {
                let resolved = if reference.is_char_ref() {
                    reference
                        .resolve_char_ref()
                        .map_err(|e| XmlError::Syntax(e.to_string()))?
                        .map(String::from)
                } else {
                    match reference.as_ref() {
                        "lt" => Some("<".into()),
                        "gt" => Some(">".into()),
                        "amp" => Some("&".into()),
                        "apos" => Some("'".into()),
                        "quot" => Some("\"".into()),
                        _ => None,
                    }
                };
                let value = resolved.ok_or_else(|| {
                    XmlError::Syntax(format!("unknown entity `&{};`", reference.as_ref()))
                })?;
                push_text(&mut stack, &value)?;
            }
            Event::DocType(_) => {
                return Err(XmlError::Syntax(
                    "DTDs are not allowed in SOAP messages".into(),
                ));
            }
            Event::Decl(_) | Event::PI(_) | Event::Comment(_) => {}
            Event::Eof => break,
        }
    }
    if !stack.is_empty() {
        return Err(XmlError::Syntax("unexpected end of document".into()));
    }
    root.ok_or_else(|| XmlError::Syntax("empty document".into()))
}

fn attach(stack: &mut [Node], root: &mut Option<Node>, node: Node) {
    match stack.last_mut() {
        Some(parent) => parent.children.push(node),
        None => *root = Some(node),
    }
}

fn push_text(stack: &mut [Node], text: &str) -> Result<(), XmlError> {
    match stack.last_mut() {
        Some(node) => {
            node.text.push_str(text);
            Ok(())
        }
        None if text.trim().is_empty() => Ok(()),
        None => Err(XmlError::Syntax("text outside the root element".into())),
    }
}

impl Node {
    pub fn is(&self, ns: &str, name: &str) -> bool {
        self.name == name && self.ns.as_deref() == Some(ns)
    }

    /// First child with this local name.
    pub fn child(&self, name: &str) -> Option<&Node> {
        self.children.iter().find(|c| c.name == name)
    }

    /// All children with this local name, in document order.
    pub fn all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a Node> + 'a {
        self.children.iter().filter(move |c| c.name == name)
    }

    /// The text of a child (untrimmed: strings are kept as sent).
    pub fn str(&self, name: &str) -> Option<&str> {
        self.child(name).map(|c| c.text.as_str())
    }

    pub fn string(&self, name: &str) -> Option<String> {
        self.str(name).map(str::to_owned)
    }

    pub fn i64(&self, name: &str) -> Result<Option<i64>, XmlError> {
        self.child(name).map(|c| c.as_i64()).transpose()
    }

    pub fn i32(&self, name: &str) -> Result<Option<i32>, XmlError> {
        self.child(name).map(|c| c.as_i32()).transpose()
    }

    pub fn bool(&self, name: &str) -> Result<Option<bool>, XmlError> {
        self.child(name).map(|c| c.as_bool()).transpose()
    }

    pub fn i64s(&self, name: &str) -> Result<Vec<i64>, XmlError> {
        self.all(name).map(Node::as_i64).collect()
    }

    pub fn i32s(&self, name: &str) -> Result<Vec<i32>, XmlError> {
        self.all(name).map(Node::as_i32).collect()
    }

    pub fn date(&self, name: &str) -> Result<Option<MplusDate>, XmlError> {
        let Some(node) = self.child(name) else {
            return Ok(None);
        };
        Ok(Some(MplusDate {
            day: node.required_i32("day")?,
            mon: node.required_i32("mon")?,
            year: node.required_i32("year")?,
        }))
    }

    pub fn datetime(&self, name: &str) -> Result<Option<MplusDateTime>, XmlError> {
        let Some(node) = self.child(name) else {
            return Ok(None);
        };
        Ok(Some(MplusDateTime {
            sec: node.required_i32("sec")?,
            min: node.required_i32("min")?,
            hour: node.required_i32("hour")?,
            day: node.required_i32("day")?,
            mon: node.required_i32("mon")?,
            year: node.required_i32("year")?,
            isdst: node.bool("isdst")?.unwrap_or(false),
            timezone: node.required_i32("timezone")?,
        }))
    }

    pub fn required(&self, name: &str) -> Result<&Node, XmlError> {
        self.child(name).ok_or_else(|| {
            XmlError::Invalid(format!(
                "missing required element `{name}` in `{}`",
                self.name
            ))
        })
    }

    pub fn required_i64(&self, name: &str) -> Result<i64, XmlError> {
        self.required(name)?.as_i64()
    }

    pub fn required_i32(&self, name: &str) -> Result<i32, XmlError> {
        self.required(name)?.as_i32()
    }

    pub fn as_i64(&self) -> Result<i64, XmlError> {
        self.text
            .trim()
            .parse()
            .map_err(|_| self.invalid("xsd:long"))
    }

    pub fn as_i32(&self) -> Result<i32, XmlError> {
        self.text
            .trim()
            .parse()
            .map_err(|_| self.invalid("xsd:int"))
    }

    /// `xsd:boolean`: `true`, `false`, `1`, `0`.
    pub fn as_bool(&self) -> Result<bool, XmlError> {
        match self.text.trim() {
            "true" | "1" => Ok(true),
            "false" | "0" => Ok(false),
            _ => Err(self.invalid("xsd:boolean")),
        }
    }

    fn invalid(&self, ty: &str) -> XmlError {
        XmlError::Invalid(format!(
            "value `{}` of element `{}` is not a valid {ty}",
            self.text.trim(),
            self.name
        ))
    }
}

/// Renders elements in the `urn:mplusqapi` namespace with the `ns:` prefix (the one the WSDL
/// declares), the way gSOAP-generated servers do.
#[derive(Debug, Default)]
pub struct XmlWriter {
    buf: String,
}

impl XmlWriter {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn finish(self) -> String {
        self.buf
    }

    pub fn start(&mut self, name: &str) {
        let _ = write!(self.buf, "<ns:{name}>");
    }

    pub fn end(&mut self, name: &str) {
        let _ = write!(self.buf, "</ns:{name}>");
    }

    /// `<ns:name>` + body + `</ns:name>`.
    pub fn elem(&mut self, name: &str, body: impl FnOnce(&mut Self)) {
        self.start(name);
        body(self);
        self.end(name);
    }

    /// Appends already rendered XML (a replayed response).
    pub fn raw(&mut self, xml: &str) {
        self.buf.push_str(xml);
    }

    pub fn empty(&mut self, name: &str) {
        let _ = write!(self.buf, "<ns:{name}/>");
    }

    /// A simple-typed leaf; strings are escaped.
    pub fn leaf(&mut self, name: &str, value: impl std::fmt::Display) {
        let text = value.to_string();
        let _ = write!(self.buf, "<ns:{name}>{}</ns:{name}>", escape(text.as_str()));
    }

    pub fn opt<T: std::fmt::Display>(&mut self, name: &str, value: Option<T>) {
        if let Some(value) = value {
            self.leaf(name, value);
        }
    }

    /// Optional string leaf, left out when empty.
    pub fn opt_str(&mut self, name: &str, value: &str) {
        if !value.is_empty() {
            self.leaf(name, value);
        }
    }

    pub fn date(&mut self, name: &str, date: &MplusDate) {
        self.elem(name, |w| {
            w.leaf("day", date.day);
            w.leaf("mon", date.mon);
            w.leaf("year", date.year);
        });
    }

    pub fn datetime(&mut self, name: &str, ts: &MplusDateTime) {
        self.elem(name, |w| {
            w.leaf("sec", ts.sec);
            w.leaf("min", ts.min);
            w.leaf("hour", ts.hour);
            w.leaf("day", ts.day);
            w.leaf("mon", ts.mon);
            w.leaf("year", ts.year);
            w.leaf("isdst", ts.isdst);
            w.leaf("timezone", ts.timezone);
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_any_prefix_and_entities() {
        let doc = r#"<?xml version="1.0"?><e:Envelope xmlns:e="http://schemas.xmlsoap.org/soap/envelope/"><e:Body><q:getRelation xmlns:q="urn:mplusqapi"><q:relationNumber> 12 </q:relationNumber><q:x>a&amp;b&#65;</q:x></q:getRelation></e:Body></e:Envelope>"#;
        let root = parse(doc).expect("parses");
        assert!(root.is(SOAP_ENV, "Envelope"));
        let op = &root.children[0].children[0];
        assert!(op.is(NS, "getRelation"));
        assert_eq!(op.i64("relationNumber"), Ok(Some(12)));
        assert_eq!(op.str("x"), Some("a&bA"));
    }

    #[test]
    fn rejects_malformed() {
        for doc in [
            "<a><b></a>",
            "<a>",
            "",
            "<a/><b/>",
            "<p:a/>",
            "<a>&foo;</a>",
        ] {
            assert!(parse(doc).is_err(), "{doc}");
        }
    }
}
