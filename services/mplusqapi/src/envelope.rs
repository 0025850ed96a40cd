//! SOAP 1.1 framing. A request is an operation struct serialized inside an envelope; a
//! response is checked as a whole (well-formed, no DTD, within [`Limits`]) in one pass that
//! also finds the Body's element, which is then deserialized, or read as a [`Fault`].
//!
//! A list answer can be taken apart into its [`Item`]s, each deserialized on its own, so one
//! record the reader cannot make sense of is reported with its element instead of failing
//! the whole page.

use quick_xml::events::Event;
use quick_xml::name::ResolveResult;
use quick_xml::{NsReader, Reader};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::{NS, SOAP_ENV};

/// Why XML could not be written or read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WireError {
    /// Not well-formed XML, or a construct refused on principle (DTDs, unknown entities).
    #[error("malformed XML: {0}")]
    Syntax(String),
    /// Well-formed, but not what the schema says (a missing element, a bad number).
    #[error("unexpected content: {0}")]
    Content(String),
    /// Larger or deeper than the reader accepts.
    #[error("response refused: {0}")]
    TooLarge(String),
    /// A value cannot be written.
    #[error("cannot write the request: {0}")]
    Write(String),
}

/// What a reader accepts before it looks at the content: a hostile or broken endpoint must
/// not make it allocate without bound or recurse deeply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Largest document, in bytes.
    pub max_bytes: usize,
    /// Deepest element nesting (the Envelope is depth 1).
    pub max_depth: usize,
}

impl Default for Limits {
    /// 64 MiB and 64 levels: a page of 1,000 orders with their lines is a few MiB and 9
    /// levels deep; an article group tree adds two levels a generation.
    fn default() -> Self {
        Self {
            max_bytes: 64 * 1024 * 1024,
            max_depth: 64,
        }
    }
}

/// A SOAP fault as the server sent it.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, serde::Deserialize)]
pub struct Fault {
    /// `faultcode` (`SOAP-ENV:Client`, `SOAP-ENV:Server`, ...).
    #[serde(rename = "faultcode", default)]
    pub code: String,
    /// `faultstring`.
    #[serde(rename = "faultstring", default)]
    pub message: String,
}

impl Fault {
    /// A `Client*` fault: the request was refused (credentials, invalid content); sending it
    /// again does not help. Everything else (`Server*`) may pass later.
    pub fn is_client(&self) -> bool {
        let local = self.code.rsplit(':').next().unwrap_or(&self.code);
        local.starts_with("Client")
    }

    /// Whether the fault reports refused credentials.
    pub fn is_auth(&self) -> bool {
        let m = self.message.to_ascii_lowercase();
        self.is_client()
            && (m.contains("authenticat") || m.contains("ident") || m.contains("secret"))
    }
}

/// What a response turned out to be when it was not the expected body element.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ResponseError {
    /// The server answered with a SOAP fault.
    #[error("SOAP fault {}: {}", .0.code, .0.message)]
    Fault(Fault),
    /// The body is not a readable SOAP envelope.
    #[error("{0}")]
    Malformed(WireError),
    /// A well-formed envelope with another body element than expected.
    #[error("expected <{expected}> in the SOAP Body, found <{found}>")]
    Unexpected {
        /// The response element the WSDL names.
        expected: String,
        /// What came.
        found: String,
    },
}

/// Opening of every envelope this crate writes.
const REQUEST_START: &str = concat!(
    r#"<?xml version="1.0" encoding="UTF-8"?>"#,
    r#"<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/">"#,
    "<soapenv:Body>"
);
const REQUEST_END: &str = "</soapenv:Body></soapenv:Envelope>";

/// `value` as the element `name` in the `urn:mplusqapi` namespace (a default namespace
/// declaration on it, so every child is qualified too).
pub fn element<T: Serialize>(name: &str, value: &T) -> Result<String, WireError> {
    let xml = quick_xml::se::to_string_with_root(name, value)
        .map_err(|e| WireError::Write(e.to_string()))?;
    // The serializer writes `<name` first; the declaration goes right after it.
    let rest = xml
        .strip_prefix('<')
        .and_then(|x| x.strip_prefix(name))
        .ok_or_else(|| WireError::Write(format!("unexpected start of <{name}>")))?;
    Ok(format!("<{name} xmlns=\"{NS}\"{rest}"))
}

/// The whole request envelope of operation element `name` with `value`'s content.
pub fn request<T: Serialize>(name: &str, value: &T) -> Result<String, WireError> {
    let body = element(name, value)?;
    Ok(wrap(&body))
}

/// An envelope around an already written body element.
pub fn wrap(body: &str) -> String {
    let mut out = String::with_capacity(REQUEST_START.len() + body.len() + REQUEST_END.len());
    out.push_str(REQUEST_START);
    out.push_str(body);
    out.push_str(REQUEST_END);
    out
}

/// Opening of the response envelopes the sandbox writes, the way gSOAP does (`SOAP-ENV`).
const RESPONSE_START: &str = concat!(
    r#"<?xml version="1.0" encoding="UTF-8"?>"#,
    "\n",
    r#"<SOAP-ENV:Envelope xmlns:SOAP-ENV="http://schemas.xmlsoap.org/soap/envelope/" xmlns:SOAP-ENC="http://schemas.xmlsoap.org/soap/encoding/" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xmlns:xsd="http://www.w3.org/2001/XMLSchema" xmlns:ns="urn:mplusqapi">"#,
    "<SOAP-ENV:Body>"
);
const RESPONSE_END: &str = "</SOAP-ENV:Body></SOAP-ENV:Envelope>\n";

/// A response envelope (gSOAP style) around a written body element.
pub fn wrap_response(body: &str) -> String {
    let mut out = String::with_capacity(RESPONSE_START.len() + body.len() + RESPONSE_END.len());
    out.push_str(RESPONSE_START);
    out.push_str(body);
    out.push_str(RESPONSE_END);
    out
}

/// A fault envelope.
pub fn fault_response(fault: &Fault) -> String {
    wrap_response(&format!(
        "<SOAP-ENV:Fault><faultcode>{}</faultcode><faultstring>{}</faultstring></SOAP-ENV:Fault>",
        quick_xml::escape::escape(fault.code.as_str()),
        quick_xml::escape::escape(fault.message.as_str()),
    ))
}

/// The element inside a SOAP Body: its name and namespace, and its XML (a slice of the
/// document, prefixes as the sender wrote them).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Body<'a> {
    /// Local name.
    pub name: String,
    /// Namespace URI, when bound.
    pub ns: Option<String>,
    /// The element, start tag to end tag.
    pub xml: &'a str,
}

/// What one pass over a document found.
struct Scan<'a> {
    root: Option<(String, Option<String>)>,
    body_seen: bool,
    /// The Body's elements (name, namespace, byte range).
    elements: Vec<(String, Option<String>, usize, usize)>,
    text: &'a str,
}

/// Checks a whole document (size, depth, well-formedness, no DTD, no unknown entity) and finds
/// the children of the SOAP 1.1 Body.
fn scan<'a>(text: &'a str, limits: &Limits) -> Result<Scan<'a>, WireError> {
    let text = text.trim_start_matches('\u{feff}');
    if text.len() > limits.max_bytes {
        return Err(WireError::TooLarge(format!(
            "{} bytes, more than the {} accepted",
            text.len(),
            limits.max_bytes
        )));
    }
    let mut reader = NsReader::from_str(text);
    reader.config_mut().check_end_names = true;
    let mut out = Scan {
        root: None,
        body_seen: false,
        elements: Vec::new(),
        text,
    };
    let mut depth = 0usize;
    // Depth of the Body when inside it, and the start of its current child.
    let mut in_body = false;
    let mut child: Option<(String, Option<String>, usize)> = None;
    let mut roots = 0;
    loop {
        let before = usize::try_from(reader.buffer_position()).unwrap_or(usize::MAX);
        let (bound, event) = reader
            .read_resolved_event()
            .map_err(|e| WireError::Syntax(e.to_string()))?;
        let ns = match bound {
            ResolveResult::Bound(ns) => Some(ns.as_ref().to_owned()),
            ResolveResult::Unbound => None,
            ResolveResult::Unknown(p) => {
                return Err(WireError::Syntax(format!("unbound prefix `{p}`")));
            }
        };
        let after = usize::try_from(reader.buffer_position()).unwrap_or(usize::MAX);
        match event {
            Event::Start(ref s) | Event::Empty(ref s) => {
                let empty = matches!(event, Event::Empty(_));
                let name = s.local_name().as_ref().to_owned();
                depth += 1;
                if depth > limits.max_depth {
                    return Err(WireError::TooLarge(format!(
                        "elements nested deeper than {}",
                        limits.max_depth
                    )));
                }
                if depth == 1 {
                    roots += 1;
                    if roots > 1 {
                        return Err(WireError::Syntax("two root elements".into()));
                    }
                    out.root = Some((name.clone(), ns.clone()));
                } else if depth == 2
                    && !out.body_seen
                    && name == "Body"
                    && ns.as_deref() == Some(SOAP_ENV)
                {
                    out.body_seen = true;
                    in_body = !empty;
                } else if depth == 3 && in_body {
                    if empty {
                        out.elements.push((name, ns, before, after));
                    } else {
                        child = Some((name, ns, before));
                    }
                }
                if empty {
                    depth -= 1;
                }
            }
            Event::End(_) => {
                if depth == 3
                    && let Some((name, ns, start)) = child.take()
                {
                    out.elements.push((name, ns, start, after));
                }
                if depth == 2 {
                    in_body = false;
                }
                depth = depth.saturating_sub(1);
            }
            Event::Text(t) => {
                if depth == 0 && !t.xml10_content().trim().is_empty() {
                    return Err(WireError::Syntax("text outside the root element".into()));
                }
            }
            Event::GeneralRef(r) => {
                if depth == 0 {
                    return Err(WireError::Syntax("text outside the root element".into()));
                }
                resolve_ref(&r)?;
            }
            Event::CData(_) if depth == 0 => {
                return Err(WireError::Syntax("text outside the root element".into()));
            }
            Event::DocType(_) => return Err(WireError::Syntax("DTDs are refused".into())),
            Event::CData(_) | Event::Decl(_) | Event::PI(_) | Event::Comment(_) => {}
            Event::Eof => break,
        }
    }
    if depth != 0 {
        return Err(WireError::Syntax("document ends inside an element".into()));
    }
    if out.root.is_none() {
        return Err(WireError::Syntax("empty document".into()));
    }
    Ok(out)
}

fn resolve_ref(r: &quick_xml::events::BytesRef<'_>) -> Result<String, WireError> {
    if r.is_char_ref()
        && let Some(c) = r
            .resolve_char_ref()
            .map_err(|e| WireError::Syntax(e.to_string()))?
    {
        return Ok(c.to_string());
    }
    let name: &str = r.as_ref();
    Ok(match name {
        "lt" => "<",
        "gt" => ">",
        "amp" => "&",
        "apos" => "'",
        "quot" => "\"",
        other => return Err(WireError::Syntax(format!("unknown entity &{other};"))),
    }
    .to_owned())
}

impl<'a> Scan<'a> {
    /// The single element of a SOAP 1.1 Body.
    fn body(self) -> Result<Body<'a>, WireError> {
        match &self.root {
            Some((name, ns)) if name == "Envelope" && ns.as_deref() == Some(SOAP_ENV) => {}
            Some((name, _)) => {
                return Err(WireError::Content(format!(
                    "the root element <{name}> is not a SOAP 1.1 Envelope"
                )));
            }
            None => return Err(WireError::Syntax("empty document".into())),
        }
        if !self.body_seen {
            return Err(WireError::Content("the Envelope has no Body".into()));
        }
        let mut elements = self.elements.into_iter();
        let Some((name, ns, start, end)) = elements.next() else {
            return Err(WireError::Content("the SOAP Body is empty".into()));
        };
        if elements.next().is_some() {
            return Err(WireError::Content(
                "the SOAP Body has more than one element".into(),
            ));
        }
        let xml = self
            .text
            .get(start..end)
            .ok_or_else(|| WireError::Syntax("element boundaries".into()))?;
        Ok(Body { name, ns, xml })
    }
}

/// Reads a response: the body element named `expected` (in `urn:mplusqapi`), or the fault.
pub fn open<'a>(text: &'a str, expected: &str, limits: &Limits) -> Result<Body<'a>, ResponseError> {
    let body = scan(text, limits)
        .and_then(Scan::body)
        .map_err(ResponseError::Malformed)?;
    if body.name == "Fault" && body.ns.as_deref() == Some(SOAP_ENV) {
        let fault = decode::<Fault>(body.xml).map_err(ResponseError::Malformed)?;
        return Err(ResponseError::Fault(fault));
    }
    if body.name != expected || body.ns.as_deref() != Some(NS) {
        return Err(ResponseError::Unexpected {
            expected: expected.to_owned(),
            found: body.name,
        });
    }
    Ok(body)
}

/// Reads a request: its operation element (any name; in `urn:mplusqapi` is the caller's
/// check). The sandbox's side of [`open`].
pub fn open_request<'a>(text: &'a str, limits: &Limits) -> Result<Body<'a>, WireError> {
    scan(text, limits)?.body()
}

/// The root element's name and namespace of a document that is not SOAP 1.1 (to answer a
/// SOAP 1.2 envelope with a version mismatch).
pub fn root_of(text: &str) -> Option<(String, Option<String>)> {
    scan(text, &Limits::default()).ok()?.root
}

/// Deserializes one element (its XML, as found by [`open`] or [`Body::items`]).
pub fn decode<T: DeserializeOwned>(xml: &str) -> Result<T, WireError> {
    quick_xml::de::from_str(xml).map_err(|e| WireError::Content(e.to_string()))
}

impl<'a> Body<'a> {
    /// Deserializes the whole element.
    pub fn decode<T: DeserializeOwned>(&self) -> Result<T, WireError> {
        decode(self.xml)
    }

    /// The elements `item` of the child list `list` (or directly under the body element when
    /// `list` is `None`), each to be decoded on its own.
    pub fn items(&self, list: Option<&str>, item: &str) -> Vec<Item<'a>> {
        items(self.xml, list, item)
    }
}

/// The elements `item` of the child list `list` of element `xml` (or its children `item`
/// when `list` is `None`). `xml` is one element already checked by [`open`].
pub fn items<'a>(xml: &'a str, list: Option<&str>, item: &str) -> Vec<Item<'a>> {
    {
        let mut reader = Reader::from_str(xml);
        let item_depth = if list.is_some() { 3 } else { 2 };
        let mut depth = 0usize;
        let mut in_list = list.is_none();
        let mut start = None;
        let mut out = Vec::new();
        loop {
            let before = usize::try_from(reader.buffer_position()).unwrap_or(usize::MAX);
            let Ok(event) = reader.read_event() else {
                break;
            };
            let after = usize::try_from(reader.buffer_position()).unwrap_or(usize::MAX);
            match &event {
                Event::Start(s) | Event::Empty(s) => {
                    depth += 1;
                    let local = s.local_name();
                    let is = |n: &str| local.as_ref() == n;
                    if depth == 2 && list.is_some_and(is) {
                        in_list = true;
                    } else if depth == item_depth && in_list && is(item) {
                        start = Some(before);
                    }
                    if matches!(event, Event::Empty(_)) {
                        if depth == item_depth
                            && let Some(s) = start.take()
                        {
                            out.extend(xml.get(s..after).map(|xml| Item { xml }));
                        }
                        if depth == 2 && list.is_some() {
                            in_list = false;
                        }
                        depth -= 1;
                    }
                }
                Event::End(_) => {
                    if depth == item_depth
                        && let Some(s) = start.take()
                    {
                        out.extend(xml.get(s..after).map(|xml| Item { xml }));
                    }
                    if depth == 2 && list.is_some() {
                        in_list = false;
                    }
                    depth = depth.saturating_sub(1);
                }
                Event::Eof => break,
                _ => {}
            }
        }
        out
    }
}

/// One record of a list answer: its element as written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Item<'a> {
    /// The element, start tag to end tag.
    pub xml: &'a str,
}

impl Item<'_> {
    /// Deserializes the record.
    pub fn decode<T: DeserializeOwned>(&self) -> Result<T, WireError> {
        decode(self.xml)
    }

    /// The element as JSON, keyed by local names: leaves become their trimmed text,
    /// repeated names arrays. This is the `raw` record of an observed event.
    pub fn raw(&self) -> serde_json::Value {
        raw_json(self.xml)
    }
}

/// An element being built by [`raw_json`].
#[derive(Default)]
struct Open {
    name: String,
    text: String,
    children: Vec<(String, serde_json::Value)>,
}

impl Open {
    fn into_value(self) -> serde_json::Value {
        if self.children.is_empty() {
            return serde_json::Value::String(self.text.trim().to_owned());
        }
        let mut map = serde_json::Map::new();
        let repeats = |name: &str| self.children.iter().filter(|(n, _)| n == name).count() > 1;
        let names: Vec<bool> = self.children.iter().map(|(n, _)| repeats(n)).collect();
        for ((name, value), repeated) in self.children.into_iter().zip(names) {
            match map.get_mut(&name) {
                Some(serde_json::Value::Array(items)) if repeated => items.push(value),
                Some(existing) => {
                    let first = existing.take();
                    *existing = serde_json::Value::Array(vec![first, value]);
                }
                None if repeated => {
                    map.insert(name, serde_json::Value::Array(vec![value]));
                }
                None => {
                    map.insert(name, value);
                }
            }
        }
        serde_json::Value::Object(map)
    }
}

/// The JSON of an element (see [`Item::raw`]); what cannot be read ends the element there,
/// and elements nested deeper than the default [`Limits`] are left out (a JSON value that
/// deep could not even be dropped without exhausting the stack).
pub fn raw_json(xml: &str) -> serde_json::Value {
    let max_depth = Limits::default().max_depth;
    let mut reader = Reader::from_str(xml);
    let mut open: Vec<Open> = Vec::new();
    // Depth below the deepest element kept, while skipping.
    let mut skipping = 0usize;
    let mut done = None;
    let close = |open: &mut Vec<Open>, done: &mut Option<serde_json::Value>, node: Open| {
        let name = node.name.clone();
        let value = node.into_value();
        match open.last_mut() {
            Some(parent) => parent.children.push((name, value)),
            None => *done = Some(value),
        }
    };
    while let Ok(event) = reader.read_event() {
        if skipping > 0 {
            match event {
                Event::Start(_) => skipping += 1,
                Event::End(_) => skipping -= 1,
                Event::Eof => break,
                _ => {}
            }
            continue;
        }
        match event {
            Event::Start(_) if open.len() >= max_depth => skipping = 1,
            Event::Empty(_) if open.len() >= max_depth => {}
            Event::Start(s) => open.push(Open {
                name: s.local_name().as_ref().to_owned(),
                ..Open::default()
            }),
            Event::Empty(s) => {
                let node = Open {
                    name: s.local_name().as_ref().to_owned(),
                    ..Open::default()
                };
                close(&mut open, &mut done, node);
            }
            Event::End(_) => {
                if let Some(node) = open.pop() {
                    close(&mut open, &mut done, node);
                }
            }
            Event::Text(t) => {
                if let Some(node) = open.last_mut() {
                    let text = t.xml10_content();
                    node.text.push_str(&text);
                }
            }
            Event::CData(c) => {
                if let Some(node) = open.last_mut() {
                    let text = c.xml10_content();
                    node.text.push_str(&text);
                }
            }
            Event::GeneralRef(r) => {
                if let (Some(node), Ok(text)) = (open.last_mut(), resolve_ref(&r)) {
                    node.text.push_str(&text);
                }
            }
            Event::Eof => break,
            _ => {}
        }
        if done.is_some() {
            break;
        }
    }
    while let Some(node) = open.pop() {
        close(&mut open, &mut done, node);
    }
    done.unwrap_or(serde_json::Value::Null)
}
