//! The tools as the LLM sees them: OpenAI function definitions (JSON schema)
//! and execution from a tool call's JSON arguments.

use std::sync::Arc;

use serde::Deserialize;
use serde_json::{Value as Json, json};
use sheetmesh_proto::v1::Citation;

use super::{AggregateOp, Condition, aggregate, filter_rows};
use crate::cells::{format_number, value_to_json};
use crate::error::{Error, Result};
use crate::index::{Sheet, find_sheet};

/// Name of the filter tool.
pub const FILTER_ROWS: &str = "filter_rows";
/// Name of the aggregate tool.
pub const AGGREGATE: &str = "aggregate";
/// Rows a `filter_rows` result returns at most (the count is always exact).
pub const MAX_ROWS_RETURNED: usize = 50;
/// Rows of a tool result cited at most: enough to show the evidence without
/// flooding the answer with thousands of citations.
pub const MAX_CITED_ROWS: usize = 20;

/// What a tool call produced: the JSON sent back to the model and the rows it
/// read, as citations.
#[derive(Debug, Clone, PartialEq)]
pub struct ToolOutput {
    /// The tool message content.
    pub content: Json,
    /// Rows the result is based on (at most [`MAX_CITED_ROWS`]).
    pub citations: Vec<Citation>,
}

/// The OpenAI `tools` array for the sheets in scope; descriptions list the
/// sheets and their columns so the model can name them exactly.
pub fn definitions(sheets: &[Arc<Sheet>]) -> Vec<Json> {
    let catalogue = sheets.iter().map(|s| format!("{} ({} rows; columns: {})", s.name, s.rows.len(), s.columns.join(", "))).collect::<Vec<_>>().join("; ");
    let names: Vec<&str> = sheets.iter().map(|s| s.name.as_str()).collect();
    let conditions = json!({
        "type": "array",
        "description": "All must hold. Numbers compare numerically, text ignoring case.",
        "items": {
            "type": "object",
            "properties": {
                "column": {"type": "string"},
                "op": {"type": "string", "enum": ["eq", "ne", "lt", "le", "gt", "ge", "contains"]},
                "value": {"type": ["string", "number", "boolean"]}
            },
            "required": ["column", "op", "value"],
            "additionalProperties": false
        }
    });
    vec![
        json!({
            "type": "function",
            "function": {
                "name": FILTER_ROWS,
                "description": format!("Rows of a sheet matching conditions, with the exact number of matches. Sheets: {catalogue}"),
                "parameters": {
                    "type": "object",
                    "properties": {
                        "sheet": {"type": "string", "enum": names},
                        "conditions": conditions,
                        "limit": {"type": "integer", "minimum": 1, "maximum": MAX_ROWS_RETURNED}
                    },
                    "required": ["sheet"],
                    "additionalProperties": false
                }
            }
        }),
        json!({
            "type": "function",
            "function": {
                "name": AGGREGATE,
                "description": format!("Exact count, sum, avg, min or max of a column over the rows matching conditions. Use it for any counting or arithmetic. Sheets: {catalogue}"),
                "parameters": {
                    "type": "object",
                    "properties": {
                        "sheet": {"type": "string", "enum": names},
                        "column": {"type": "string", "description": "Required except for count."},
                        "op": {"type": "string", "enum": ["count", "sum", "avg", "min", "max"]},
                        "conditions": conditions
                    },
                    "required": ["sheet", "op"],
                    "additionalProperties": false
                }
            }
        }),
    ]
}

#[derive(Debug, Deserialize)]
struct FilterArgs {
    sheet: String,
    #[serde(default)]
    spreadsheet: Option<String>,
    #[serde(default)]
    conditions: Vec<Condition>,
    #[serde(default)]
    limit: Option<usize>,
}

#[derive(Debug, Deserialize)]
struct AggregateArgs {
    sheet: String,
    #[serde(default)]
    spreadsheet: Option<String>,
    #[serde(default)]
    column: Option<String>,
    op: AggregateOp,
    #[serde(default)]
    conditions: Vec<Condition>,
}

fn parse<T: for<'de> Deserialize<'de>>(tool: &str, arguments: &str) -> Result<T> {
    // Models sometimes send an empty string for "no arguments".
    let arguments = if arguments.trim().is_empty() { "{}" } else { arguments };
    serde_json::from_str(arguments).map_err(|e| Error::ToolArguments { tool: tool.into(), message: e.to_string() })
}

/// Runs the tool `name` with the JSON `arguments` of a tool call, over the
/// sheets in scope (the same versions the answer-cache key names).
pub fn execute(scope: &[Arc<Sheet>], name: &str, arguments: &str) -> Result<ToolOutput> {
    match name {
        FILTER_ROWS => {
            let args: FilterArgs = parse(name, arguments)?;
            let sheet = find_sheet(scope, &args.sheet, args.spreadsheet.as_deref())?;
            let rows = filter_rows(&sheet, &args.conditions)?;
            let limit = args.limit.unwrap_or(20).clamp(1, MAX_ROWS_RETURNED);
            let shown: Vec<Json> = rows
                .iter()
                .take(limit)
                .map(|row| {
                    let mut object = serde_json::Map::new();
                    object.insert("row".into(), json!(row.number));
                    for (column, cell) in sheet.columns.iter().zip(&row.cells) {
                        object.insert(column.clone(), value_to_json(cell));
                    }
                    Json::Object(object)
                })
                .collect();
            Ok(ToolOutput {
                content: json!({"sheet": sheet.name, "matched": rows.len(), "returned": shown.len(), "rows": shown}),
                citations: rows.iter().take(limit.min(MAX_CITED_ROWS)).map(|r| sheet.citation(r, 1.0)).collect(),
            })
        }
        AGGREGATE => {
            let args: AggregateArgs = parse(name, arguments)?;
            let sheet = find_sheet(scope, &args.sheet, args.spreadsheet.as_deref())?;
            let result = aggregate(&sheet, args.column.as_deref(), args.op, &args.conditions)?;
            let citations = result.rows.iter().take(MAX_CITED_ROWS).filter_map(|n| sheet.row(*n)).map(|r| sheet.citation(r, 1.0)).collect();
            Ok(ToolOutput {
                content: json!({
                    "sheet": sheet.name,
                    "op": args.op,
                    "column": result.column,
                    // Numbers as the sheet would show them (no 82.49000000001).
                    "value": result.value.map(|v| json!(format_number(round_display(v)))),
                    "rows_matched": result.rows_matched,
                    "values_used": result.values_used,
                }),
                citations,
            })
        }
        other => Err(Error::ToolArguments { tool: other.into(), message: format!("no such tool; available tools are {FILTER_ROWS} and {AGGREGATE}") }),
    }
}

/// Rounds away float noise below 1e-9 relative, keeping real precision.
fn round_display(v: f64) -> f64 {
    let rounded = (v * 1e9).round() / 1e9;
    if rounded.is_finite() { rounded } else { v }
}

/// The tool message for an error, so the model can correct its call.
pub fn error_content(err: &Error) -> Json {
    json!({"error": err.to_string()})
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cells::{number, text};
    use crate::index::SheetIndex;
    use sheetmesh_proto::v1::Row;

    fn index() -> SheetIndex {
        let index = SheetIndex::new().unwrap();
        let rows =
            (0..1000).map(|i| Row { number: i + 2, cells: vec![text(if i % 4 == 0 { "Kitchen" } else { "Garden" }), number(f64::from(i % 40))] }).collect();
        index.replace_sheet("inv.xlsx", "Products", "v1", vec!["category".into(), "price".into()], rows).unwrap();
        index
    }

    #[test]
    fn aggregate_from_tool_call_json_is_exact() {
        let index = index();
        let args =
            r#"{"sheet":"products","op":"count","conditions":[{"column":"category","op":"eq","value":"kitchen"},{"column":"price","op":"lt","value":20}]}"#;
        let out = execute(&index.sheets(), AGGREGATE, args).unwrap();
        // i % 4 == 0 and i % 40 < 20: i % 40 in {0,4,8,12,16} → 5 of every 40 → 125.
        assert_eq!(out.content["value"], json!("125"));
        assert_eq!(out.content["rows_matched"], json!(125));
        assert_eq!(out.citations.len(), MAX_CITED_ROWS);
    }

    #[test]
    fn filter_rows_returns_exact_count_and_limited_rows() {
        let index = index();
        let args = r#"{"sheet":"Products","conditions":[{"column":"price","op":"eq","value":"39"}],"limit":3}"#;
        let out = execute(&index.sheets(), FILTER_ROWS, args).unwrap();
        assert_eq!(out.content["matched"], json!(25));
        assert_eq!(out.content["rows"].as_array().unwrap().len(), 3);
        assert_eq!(out.content["rows"][0]["price"], json!(39));
    }

    #[test]
    fn errors_are_clear_for_unknown_sheets_columns_and_tools() {
        let index = index();
        let err = execute(&index.sheets(), AGGREGATE, r#"{"sheet":"Orders","op":"count"}"#).unwrap_err();
        assert_eq!(err.to_string(), "unknown sheet \"Orders\"; known sheets: Products");
        let err = execute(&index.sheets(), FILTER_ROWS, r#"{"sheet":"Products","conditions":[{"column":"cost","op":"lt","value":1}]}"#).unwrap_err();
        assert!(err.to_string().contains("no column \"cost\""), "{err}");
        let err = execute(&index.sheets(), "drop_table", "{}").unwrap_err();
        assert!(err.to_string().contains("no such tool"), "{err}");
        assert!(execute(&index.sheets(), AGGREGATE, "{not json").is_err());
    }

    #[test]
    fn definitions_name_sheets_and_columns() {
        let index = index();
        let defs = definitions(&index.sheets());
        assert_eq!(defs.len(), 2);
        assert_eq!(defs[1]["function"]["name"], json!("aggregate"));
        assert!(defs[1]["function"]["description"].as_str().unwrap().contains("Products (1000 rows; columns: category, price)"));
    }
}
