//! A thin streaming layer over quick-xml shared by the Nessus and Nmap readers: elements and
//! text with entities resolved, a cap on any single element or text run (so a hostile
//! attribute cannot exhaust memory), and errors that carry the byte position. Nothing is
//! kept beyond the current event: the caller builds what it needs as it goes.
//!
//! A file in another encoding than UTF-8 — named by its XML declaration
//! (`encoding="ISO-8859-1"`) or by a UTF-16 byte-order mark — is decoded as it streams
//! (`encoding_rs_io`, with the WHATWG Encoding Standard's labels); byte positions in errors
//! are then positions in the decoded UTF-8 text.

use std::io::BufRead;

use quick_xml::Reader;
use quick_xml::events::{BytesStart, Event};

use crate::{Format, IngestError};

/// Largest single tag (with its attributes) or text run accepted.
pub const MAX_EVENT_BYTES: usize = 8 * 1024 * 1024;

/// Most attributes one element may carry (scanners write a handful).
const MAX_ATTRIBUTES: usize = 256;

pub(crate) enum Ev {
    /// An opening (or empty, followed by a synthetic `End`) element: name and attributes.
    Start(String, Vec<(String, String)>),
    End(String),
    /// Character data, entities resolved (may arrive in several pieces).
    Text(String),
    Eof,
}

pub(crate) struct XmlStream<'r> {
    reader: Reader<Box<dyn BufRead + 'r>>,
    buf: Vec<u8>,
    format: Format,
    /// Open elements, for the truncation message.
    stack: Vec<String>,
    pending_end: Option<String>,
    saw_root: bool,
}

/// The encoding a document declares (`<?xml … encoding="…"?>`) or marks with a byte-order
/// mark, when it is not UTF-8; `Err` with the label when it names one cyrisk cannot decode.
fn declared_encoding(head: &[u8]) -> Result<Option<&'static encoding_rs::Encoding>, String> {
    if let Some((enc, _)) = encoding_rs::Encoding::for_bom(head) {
        return Ok(Some(enc).filter(|e| *e != encoding_rs::UTF_8));
    }
    let Some(decl) = head
        .strip_prefix(b"<?xml")
        .and_then(|rest| rest.split(|b| *b == b'>').next())
    else {
        return Ok(None);
    };
    let decl = String::from_utf8_lossy(decl);
    let Some(at) = decl.find("encoding") else {
        return Ok(None);
    };
    let rest = decl[at + "encoding".len()..].trim_start();
    let Some(rest) = rest.strip_prefix('=').map(str::trim_start) else {
        return Ok(None);
    };
    let quote = rest.chars().next().filter(|c| *c == '"' || *c == '\'');
    let label = match quote {
        Some(q) => rest[1..].split(q).next().unwrap_or_default(),
        None => return Ok(None),
    };
    match encoding_rs::Encoding::for_label(label.trim().as_bytes()) {
        Some(e) if e == encoding_rs::UTF_8 => Ok(None),
        Some(e) => Ok(Some(e)),
        None => Err(label.to_owned()),
    }
}

impl<'r> XmlStream<'r> {
    pub fn new<R: BufRead + 'r>(mut input: R, format: Format) -> Result<Self, IngestError> {
        let head = input
            .fill_buf()
            .map_err(|e| IngestError::at_byte(format, 0, format!("cannot read: {e}")))?;
        let head = &head[..head.len().min(1024)];
        let source: Box<dyn BufRead + 'r> = match declared_encoding(head) {
            Ok(None) => Box::new(input),
            Ok(Some(enc)) => Box::new(std::io::BufReader::with_capacity(
                64 * 1024,
                encoding_rs_io::DecodeReaderBytesBuilder::new()
                    .encoding(Some(enc))
                    .build(input),
            )),
            Err(label) => {
                return Err(IngestError::at_byte(
                    format,
                    0,
                    format!(
                        "the file declares the encoding {label:?}, which cyrisk cannot decode; save it as UTF-8"
                    ),
                ));
            }
        };
        let mut reader = Reader::from_reader(source);
        reader.config_mut().check_end_names = true;
        Ok(Self {
            reader,
            buf: Vec::with_capacity(64 * 1024),
            format,
            stack: Vec::new(),
            pending_end: None,
            saw_root: false,
        })
    }

    pub fn position(&self) -> u64 {
        self.reader.buffer_position()
    }

    pub fn error(&self, message: impl Into<String>) -> IngestError {
        IngestError::at_byte(self.format, self.position(), message)
    }

    fn attrs(&self, e: &BytesStart<'_>) -> Result<Vec<(String, String)>, IngestError> {
        let mut out = Vec::new();
        // quick-xml's duplicate-attribute check is quadratic in their number: skip it (the
        // first of a repeated attribute is the one read) and cap the number instead.
        for a in e.attributes().with_checks(false) {
            if out.len() == MAX_ATTRIBUTES {
                return Err(self.error(format!(
                    "an element with more than {MAX_ATTRIBUTES} attributes"
                )));
            }
            let a = a.map_err(|err| self.error(format!("bad attribute: {err}")))?;
            let key = String::from_utf8_lossy(a.key.as_ref()).into_owned();
            let value = a
                .unescape_value()
                .map_err(|err| self.error(format!("bad attribute {key:?}: {err}")))?
                .into_owned();
            out.push((key, value));
        }
        Ok(out)
    }

    pub fn next(&mut self) -> Result<Ev, IngestError> {
        if let Some(name) = self.pending_end.take() {
            self.stack.pop();
            return Ok(Ev::End(name));
        }
        loop {
            let mut buf = std::mem::take(&mut self.buf);
            buf.clear();
            let got = self.read_one(&mut buf);
            let len = buf.len();
            self.buf = buf;
            if len > MAX_EVENT_BYTES {
                return Err(self.error(format!(
                    "an element or text longer than {} MiB",
                    MAX_EVENT_BYTES / (1024 * 1024)
                )));
            }
            if let Some(ev) = got? {
                return Ok(ev);
            }
        }
    }

    /// Reads one event into `buf`; `None` for events callers do not see.
    fn read_one(&mut self, buf: &mut Vec<u8>) -> Result<Option<Ev>, IngestError> {
        let event = match self.reader.read_event_into(buf) {
            Ok(e) => e,
            Err(err) => {
                return Err(IngestError::at_byte(
                    self.format,
                    self.reader.error_position(),
                    format!("malformed XML: {err}"),
                ));
            }
        };
        Ok(Some(match event {
            Event::Start(e) => {
                let name = String::from_utf8_lossy(e.local_name().as_ref()).into_owned();
                let attrs = self.attrs(&e)?;
                self.saw_root = true;
                self.stack.push(name.clone());
                Ev::Start(name, attrs)
            }
            Event::Empty(e) => {
                let name = String::from_utf8_lossy(e.local_name().as_ref()).into_owned();
                let attrs = self.attrs(&e)?;
                self.saw_root = true;
                self.stack.push(name.clone());
                self.pending_end = Some(name.clone());
                Ev::Start(name, attrs)
            }
            Event::End(e) => {
                let name = String::from_utf8_lossy(e.local_name().as_ref()).into_owned();
                self.stack.pop();
                Ev::End(name)
            }
            Event::Text(t) => {
                let s = t
                    .xml_content()
                    .map_err(|err| self.error(format!("bad text: {err}")))?;
                if self.stack.is_empty() {
                    if s.trim().is_empty() {
                        return Ok(None);
                    }
                    return Err(self.error("text outside the root element (not XML?)"));
                }
                Ev::Text(s.into_owned())
            }
            Event::CData(c) => {
                let s = c
                    .decode()
                    .map_err(|err| self.error(format!("bad CDATA: {err}")))?;
                Ev::Text(s.into_owned())
            }
            Event::GeneralRef(r) => {
                let text = if r.is_char_ref() {
                    match r.resolve_char_ref() {
                        Ok(Some(c)) => c.to_string(),
                        _ => return Err(self.error("bad character reference")),
                    }
                } else {
                    let name = r
                        .decode()
                        .map_err(|err| self.error(format!("bad entity: {err}")))?;
                    match quick_xml::escape::resolve_predefined_entity(&name) {
                        Some(s) => s.to_owned(),
                        None => return Err(self.error(format!("unknown entity &{name};"))),
                    }
                };
                Ev::Text(text)
            }
            Event::Eof => {
                if let Some(open) = self.stack.last() {
                    return Err(self.error(format!("the file ends inside <{open}> (truncated?)")));
                }
                if !self.saw_root {
                    return Err(self.error("no XML element: the file is empty or not XML"));
                }
                Ev::Eof
            }
            Event::Decl(_) | Event::PI(_) | Event::Comment(_) | Event::DocType(_) => {
                return Ok(None);
            }
        }))
    }
}

/// The value of an attribute.
pub(crate) fn attr<'a>(attrs: &'a [(String, String)], key: &str) -> Option<&'a str> {
    attrs
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
}
