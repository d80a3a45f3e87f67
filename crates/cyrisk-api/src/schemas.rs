//! OpenAPI schemas for the domain documents (assessment bundle and its parts, rating, plan).
//! They are defined once, in `cyrisk-core`, with `schemars` (the same JSON Schema as
//! `models/bundle.schema.json`); here they are translated into OpenAPI components so that the
//! core stays free of HTTP concerns and the two descriptions cannot drift apart.

use std::borrow::Cow;

use schemars::JsonSchema;
use utoipa::openapi::RefOr;
use utoipa::openapi::schema::Schema;
use utoipa::{PartialSchema, ToSchema};

/// The schema of `T` (its nested types referenced as `#/components/schemas/Name`) and those
/// nested types' schemas.
fn translate<T: JsonSchema>() -> (RefOr<Schema>, Vec<(String, RefOr<Schema>)>) {
    let root = schemars::schema_for!(T);
    let text = serde_json::to_string(&root)
        .expect("a JSON Schema serialises")
        .replace("\"#/$defs/", "\"#/components/schemas/");
    let mut root: serde_json::Value = serde_json::from_str(&text).expect("valid JSON");
    const_to_enum(&mut root);
    let map = root.as_object_mut().expect("a schema object");
    map.remove("$schema");
    map.remove("title");
    let defs = map
        .remove("$defs")
        .and_then(|d| d.as_object().cloned())
        .unwrap_or_default();
    let parse = |v: serde_json::Value| -> RefOr<Schema> {
        serde_json::from_value(v).expect("schemars output is an OpenAPI 3.1 schema")
    };
    let nested = defs.into_iter().map(|(k, v)| (k, parse(v))).collect();
    (parse(root), nested)
}

/// Rewrites `"const": x` as the equivalent `"enum": [x]`, which utoipa's schema model keeps
/// (it has no `const`).
fn const_to_enum(v: &mut serde_json::Value) {
    match v {
        serde_json::Value::Object(map) => {
            if let Some(c) = map.remove("const") {
                map.insert("enum".into(), serde_json::Value::Array(vec![c]));
            }
            map.values_mut().for_each(const_to_enum);
        }
        serde_json::Value::Array(items) => items.iter_mut().for_each(const_to_enum),
        _ => {}
    }
}

macro_rules! document {
    ($(#[$doc:meta])* $wrapper:ident => $ty:ty, $name:literal) => {
        $(#[$doc])*
        pub struct $wrapper;

        impl PartialSchema for $wrapper {
            fn schema() -> RefOr<Schema> {
                translate::<$ty>().0
            }
        }

        impl ToSchema for $wrapper {
            fn name() -> Cow<'static, str> {
                Cow::Borrowed($name)
            }

            fn schemas(schemas: &mut Vec<(String, RefOr<Schema>)>) {
                schemas.extend(translate::<$ty>().1);
            }
        }
    };
}

document!(
    /// An assessment bundle (`models/bundle.schema.json`).
    BundleDoc => cyrisk_core::AssessmentBundle, "AssessmentBundle"
);
document!(
    /// An asset, as in a bundle.
    AssetDoc => cyrisk_core::asset::Asset, "Asset"
);
document!(
    /// A finding's lifecycle state.
    FindingStateDoc => cyrisk_core::finding::FindingState, "FindingState"
);
document!(
    /// A control result, as in a bundle.
    ControlResultDoc => cyrisk_core::control::ControlResult, "ControlResult"
);
document!(
    /// An incident, as in a bundle.
    IncidentDoc => cyrisk_core::incident::Incident, "Incident"
);
document!(
    /// A rating, as `cyrisk rate --format json` prints it.
    RatingDoc => cyrisk_core::Rating, "Rating"
);
document!(
    /// A remediation plan, as `cyrisk plan --format json` prints it.
    PlanDoc => cyrisk_core::Plan, "Plan"
);

/// A request body that is a non-empty array of `$item` (a bulk upsert).
macro_rules! batch {
    ($(#[$doc:meta])* $wrapper:ident => $item:ty, $name:literal) => {
        $(#[$doc])*
        pub struct $wrapper;

        impl PartialSchema for $wrapper {
            fn schema() -> RefOr<Schema> {
                utoipa::openapi::schema::ArrayBuilder::new()
                    .items(utoipa::openapi::Ref::from_schema_name($name))
                    .min_items(Some(1))
                    .into()
            }
        }

        impl ToSchema for $wrapper {
            fn schemas(schemas: &mut Vec<(String, RefOr<Schema>)>) {
                let (root, nested) = translate::<$item>();
                schemas.extend(nested);
                schemas.push(($name.to_owned(), root));
            }
        }
    };
}

batch!(
    /// Assets, one or more.
    AssetBatch => cyrisk_core::asset::Asset, "Asset"
);
batch!(
    /// Findings, one or more.
    FindingBatch => cyrisk_core::finding::Finding, "Finding"
);
batch!(
    /// Control results, one or more.
    ControlResultBatch => cyrisk_core::control::ControlResult, "ControlResult"
);
batch!(
    /// Incidents, one or more.
    IncidentBatch => cyrisk_core::incident::Incident, "Incident"
);

/// A finding as the API shows it: the bundle's finding with the KEV flag and EPSS the rating
/// uses, where each came from, and a pending dispute.
pub struct FindingViewDoc;

impl PartialSchema for FindingViewDoc {
    fn schema() -> RefOr<Schema> {
        let root = schemars::schema_for!(cyrisk_core::finding::Finding);
        let text = serde_json::to_string(&root)
            .expect("a JSON Schema serialises")
            .replace("\"#/$defs/", "\"#/components/schemas/");
        let mut v: serde_json::Value = serde_json::from_str(&text).expect("valid JSON");
        const_to_enum(&mut v);
        // The finding's own object is the first of its `allOf` (its rules the second): add the
        // view's properties to it.
        if let Some(props) = v
            .pointer_mut("/allOf/0/properties")
            .and_then(|p| p.as_object_mut())
        {
            props.insert(
                "kev_source".into(),
                serde_json::json!({ "type": "string", "description": "Where `kev` comes from: the CISA KEV catalogue (with its version) or the scanner or bundle; absent when not KEV-listed" }),
            );
            props.insert(
                "epss_source".into(),
                serde_json::json!({ "type": "string", "description": "Where `epss` comes from: an EPSS snapshot (its date and model) or the scanner or bundle" }),
            );
            props.insert(
                "pending_dispute".into(),
                serde_json::json!({ "$ref": "#/components/schemas/DisputeRecord" }),
            );
        }
        let map = v.as_object_mut().expect("a schema object");
        for k in ["$schema", "title", "$defs"] {
            map.remove(k);
        }
        map.insert(
            "description".into(),
            "A finding (the bundle's format) with the KEV flag and EPSS the rating uses, their sources, and a pending dispute".into(),
        );
        serde_json::from_value(v).expect("an OpenAPI 3.1 schema")
    }
}

impl ToSchema for FindingViewDoc {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed("FindingView")
    }

    fn schemas(schemas: &mut Vec<(String, RefOr<Schema>)>) {
        schemas.extend(translate::<cyrisk_core::finding::Finding>().1);
        schemas.push((
            "DisputeRecord".to_owned(),
            <crate::disputes::DisputeRecord as PartialSchema>::schema(),
        ));
    }
}

/// A change of a finding's lifecycle state: a `reason` is required for the states that attest
/// something (`closed`, `false_positive`, `risk_accepted`, `unfixed_mitigated`).
pub struct StateUpdateDoc;

impl PartialSchema for StateUpdateDoc {
    fn schema() -> RefOr<Schema> {
        use cyrisk_core::finding::FindingState;
        let (attest, plain): (Vec<_>, Vec<_>) = FindingState::ALL
            .into_iter()
            .partition(|s| cyrisk_store::integrity::is_attestation(*s));
        let names = |v: Vec<FindingState>| -> Vec<&'static str> {
            v.into_iter().map(FindingState::as_str).collect()
        };
        serde_json::from_value(serde_json::json!({
            "description": "A change of lifecycle state. What each role may set is the state × role table (README, \"Who may change a rating\"). A third party's closed, false_positive, risk_accepted or unfixed_mitigated attests it and needs a reason; the rated party's false_positive, risk_accepted or unfixed_mitigated is filed as a dispute (202) and needs a reason too; the rated party cannot set closed (403).",
            "allOf": [
                {
                    "type": "object",
                    "additionalProperties": false,
                    "required": ["state"],
                    "properties": {
                        "state": { "$ref": "#/components/schemas/FindingState" },
                        "reason": { "type": ["string", "null"], "minLength": 1, "maxLength": 4000, "pattern": cyrisk_core::schema::NOT_BLANK, "description": "Why (required for attestations and disputes)." },
                        "evidence": { "type": ["string", "null"], "minLength": 1, "maxLength": 16000, "pattern": cyrisk_core::schema::NOT_BLANK, "description": "What supports it: a reference, a link, a re-test's output." }
                    }
                },
                {
                    "oneOf": [
                        { "type": "object", "properties": { "state": { "type": "string", "enum": names(plain) } } },
                        { "type": "object", "properties": { "state": { "type": "string", "enum": names(attest) }, "reason": { "type": "string" } }, "required": ["reason"] }
                    ]
                }
            ]
        }))
        .expect("an OpenAPI 3.1 schema")
    }
}

impl ToSchema for StateUpdateDoc {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed("StateUpdate")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The OpenAPI translation keeps every keyword of the JSON Schema (with `const` spelled
    /// as a one-value `enum`): nothing of the documented contract is silently dropped.
    fn lossless<T: JsonSchema>() {
        let mut want = serde_json::to_value(schemars::schema_for!(T)).unwrap();
        const_to_enum(&mut want);
        let want = serde_json::from_str::<serde_json::Value>(
            &want
                .to_string()
                .replace("\"#/$defs/", "\"#/components/schemas/"),
        )
        .unwrap();
        let (root, nested) = translate::<T>();
        let mut got = serde_json::to_value(root).unwrap();
        let defs: serde_json::Map<_, _> = nested
            .into_iter()
            .map(|(k, v)| (k, serde_json::to_value(v).unwrap()))
            .collect();
        let map = got.as_object_mut().unwrap();
        if !defs.is_empty() {
            map.insert("$defs".into(), defs.into());
        }
        for key in ["$schema", "title"] {
            if let Some(v) = want.get(key) {
                map.insert(key.into(), v.clone());
            }
        }
        // Numbers compare by value (`10` and `10.0` are the same bound).
        assert_eq!(numbers_as_floats(got), numbers_as_floats(want));
    }

    fn numbers_as_floats(v: serde_json::Value) -> serde_json::Value {
        use serde_json::Value;
        match v {
            Value::Number(n) => n.as_f64().map_or(Value::Number(n), |f| f.into()),
            Value::Array(a) => a.into_iter().map(numbers_as_floats).collect(),
            Value::Object(m) => m
                .into_iter()
                .map(|(k, v)| (k, numbers_as_floats(v)))
                .collect(),
            other => other,
        }
    }

    #[test]
    fn translations_are_lossless() {
        lossless::<cyrisk_core::AssessmentBundle>();
        lossless::<cyrisk_core::Rating>();
        lossless::<cyrisk_core::Plan>();
        lossless::<cyrisk_core::finding::Finding>();
    }
}
