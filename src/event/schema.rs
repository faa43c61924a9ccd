//! The JSON Schema of the public JSON Lines contract, generated from the Rust types.
//!
//! `schemas/events.v1.schema.json` is this function's output, committed; a test fails
//! when the two differ, so the types and the published schema cannot drift. Run
//! `LEDGER_UPDATE_SCHEMAS=1 cargo test schema` after a deliberate change to the types
//! (and say in the change why it is compatible, or bump the version).

use schemars::{Schema, SchemaGenerator, json_schema};
use serde_json::{Map, Value, json};

use super::{Payload, Timestamp};

/// Version of the JSON contract (additions keep it; changed meanings bump it).
pub const JSON_CONTRACT_VERSION: u32 = 1;

/// The schema of one JSON Lines event: `type` + `ts` (+ `recv_ts`, `seq`) beside the
/// fields of the payload named by `type`.
pub fn event_schema() -> Value {
    let mut generator = SchemaGenerator::default();
    let timestamp = generator.subschema_for::<Timestamp>();
    let kinds: Vec<Value> = Payload::json_schemas(&mut generator)
        .into_iter()
        .map(|(kind, fields)| {
            json!({
                "if": { "properties": { "type": { "const": kind } }, "required": ["type"] },
                "then": fields.to_value(),
            })
        })
        .collect();
    let head: Schema = json_schema!({
        "type": "object",
        "required": ["type", "ts"],
        "properties": {
            "type": { "enum": Payload::KINDS },
            "ts": timestamp.clone().to_value(),
            "recv_ts": { "anyOf": [timestamp.clone().to_value(), { "type": "null" }] },
            "seq": { "type": "integer", "minimum": 1,
                     "description": "Position in the log; written by export, ignored by import." },
        },
    });
    let defs: Map<String, Value> = generator.take_definitions(true).into_iter().collect();
    json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": format!("https://ledger.invalid/schemas/events.v{JSON_CONTRACT_VERSION}.schema.json"),
        "title": "ledger event, one JSON Lines record",
        "description": "Decimals are strings in plain notation; times are RFC 3339 UTC. Keys a reader does not know are ignored, so adding fields is compatible.",
        // One `if type == kind then <kind's fields>` per kind, all applied: exactly one
        // `if` holds for a valid `type`, the others are vacuously true.
        "allOf": std::iter::once(head.to_value()).chain(kinds).collect::<Vec<_>>(),
        "$defs": defs,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const COMMITTED: &str = include_str!("../../schemas/events.v1.schema.json");

    #[test]
    fn the_committed_schema_matches_the_types() {
        let generated = serde_json::to_string_pretty(&event_schema()).unwrap() + "\n";
        if std::env::var_os("LEDGER_UPDATE_SCHEMAS").is_some() {
            let path = concat!(env!("CARGO_MANIFEST_DIR"), "/schemas/events.v1.schema.json");
            std::fs::write(path, &generated).unwrap();
            return;
        }
        assert!(
            generated == COMMITTED,
            "schemas/events.v1.schema.json is out of date with the Rust types; \
             review the change, then run LEDGER_UPDATE_SCHEMAS=1 cargo test schema"
        );
    }

    #[test]
    fn every_kind_is_in_the_schema_with_its_required_fields() {
        let schema: Value = serde_json::from_str(COMMITTED).unwrap();
        let kinds: Vec<&Value> = schema["allOf"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|k| k.get("if").is_some())
            .collect();
        assert_eq!(kinds.len(), Payload::KINDS.len());
        let fill = kinds
            .iter()
            .find(|k| k["if"]["properties"]["type"]["const"] == "fill")
            .expect("fill is described");
        let reference = fill["then"]["$ref"]
            .as_str()
            .unwrap()
            .rsplit('/')
            .next()
            .unwrap();
        let required = &schema["$defs"][reference]["required"];
        for field in [
            "venue",
            "book",
            "instrument",
            "exec_id",
            "side",
            "px",
            "qty",
            "fee",
            "liquidity",
        ] {
            assert!(
                required.as_array().unwrap().iter().any(|f| f == field),
                "fill requires {field}"
            );
        }
    }
}
