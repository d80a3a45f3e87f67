//! JSON Schema refinements for what the bundle's validation enforces and the derived schemas
//! cannot say on their own, so that the published schema (and the OpenAPI contract translated
//! from it) declares every constraint a single value must meet. Cross-item rules — unique ids,
//! references between items, dates in order — stay in [`crate::bundle::AssessmentBundle::validate`].

use schemars::Schema;
use serde_json::json;

use crate::control::ControlId;

/// The JSON Schema pattern of a text that is not blank: it has a character other than ASCII
/// white space. Spelled as an explicit class so every regex engine (ECMA-262, Python, Rust)
/// reads it the same, and [`is_blank`] is its exact complement.
pub const NOT_BLANK: &str = "[^ \\t\\n\\r\\f\\v]";

/// Whether a text is blank: empty or only ASCII white space (space, tab, line feed, carriage
/// return, form feed, vertical tab) — the texts [`NOT_BLANK`] refuses.
pub fn is_blank(s: &str) -> bool {
    s.chars()
        .all(|c| matches!(c, ' ' | '\t' | '\n' | '\r' | '\x0b' | '\x0c'))
}

/// The longest name or identifier, in characters (Unicode scalar values, as JSON Schema's
/// `maxLength` counts): room for a fully qualified domain name (253, RFC 1035) as an asset id,
/// and a bound on what every report, page and alert has to lay out.
pub const MAX_NAME_CHARS: usize = 256;

/// A name or identifier: not blank, at most [`MAX_NAME_CHARS`] characters.
pub(crate) fn non_blank(schema: &mut Schema) {
    schema.insert("minLength".into(), 1.into());
    schema.insert("maxLength".into(), MAX_NAME_CHARS.into());
    schema.insert("pattern".into(), NOT_BLANK.into());
}

/// What is wrong with a name or identifier, if anything: blank, or longer than
/// [`MAX_NAME_CHARS`].
pub fn name_error(s: &str) -> Option<String> {
    if is_blank(s) {
        Some("must not be empty".to_owned())
    } else if s.chars().count() > MAX_NAME_CHARS {
        Some(format!(
            "is {} characters long; at most {MAX_NAME_CHARS}",
            s.chars().count()
        ))
    } else {
        None
    }
}

/// An IP address, v4 or v6, in its usual text form (optional).
pub(crate) fn ip_address(schema: &mut Schema) {
    let description = schema.remove("description");
    *schema = Schema::from(
        json!({
            "anyOf": [
                { "type": "string", "format": "ipv4" },
                { "type": "string", "format": "ipv6" },
                { "type": "null" }
            ]
        })
        .as_object()
        .cloned()
        .unwrap_or_default(),
    );
    if let Some(d) = description {
        schema.insert("description".into(), d);
    }
}

/// `schema` and `rule` both: `{"allOf": [schema, rule]}` (a rule next to the derived
/// properties, in a form OpenAPI tools keep).
fn with_rule(schema: &mut Schema, rule: serde_json::Value) {
    let derived = std::mem::take(schema);
    let mut all = serde_json::Map::new();
    all.insert("allOf".into(), json!([derived, rule]));
    *schema = Schema::from(all);
}

/// A finding needs a CVSS vector, a CVSS score or the scanner's severity.
pub(crate) fn finding_rules(schema: &mut Schema) {
    with_rule(
        schema,
        json!({ "anyOf": [
            { "type": "object", "required": ["cvss_vector"], "properties": { "cvss_vector": { "type": "string" } } },
            { "type": "object", "required": ["cvss_score"], "properties": { "cvss_score": { "type": "number" } } },
            { "type": "object", "required": ["severity"], "properties": { "severity": { "type": "string" } } }
        ] }),
    );
}

/// An MLPS result carries the level (1–5) it was assessed at; no other control has a level.
pub(crate) fn control_rules(schema: &mut Schema) {
    let others: Vec<&str> = ControlId::ALL
        .iter()
        .filter(|c| **c != ControlId::Mlps)
        .map(|c| c.as_str())
        .collect();
    with_rule(
        schema,
        json!({ "oneOf": [
            {
                "type": "object",
                "properties": {
                    "control": { "type": "string", "enum": ["mlps"] },
                    "level": { "type": "integer", "minimum": 1, "maximum": 5 }
                },
                "required": ["level"]
            },
            {
                "type": "object",
                "properties": {
                    "control": { "type": "string", "enum": others },
                    "level": { "type": "null" }
                }
            }
        ] }),
    );
}
