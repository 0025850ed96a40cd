//! A test-side checker for MplusQAPI messages against the WSDL's inline XML schema, written
//! independently of the simulator's XML code.
//!
//! The schema only uses `complexType/sequence` (optionally `complexContent/extension`),
//! `simpleType/restriction` with enumerations on `xsd:string`, and builtin simple types; the
//! checker covers exactly that and refuses anything else while loading, so a future WSDL with
//! new constructs fails loudly instead of being checked loosely.
//!
//! It checks, for every element of a message: the namespace (`urn:mplusqapi`, qualified), that
//! it is declared in its parent's sequence, sequence order, `minOccurs`/`maxOccurs`, no text
//! in complex elements, and that simple values parse as their type (int, long, short,
//! unsigned*, boolean, decimal, date/dateTime, enumerations).

use std::collections::HashMap;

use quick_xml::NsReader;
use quick_xml::events::Event;
use quick_xml::name::ResolveResult;

pub const TNS: &str = "urn:mplusqapi";
const XSD: &str = "http://www.w3.org/2001/XMLSchema";
const WSDL: &str = "http://schemas.xmlsoap.org/wsdl/";
const SOAP_ENV: &str = "http://schemas.xmlsoap.org/soap/envelope/";

/// A parsed XML element (namespace URI, local name, attributes, children, text).
#[derive(Debug, Clone, Default)]
pub struct El {
    pub ns: Option<String>,
    pub name: String,
    pub attrs: Vec<(String, String)>,
    pub children: Vec<El>,
    pub text: String,
}

impl El {
    pub fn attr(&self, name: &str) -> Option<&str> {
        self.attrs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
    pub fn kids<'a>(&'a self, ns: &'a str, name: &'a str) -> impl Iterator<Item = &'a El> + 'a {
        self.children
            .iter()
            .filter(move |c| c.name == name && c.ns.as_deref() == Some(ns))
    }
    pub fn kid(&self, ns: &str, name: &str) -> Option<&El> {
        self.children
            .iter()
            .find(|c| c.name == name && c.ns.as_deref() == Some(ns))
    }
    /// Child by local name, any namespace.
    pub fn get(&self, name: &str) -> Option<&El> {
        self.children.iter().find(|c| c.name == name)
    }
    pub fn all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a El> + 'a {
        self.children.iter().filter(move |c| c.name == name)
    }
    /// Text of a descendant path of local names (`"info/orderId"`).
    pub fn text_at(&self, path: &str) -> Option<&str> {
        let mut cur = self;
        for part in path.split('/') {
            cur = cur.get(part)?;
        }
        Some(cur.text.as_str())
    }
}

pub fn parse(xml: &str) -> Result<El, String> {
    let xml = xml.trim_start_matches('\u{feff}');
    let mut r = NsReader::from_str(xml);
    r.config_mut().check_end_names = true;
    let mut stack: Vec<El> = Vec::new();
    let mut root = None;
    loop {
        let (res, ev) = r.read_resolved_event().map_err(|e| e.to_string())?;
        let ns = match res {
            ResolveResult::Bound(ns) => Some(ns.as_ref().to_owned()),
            ResolveResult::Unbound => None,
            ResolveResult::Unknown(p) => return Err(format!("unknown prefix {p}")),
        };
        let empty = matches!(ev, Event::Empty(_));
        match ev {
            Event::Start(s) | Event::Empty(s) => {
                let mut el = El {
                    ns,
                    name: s.local_name().as_ref().to_owned(),
                    ..El::default()
                };
                for a in s.attributes() {
                    let a = a.map_err(|e| e.to_string())?;
                    let key = a.key.local_name().as_ref().to_owned();
                    let value = a.value.as_ref().to_owned();
                    el.attrs.push((key, value));
                }
                if empty {
                    match stack.last_mut() {
                        Some(p) => p.children.push(el),
                        None => root = Some(el),
                    }
                } else {
                    stack.push(el);
                }
            }
            Event::End(_) => {
                let el = stack.pop().ok_or("unbalanced end")?;
                match stack.last_mut() {
                    Some(p) => p.children.push(el),
                    None => root = Some(el),
                }
            }
            Event::Text(t) => {
                if let Some(top) = stack.last_mut() {
                    top.text.push_str(&t.xml10_content());
                }
            }
            Event::GeneralRef(g) => {
                let s = match g.as_ref() {
                    "lt" => "<".to_owned(),
                    "gt" => ">".to_owned(),
                    "amp" => "&".to_owned(),
                    "quot" => "\"".to_owned(),
                    "apos" => "'".to_owned(),
                    _ => g
                        .resolve_char_ref()
                        .ok()
                        .flatten()
                        .map(String::from)
                        .ok_or("entity")?,
                };
                if let Some(top) = stack.last_mut() {
                    top.text.push_str(&s);
                }
            }
            Event::Eof => break,
            _ => {}
        }
    }
    if !stack.is_empty() {
        return Err("unclosed elements".into());
    }
    root.ok_or_else(|| "empty document".into())
}

#[derive(Debug, Clone)]
enum Ty {
    /// `xsd:int`, ... (local name).
    Builtin(String),
    /// A named simpleType (enumeration).
    Enum(String),
    /// A named complexType.
    Complex(String),
    /// An anonymous complexType (top-level operation elements).
    Inline(Vec<Particle>),
}

#[derive(Debug, Clone)]
struct Particle {
    name: String,
    ty: Ty,
    min: usize,
    /// `None` = unbounded.
    max: Option<usize>,
}

pub struct Schema {
    complex: HashMap<String, Vec<Particle>>,
    enums: HashMap<String, Vec<String>>,
    elements: HashMap<String, Ty>,
    /// operation -> (input element, output element).
    operations: HashMap<String, (String, String)>,
}

fn local(qname: &str) -> (&str, &str) {
    match qname.split_once(':') {
        Some((p, l)) => (p, l),
        None => ("", qname),
    }
}

impl Schema {
    pub fn load(path: &str) -> Result<Schema, String> {
        let text = std::fs::read_to_string(path).map_err(|e| format!("{path}: {e}"))?;
        let defs = parse(&text)?;
        let types = defs.kid(WSDL, "types").ok_or("no types")?;
        let schema = types.kid(XSD, "schema").ok_or("no schema")?;
        let mut s = Schema {
            complex: HashMap::new(),
            enums: HashMap::new(),
            elements: HashMap::new(),
            operations: HashMap::new(),
        };
        let mut raw_complex: HashMap<String, &El> = HashMap::new();
        for c in &schema.children {
            let name = c.attr("name").unwrap_or_default().to_owned();
            match c.name.as_str() {
                "simpleType" => {
                    let r = c
                        .kid(XSD, "restriction")
                        .ok_or("simpleType without restriction")?;
                    if r.attr("base") != Some("xsd:string") {
                        return Err(format!("simpleType {name}: unsupported base"));
                    }
                    let values = r
                        .kids(XSD, "enumeration")
                        .filter_map(|e| e.attr("value"))
                        .map(str::to_owned)
                        .collect();
                    s.enums.insert(name, values);
                }
                "complexType" => {
                    raw_complex.insert(name, c);
                }
                "element" | "import" => {}
                other => return Err(format!("unsupported schema construct {other}")),
            }
        }
        let names: Vec<String> = raw_complex.keys().cloned().collect();
        for name in names {
            let particles = Self::flatten(&raw_complex, raw_complex[&name], &s.enums)?;
            s.complex.insert(name, particles);
        }
        for e in schema.kids(XSD, "element") {
            let name = e.attr("name").ok_or("element without name")?.to_owned();
            let ty = match e.attr("type") {
                Some(t) => Self::ty(t, &s.enums),
                None => {
                    let ct = e.kid(XSD, "complexType").ok_or("element without type")?;
                    Ty::Inline(Self::flatten(&raw_complex, ct, &s.enums)?)
                }
            };
            s.elements.insert(name, ty);
        }
        let messages: HashMap<&str, &str> = defs
            .kids(WSDL, "message")
            .filter_map(|m| {
                Some((
                    m.attr("name")?,
                    local(m.kid(WSDL, "part")?.attr("element")?).1,
                ))
            })
            .collect();
        let port = defs.kid(WSDL, "portType").ok_or("no portType")?;
        for op in port.kids(WSDL, "operation") {
            let name = op.attr("name").ok_or("operation without name")?;
            let msg = |dir: &str| -> Option<String> {
                let m = local(op.kid(WSDL, dir)?.attr("message")?).1;
                messages.get(m).map(|e| (*e).to_owned())
            };
            if let (Some(i), Some(o)) = (msg("input"), msg("output")) {
                s.operations.insert(name.to_owned(), (i, o));
            }
        }
        Ok(s)
    }

    fn ty(qname: &str, enums: &HashMap<String, Vec<String>>) -> Ty {
        let (prefix, name) = local(qname);
        if prefix == "xsd" {
            Ty::Builtin(name.to_owned())
        } else if enums.contains_key(name) {
            Ty::Enum(name.to_owned())
        } else {
            Ty::Complex(name.to_owned())
        }
    }

    fn flatten(
        raw: &HashMap<String, &El>,
        ct: &El,
        enums: &HashMap<String, Vec<String>>,
    ) -> Result<Vec<Particle>, String> {
        let mut out = Vec::new();
        let mut body = ct;
        if let Some(cc) = ct.kid(XSD, "complexContent") {
            let ext = cc
                .kid(XSD, "extension")
                .ok_or("complexContent without extension")?;
            let base = local(ext.attr("base").ok_or("extension without base")?).1;
            let base_ct = raw
                .get(base)
                .ok_or_else(|| format!("unknown base {base}"))?;
            out.extend(Self::flatten(raw, base_ct, enums)?);
            body = ext;
        }
        for c in &body.children {
            match c.name.as_str() {
                "sequence" => {
                    for e in &c.children {
                        if e.name != "element" {
                            return Err(format!("unsupported particle {}", e.name));
                        }
                        let max = match e.attr("maxOccurs") {
                            None => Some(1),
                            Some("unbounded") => None,
                            Some(n) => Some(n.parse().map_err(|_| "maxOccurs")?),
                        };
                        out.push(Particle {
                            name: e.attr("name").ok_or("particle without name")?.to_owned(),
                            ty: Self::ty(e.attr("type").ok_or("particle without type")?, enums),
                            min: e
                                .attr("minOccurs")
                                .map_or(Ok(1), str::parse)
                                .map_err(|_| "minOccurs")?,
                            max,
                        });
                    }
                }
                "annotation" => {}
                other => return Err(format!("unsupported complexType content {other}")),
            }
        }
        Ok(out)
    }

    /// The request and response element names of an operation (from the message table).
    pub fn operation(&self, op: &str) -> Option<(&str, &str)> {
        self.operations
            .get(op)
            .map(|(i, o)| (i.as_str(), o.as_str()))
    }

    pub fn operation_names(&self) -> impl Iterator<Item = &str> {
        self.operations.keys().map(String::as_str)
    }

    /// Errors of a top-level element against its declaration (empty = valid).
    pub fn check_element(&self, el: &El) -> Vec<String> {
        let mut errors = Vec::new();
        match self.elements.get(&el.name) {
            None => errors.push(format!("/{}: not a global element of the schema", el.name)),
            Some(ty) => self.check(el, ty, &format!("/{}", el.name), &mut errors),
        }
        errors
    }

    /// Checks a whole SOAP message: envelope, one Body element named `expected`, its content.
    pub fn check_message(&self, xml: &str, expected: &str) -> Vec<String> {
        let env = match parse(xml) {
            Ok(e) => e,
            Err(e) => return vec![format!("not well-formed: {e}")],
        };
        if env.ns.as_deref() != Some(SOAP_ENV) || env.name != "Envelope" {
            return vec!["root is not a SOAP 1.1 Envelope".into()];
        }
        let Some(body) = env.kid(SOAP_ENV, "Body") else {
            return vec!["no SOAP Body".into()];
        };
        if body.children.len() != 1 {
            return vec![format!("Body has {} elements", body.children.len())];
        }
        let el = &body.children[0];
        if el.name != expected {
            return vec![format!("Body element is {}, expected {expected}", el.name)];
        }
        self.check_element(el)
    }

    fn check(&self, el: &El, ty: &Ty, path: &str, errors: &mut Vec<String>) {
        if el.ns.as_deref() != Some(TNS) {
            errors.push(format!("{path}: namespace {:?}, expected {TNS}", el.ns));
        }
        match ty {
            Ty::Builtin(b) => {
                if !el.children.is_empty() {
                    errors.push(format!("{path}: simple element has children"));
                }
                if !builtin_ok(b, &el.text) {
                    errors.push(format!("{path}: {:?} is not a valid xsd:{b}", el.text));
                }
            }
            Ty::Enum(name) => {
                if !el.children.is_empty() {
                    errors.push(format!("{path}: simple element has children"));
                }
                if !self.enums[name].contains(&el.text) {
                    errors.push(format!(
                        "{path}: {:?} is not in enumeration {name}",
                        el.text
                    ));
                }
            }
            Ty::Complex(name) => match self.complex.get(name) {
                Some(particles) => self.check_sequence(el, particles, path, errors),
                None => errors.push(format!("{path}: unknown type {name}")),
            },
            Ty::Inline(particles) => self.check_sequence(el, particles, path, errors),
        }
    }

    fn check_sequence(
        &self,
        el: &El,
        particles: &[Particle],
        path: &str,
        errors: &mut Vec<String>,
    ) {
        if !el.text.trim().is_empty() {
            errors.push(format!(
                "{path}: text {:?} in a complex element",
                el.text.trim()
            ));
        }
        let mut i = 0;
        for p in particles {
            let mut n = 0;
            while i < el.children.len()
                && el.children[i].name == p.name
                && p.max.is_none_or(|m| n < m)
            {
                self.check(
                    &el.children[i],
                    &p.ty,
                    &format!("{path}/{}", p.name),
                    errors,
                );
                n += 1;
                i += 1;
            }
            if n < p.min {
                errors.push(format!("{path}: missing required element {}", p.name));
            }
        }
        for c in &el.children[i..] {
            let declared = particles.iter().any(|p| p.name == c.name);
            errors.push(if declared {
                format!("{path}/{}: out of sequence order or too many", c.name)
            } else {
                format!("{path}/{}: not declared in the parent's type", c.name)
            });
        }
    }
}

fn builtin_ok(ty: &str, text: &str) -> bool {
    let t = text.trim();
    match ty {
        "string" => true,
        "int" => t.parse::<i32>().is_ok(),
        "long" => t.parse::<i64>().is_ok(),
        "short" => t.parse::<i16>().is_ok(),
        "unsignedInt" => t.parse::<u32>().is_ok(),
        "unsignedLong" => t.parse::<u64>().is_ok(),
        "unsignedShort" => t.parse::<u16>().is_ok(),
        "unsignedByte" => t.parse::<u8>().is_ok(),
        "boolean" => matches!(t, "true" | "false" | "1" | "0"),
        "decimal" => {
            let digits = t.strip_prefix(['-', '+']).unwrap_or(t);
            !digits.is_empty()
                && digits.chars().filter(|c| *c == '.').count() <= 1
                && digits.chars().all(|c| c.is_ascii_digit() || c == '.')
                && digits.chars().any(|c| c.is_ascii_digit())
        }
        "date" => t.len() >= 10 && t.as_bytes()[4] == b'-',
        "dateTime" => t.len() >= 19 && t.as_bytes()[10] == b'T',
        _ => false,
    }
}
