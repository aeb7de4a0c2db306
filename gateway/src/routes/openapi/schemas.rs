//! JSON Schemas of the proto messages, generated from the descriptors and
//! following the proto3 JSON mapping exactly as [`crate::json`] applies it,
//! so the document cannot drift from the wire.
//!
//! Each message gets two schemas: `Name` as the gateway writes it (every
//! field present — unpopulated ones with their defaults — 64-bit integers
//! as strings, unset messages as `null`) and, for request messages and what
//! they contain, `NameInput` as the gateway reads it (every field optional
//! unless listed in [`REQUIRED_INPUT`], unknown fields refused).

use prost_reflect::{FieldDescriptor, Kind, MessageDescriptor};
use serde_json::{Map, Value, json};

use crate::json::{is_well_known, pool};

/// Request fields the gateway itself requires (400 when missing).
pub const REQUIRED_INPUT: &[(&str, &str)] = &[("sheetmesh.v1.ChatRequest", "message"), ("sheetmesh.v1.SearchRequest", "query")];

/// Limits the services enforce on request fields (documented so that
/// generated clients and fuzzers send what is accepted).
fn input_constraints(message: &str, field: &str) -> Option<Value> {
    let id = "^[A-Za-z0-9._-]{0,128}$";
    Some(match (message, field) {
        ("sheetmesh.v1.ChatRequest", "message") => json!({ "minLength": 1, "maxLength": 8000, "pattern": "\\S" }),
        ("sheetmesh.v1.ChatRequest", "conversation_id") => json!({ "pattern": id }),
        ("sheetmesh.v1.SearchRequest", "query") => json!({ "minLength": 1, "maxLength": 2000, "pattern": "\\S" }),
        ("sheetmesh.v1.SearchRequest", "limit") => json!({ "maximum": 100 }),
        _ => return None,
    })
}

/// Which way a schema describes a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// As the gateway writes it.
    Output,
    /// As the gateway reads it.
    Input,
}

/// The component name of `message` in `direction`.
pub fn component_name(message: &MessageDescriptor, direction: Direction) -> String {
    match direction {
        Direction::Output => message.name().to_owned(),
        Direction::Input => format!("{}Input", message.name()),
    }
}

/// Output schemas of every `sheetmesh.v1` message, and input schemas of
/// `inputs` and every message they reach.
pub fn components(inputs: &[&str]) -> Map<String, Value> {
    let mut schemas = Map::new();
    for message in pool().all_messages().filter(|message| message.package_name() == "sheetmesh.v1" && !message.is_map_entry()) {
        schemas.insert(component_name(&message, Direction::Output), schema(&message, Direction::Output));
    }
    let mut pending: Vec<MessageDescriptor> = inputs.iter().filter_map(|name| pool().get_message_by_name(name)).collect();
    while let Some(message) = pending.pop() {
        let name = component_name(&message, Direction::Input);
        if schemas.contains_key(&name) {
            continue;
        }
        schemas.insert(name, schema(&message, Direction::Input));
        for field in message.fields() {
            if let Some(inner) = referenced(&field) {
                pending.push(inner);
            }
        }
    }
    schemas
}

/// The message a field refers to by `$ref` (not well-known types).
fn referenced(field: &FieldDescriptor) -> Option<MessageDescriptor> {
    let kind = if field.is_map() {
        match field.kind() {
            Kind::Message(entry) => entry.map_entry_value_field().kind(),
            other => other,
        }
    } else {
        field.kind()
    };
    match kind {
        Kind::Message(message) if !is_well_known(&message) => Some(message),
        _ => None,
    }
}

fn schema(message: &MessageDescriptor, direction: Direction) -> Value {
    let mut properties = Map::new();
    let mut required = Vec::new();
    for field in message.fields() {
        let mut property = field_schema(&field, direction);
        if direction == Direction::Input
            && let (Some(Value::Object(limits)), Value::Object(target)) = (input_constraints(message.full_name(), field.name()), &mut property)
        {
            target.extend(limits);
        }
        properties.insert(field.json_name().to_owned(), property);
        let listed = REQUIRED_INPUT.iter().any(|(owner, name)| *owner == message.full_name() && *name == field.name());
        let emitted = direction == Direction::Output && field.containing_oneof().is_none();
        if emitted || (direction == Direction::Input && listed) {
            required.push(Value::String(field.json_name().to_owned()));
        }
    }
    let mut schema = json!({ "type": "object", "properties": properties, "required": required });
    if direction == Direction::Input {
        schema["additionalProperties"] = Value::Bool(false);
    }
    let oneofs: Vec<Value> = message
        .oneofs()
        .filter(|oneof| !oneof.is_synthetic())
        .map(|oneof| {
            Value::String(format!(
                "{}: at most one of {}",
                oneof.name(),
                oneof.fields().map(|field| field.json_name().to_owned()).collect::<Vec<_>>().join(", ")
            ))
        })
        .collect();
    if !oneofs.is_empty() {
        schema["description"] = Value::String(oneofs.iter().filter_map(Value::as_str).collect::<Vec<_>>().join("; "));
    }
    schema
}

fn field_schema(field: &FieldDescriptor, direction: Direction) -> Value {
    if field.is_map() {
        let Kind::Message(entry) = field.kind() else { return json!({ "type": "object" }) };
        return json!({ "type": "object", "additionalProperties": element_schema(&entry.map_entry_value_field().kind(), direction, false) });
    }
    if field.is_list() {
        return json!({ "type": "array", "items": element_schema(&field.kind(), direction, false) });
    }
    // A singular message field is `null` when unset (output) and may be
    // sent as `null` (input).
    element_schema(&field.kind(), direction, true)
}

fn element_schema(kind: &Kind, direction: Direction, nullable_message: bool) -> Value {
    match kind {
        Kind::String => json!({ "type": "string" }),
        Kind::Bytes => json!({ "type": "string", "contentEncoding": "base64" }),
        Kind::Bool => json!({ "type": "boolean" }),
        Kind::Int32 | Kind::Sint32 | Kind::Sfixed32 => json!({ "type": "integer", "format": "int32" }),
        Kind::Uint32 | Kind::Fixed32 => json!({ "type": "integer", "format": "int32", "minimum": 0, "maximum": u32::MAX }),
        Kind::Int64 | Kind::Sint64 | Kind::Sfixed64 | Kind::Uint64 | Kind::Fixed64 => {
            let unsigned = matches!(kind, Kind::Uint64 | Kind::Fixed64);
            let pattern = if unsigned { "^[0-9]+$" } else { "^-?[0-9]+$" };
            match direction {
                // proto3 JSON writes 64-bit integers as decimal strings …
                Direction::Output => json!({ "type": "string", "pattern": pattern, "format": if unsigned { "uint64" } else { "int64" } }),
                // … and reads strings or numbers.
                Direction::Input => {
                    json!({ "oneOf": [{ "type": "string", "pattern": pattern }, { "type": "integer", "minimum": if unsigned { 0 } else { i64::MIN } }] })
                }
            }
        }
        Kind::Float | Kind::Double => json!({ "type": "number" }),
        Kind::Enum(enumeration) => json!({ "type": "string", "enum": enumeration.values().map(|value| value.name().to_owned()).collect::<Vec<_>>() }),
        Kind::Message(message) if is_well_known(message) => well_known(message, nullable_message),
        Kind::Message(message) => {
            let reference = json!({ "$ref": format!("#/components/schemas/{}", component_name(message, direction)) });
            if nullable_message { json!({ "oneOf": [reference, { "type": "null" }] }) } else { reference }
        }
    }
}

fn well_known(message: &MessageDescriptor, nullable: bool) -> Value {
    let mut schema = match message.name() {
        "Timestamp" => json!({ "type": "string", "format": "date-time" }),
        "Duration" => json!({ "type": "string", "pattern": "^-?[0-9]+(\\.[0-9]+)?s$" }),
        // A cell: number, boolean, string or null — any JSON value.
        "Value" => return json!({}),
        "Struct" => json!({ "type": "object" }),
        "ListValue" => json!({ "type": "array" }),
        "Empty" => json!({ "type": "object" }),
        _ => return json!({}),
    };
    if nullable {
        let kind = schema["type"].take();
        schema["type"] = json!([kind, "null"]);
    }
    schema
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_message_has_an_output_schema_with_every_field() {
        let schemas = components(&["sheetmesh.v1.ChatRequest"]);
        let chat = &schemas["ChatResponse"];
        for field in ["conversationId", "answer", "citations", "model", "cached", "degraded", "degradedReason"] {
            assert!(chat["properties"].get(field).is_some(), "{field}");
            assert!(chat["required"].as_array().unwrap().contains(&json!(field)), "{field}");
        }
        assert_eq!(schemas["SheetInfo"]["properties"]["rowCount"]["type"], "string");
        assert_eq!(schemas["SheetInfo"]["properties"]["syncedAt"]["type"], json!(["string", "null"]));
        assert_eq!(schemas["Field"]["properties"]["value"], json!({}));
        assert_eq!(schemas["ChatTurn"]["properties"]["role"]["enum"], json!(["ROLE_UNSPECIFIED", "USER", "ASSISTANT"]));
    }

    #[test]
    fn request_messages_get_input_schemas_with_their_required_fields() {
        let schemas = components(&["sheetmesh.v1.ChatRequest"]);
        let input = &schemas["ChatRequestInput"];
        assert_eq!(input["required"], json!(["message"]));
        assert_eq!(input["additionalProperties"], false);
        assert_eq!(input["properties"]["history"]["items"]["$ref"], "#/components/schemas/ChatTurnInput");
        assert!(schemas.contains_key("CitationInput"), "reached through ChatTurn.citations");
        assert_eq!(schemas["ChatTurnInput"]["required"], json!([]));
    }
}
