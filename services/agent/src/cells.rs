//! Typed cells (`google.protobuf.Value`) as the rest of the crate reads them:
//! display text, numbers, and the `column: value` line used in prompts.

use sheetmesh_proto::pbjson_types::{Value, value::Kind};
use sheetmesh_proto::v1::{Citation, Field};

/// A cell as text: numbers without a trailing `.0`, booleans as
/// `true`/`false`, null as the empty string.
pub fn cell_text(value: &Value) -> String {
    match &value.kind {
        Some(Kind::StringValue(s)) => s.clone(),
        Some(Kind::NumberValue(n)) => format_number(*n),
        Some(Kind::BoolValue(b)) => b.to_string(),
        Some(Kind::NullValue(_)) | None => String::new(),
        // Sheets never produce lists or structs; show them as JSON-ish text.
        Some(Kind::ListValue(list)) => list.values.iter().map(cell_text).collect::<Vec<_>>().join(", "),
        Some(Kind::StructValue(_)) => String::new(),
    }
}

/// The cell as a number: number cells, and text cells that parse as one
/// (sheets often hold numbers as text, e.g. "12.50").
pub fn cell_number(value: &Value) -> Option<f64> {
    match &value.kind {
        Some(Kind::NumberValue(n)) => Some(*n),
        Some(Kind::StringValue(s)) => parse_number(s),
        _ => None,
    }
}

/// True for null or empty-text cells.
pub fn cell_is_empty(value: &Value) -> bool {
    match &value.kind {
        Some(Kind::NullValue(_)) | None => true,
        Some(Kind::StringValue(s)) => s.trim().is_empty(),
        _ => false,
    }
}

/// Parses `12`, `12.5`, `-3`, `1,234.5` (thousands separators) as numbers.
pub fn parse_number(text: &str) -> Option<f64> {
    let trimmed = text.trim();
    if trimmed.is_empty() {
        return None;
    }
    let cleaned: String = trimmed.chars().filter(|c| *c != ',').collect();
    cleaned.parse::<f64>().ok().filter(|n| n.is_finite())
}

/// `12.5` → "12.5", `20.0` → "20".
pub fn format_number(n: f64) -> String {
    if n.fract() == 0.0 && n.abs() < 1e15 { format!("{}", n as i64) } else { format!("{n}") }
}

/// A cell from a JSON value (tool-call arguments, cached rows).
pub fn value_from_json(json: &serde_json::Value) -> Value {
    let kind = match json {
        serde_json::Value::Null => Kind::NullValue(0),
        serde_json::Value::Bool(b) => Kind::BoolValue(*b),
        serde_json::Value::Number(n) => Kind::NumberValue(n.as_f64().unwrap_or(0.0)),
        serde_json::Value::String(s) => Kind::StringValue(s.clone()),
        other => Kind::StringValue(other.to_string()),
    };
    Value { kind: Some(kind) }
}

/// A cell as JSON, for tool results.
pub fn value_to_json(value: &Value) -> serde_json::Value {
    match &value.kind {
        Some(Kind::StringValue(s)) => serde_json::Value::String(s.clone()),
        Some(Kind::NumberValue(n)) => serde_json::Number::from_f64(*n).map_or(serde_json::Value::Null, |n| {
            if let Some(i) = n.as_f64().filter(|f| f.fract() == 0.0 && f.abs() < 9e15) {
                serde_json::Value::from(i as i64)
            } else {
                serde_json::Value::Number(n)
            }
        }),
        Some(Kind::BoolValue(b)) => serde_json::Value::Bool(*b),
        _ => serde_json::Value::Null,
    }
}

/// A string cell.
pub fn text(s: impl Into<String>) -> Value {
    Value { kind: Some(Kind::StringValue(s.into())) }
}

/// A number cell.
pub fn number(n: f64) -> Value {
    Value { kind: Some(Kind::NumberValue(n)) }
}

/// An empty cell.
pub fn null() -> Value {
    Value { kind: Some(Kind::NullValue(0)) }
}

/// `[Products row 43] sku: SKU-0042; name: Widget; price: 12.5` — the one-line
/// form of a row used in prompts and retrieval-only answers. Empty cells are
/// left out: they carry no evidence and cost tokens.
pub fn citation_line(citation: &Citation) -> String {
    let mut line = format!("[{} row {}]", citation.sheet, citation.row);
    let mut first = true;
    for field in &citation.values {
        let Some(value) = &field.value else { continue };
        if cell_is_empty(value) {
            continue;
        }
        line.push_str(if first { " " } else { "; " });
        first = false;
        line.push_str(&field.column);
        line.push_str(": ");
        line.push_str(&cell_text(value).replace('\n', " "));
    }
    line
}

/// Zips column names and cells into the `Field`s of a citation.
pub fn fields(columns: &[String], cells: &[Value]) -> Vec<Field> {
    columns.iter().zip(cells.iter()).map(|(column, value)| Field { column: column.clone(), value: Some(value.clone()) }).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_print_without_trailing_zero_and_parse_with_separators() {
        assert_eq!(format_number(20.0), "20");
        assert_eq!(format_number(12.5), "12.5");
        assert_eq!(parse_number(" 1,234.5 "), Some(1234.5));
        assert_eq!(parse_number("SKU-1"), None);
    }

    #[test]
    fn citation_line_skips_empty_cells() {
        let citation = Citation {
            sheet: "Products".into(),
            spreadsheet: "inventory.xlsx".into(),
            row: 43,
            values: fields(&["sku".into(), "name".into(), "note".into(), "price".into()], &[text("SKU-0042"), text("Widget"), null(), number(12.5)]),
            score: 1.0,
        };
        assert_eq!(citation_line(&citation), "[Products row 43] sku: SKU-0042; name: Widget; price: 12.5");
    }
}
