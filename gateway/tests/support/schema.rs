//! A small JSON Schema checker for the subset `/openapi.json` uses ($ref,
//! type, required, properties, additionalProperties, items, enum, const,
//! oneOf), to compare real responses with the published document.

#![allow(dead_code)]

use serde_json::Value;

/// Checks `value` against `schema`, resolving `$ref`s in `spec`; returns
/// every violation as `path: problem`.
pub fn violations(spec: &Value, schema: &Value, value: &Value) -> Vec<String> {
    let mut found = Vec::new();
    check(spec, schema, value, "$", &mut found);
    found
}

/// The schema of a named component.
pub fn component<'a>(spec: &'a Value, name: &str) -> &'a Value {
    spec["components"]["schemas"].get(name).unwrap_or_else(|| panic!("no component {name}"))
}

/// The schema of `status`'s JSON response of `method path`.
pub fn response_schema<'a>(spec: &'a Value, path: &str, method: &str, status: &str) -> &'a Value {
    let responses = &spec["paths"][path][method]["responses"];
    let response = responses.get(status).or_else(|| responses.get("default")).unwrap_or_else(|| panic!("{method} {path} does not document {status}"));
    &response["content"]["application/json"]["schema"]
}

fn check(spec: &Value, schema: &Value, value: &Value, path: &str, found: &mut Vec<String>) {
    if let Some(reference) = schema.get("$ref").and_then(Value::as_str) {
        let name = reference.trim_start_matches("#/components/schemas/");
        return check(spec, component(spec, name), value, path, found);
    }
    if let Some(options) = schema.get("oneOf").and_then(Value::as_array) {
        let matching = options.iter().filter(|option| violations(spec, option, value).is_empty()).count();
        if matching != 1 {
            found.push(format!("{path}: matches {matching} of oneOf"));
        }
        return;
    }
    if let Some(constant) = schema.get("const")
        && constant != value
    {
        found.push(format!("{path}: expected {constant}, got {value}"));
    }
    if let Some(options) = schema.get("enum").and_then(Value::as_array)
        && !options.contains(value)
    {
        found.push(format!("{path}: {value} not in {options:?}"));
    }
    if let Some(types) = schema.get("type") {
        let types: Vec<&str> = match types {
            Value::String(one) => vec![one.as_str()],
            Value::Array(many) => many.iter().filter_map(Value::as_str).collect(),
            _ => Vec::new(),
        };
        let actual = match value {
            Value::Null => "null",
            Value::Bool(_) => "boolean",
            Value::Number(number) if number.is_i64() || number.is_u64() => "integer",
            Value::Number(_) => "number",
            Value::String(_) => "string",
            Value::Array(_) => "array",
            Value::Object(_) => "object",
        };
        let ok = types.contains(&actual) || (actual == "integer" && types.contains(&"number"));
        if !ok {
            found.push(format!("{path}: expected type {types:?}, got {value}"));
            return;
        }
    }
    if let Value::Object(object) = value {
        for name in schema.get("required").and_then(Value::as_array).into_iter().flatten().filter_map(Value::as_str) {
            if !object.contains_key(name) {
                found.push(format!("{path}: missing required {name}"));
            }
        }
        let properties = schema.get("properties").and_then(Value::as_object);
        for (name, item) in object {
            match properties.and_then(|properties| properties.get(name)) {
                Some(property) => check(spec, property, item, &format!("{path}.{name}"), found),
                None => match schema.get("additionalProperties") {
                    Some(Value::Bool(false)) => found.push(format!("{path}: unexpected property {name}")),
                    Some(extra @ Value::Object(_)) => check(spec, extra, item, &format!("{path}.{name}"), found),
                    _ => {}
                },
            }
        }
    }
    if let (Value::Array(items), Some(item_schema)) = (value, schema.get("items")) {
        for (index, item) in items.iter().enumerate() {
            check(spec, item_schema, item, &format!("{path}[{index}]"), found);
        }
    }
}
