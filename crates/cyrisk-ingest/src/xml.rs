//! A thin streaming layer over quick-xml shared by the Nessus and Nmap readers: elements and
//! text with entities resolved, a cap on any single element or text run (so a hostile
//! attribute cannot exhaust memory), and errors that carry the byte position. Nothing is
//! kept beyond the current event: the caller builds what it needs as it goes.

use std::io::BufRead;

use quick_xml::Reader;
use quick_xml::events::{BytesStart, Event};

use crate::{Format, IngestError};

/// Largest single tag (with its attributes) or text run accepted.
pub const MAX_EVENT_BYTES: usize = 8 * 1024 * 1024;

pub(crate) enum Ev {
    /// An opening (or empty, followed by a synthetic `End`) element: name and attributes.
    Start(String, Vec<(String, String)>),
    End(String),
    /// Character data, entities resolved (may arrive in several pieces).
    Text(String),
    Eof,
}

pub(crate) struct XmlStream<R: BufRead> {
    reader: Reader<R>,
    buf: Vec<u8>,
    format: Format,
    /// Open elements, for the truncation message.
    stack: Vec<String>,
    pending_end: Option<String>,
    saw_root: bool,
}

impl<R: BufRead> XmlStream<R> {
    pub fn new(input: R, format: Format) -> Self {
        let mut reader = Reader::from_reader(input);
        reader.config_mut().check_end_names = true;
        Self {
            reader,
            buf: Vec::with_capacity(64 * 1024),
            format,
            stack: Vec::new(),
            pending_end: None,
            saw_root: false,
        }
    }

    pub fn position(&self) -> u64 {
        self.reader.buffer_position()
    }

    pub fn error(&self, message: impl Into<String>) -> IngestError {
        IngestError::at_byte(self.format, self.position(), message)
    }

    fn attrs(&self, e: &BytesStart<'_>) -> Result<Vec<(String, String)>, IngestError> {
        let mut out = Vec::new();
        for a in e.attributes() {
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
