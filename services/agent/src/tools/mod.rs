//! Exact answers over typed cells: `filter_rows` and `aggregate`.
//!
//! Retrieval finds rows that look relevant; it cannot count. "How many kitchen
//! items cost under 20?" is answered here, over every row of the sheet, and
//! the LLM reaches these functions through tool calls ([`openai`]), and an
//! answer without an LLM through the comparison [`phrase`] reads from the
//! question.

pub mod openai;
pub mod phrase;

use serde::{Deserialize, Serialize};
use sheetmesh_proto::pbjson_types::{Value, value::Kind};
use sheetmesh_proto::v1::Row;

use crate::cells::{cell_is_empty, cell_number, cell_text, parse_number};
use crate::error::{Error, Result};
use crate::index::Sheet;

/// How a cell is compared with a condition's value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CompareOp {
    /// Equal: numerically when both sides are numbers, else text, ignoring case.
    Eq,
    /// Not equal.
    Ne,
    /// Less than.
    Lt,
    /// Less than or equal.
    Le,
    /// Greater than.
    Gt,
    /// Greater than or equal.
    Ge,
    /// The cell's text contains the value, ignoring case.
    Contains,
}

/// One condition on a column; a row matches when all conditions hold.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Condition {
    /// Column name (matched case-insensitively).
    pub column: String,
    /// Comparison.
    pub op: CompareOp,
    /// A number, text or boolean.
    pub value: serde_json::Value,
}

/// What `aggregate` computes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AggregateOp {
    /// Matching rows (or, with a column, matching rows with a non-empty cell).
    Count,
    /// Sum of the numeric cells.
    Sum,
    /// Mean of the numeric cells.
    Avg,
    /// Smallest numeric cell.
    Min,
    /// Largest numeric cell.
    Max,
}

/// The result of [`aggregate`].
#[derive(Debug, Clone, PartialEq)]
pub struct Aggregate {
    /// What was computed.
    pub op: AggregateOp,
    /// The column, as named in the sheet.
    pub column: Option<String>,
    /// The result; `None` when no numeric cell matched (sum/avg/min/max).
    pub value: Option<f64>,
    /// Rows that met the conditions.
    pub rows_matched: usize,
    /// Cells that went into the value (numeric cells for sum/avg/min/max).
    pub values_used: usize,
    /// Row numbers of the matching rows, in sheet order.
    pub rows: Vec<u32>,
}

/// A condition with its column resolved and its value classified once, so
/// that scanning 100k rows does no parsing of the condition.
#[derive(Debug)]
struct Compiled {
    column: usize,
    op: CompareOp,
    number: Option<f64>,
    text: String,
}

fn compile(sheet: &Sheet, conditions: &[Condition]) -> Result<Vec<Compiled>> {
    conditions
        .iter()
        .map(|c| {
            let column = resolve_column(sheet, &c.column)?;
            let (number, text) = match &c.value {
                serde_json::Value::Number(n) => (n.as_f64(), n.to_string()),
                serde_json::Value::String(s) => (parse_number(s), s.trim().to_lowercase()),
                serde_json::Value::Bool(b) => (None, b.to_string()),
                serde_json::Value::Null => (None, String::new()),
                other => (None, other.to_string().to_lowercase()),
            };
            Ok(Compiled { column, op: c.op, number, text })
        })
        .collect()
}

/// The index of `column` in `sheet`, or an error listing its columns.
pub fn resolve_column(sheet: &Sheet, column: &str) -> Result<usize> {
    sheet.column_index(column).ok_or_else(|| Error::UnknownColumn { sheet: sheet.name.clone(), column: column.to_owned(), known: sheet.columns.join(", ") })
}

impl Compiled {
    fn matches(&self, row: &Row) -> bool {
        let null = Value { kind: Some(Kind::NullValue(0)) };
        let cell = row.cells.get(self.column).unwrap_or(&null);
        let numbers = self.number.zip(cell_number(cell));
        let cell_lower = || cell_text(cell).trim().to_lowercase();
        let ordering = || match numbers {
            Some((target, value)) => value.partial_cmp(&target),
            // Text order (ISO dates sort right); empty cells have no order.
            None if cell_is_empty(cell) => None,
            None => Some(cell_lower().as_str().cmp(self.text.as_str())),
        };
        let equal = || match numbers {
            Some((target, value)) => value == target,
            None => cell_lower() == self.text,
        };
        match self.op {
            CompareOp::Eq => equal(),
            CompareOp::Ne => !equal(),
            CompareOp::Lt => ordering().is_some_and(|o| o.is_lt()),
            CompareOp::Le => ordering().is_some_and(|o| o.is_le()),
            CompareOp::Gt => ordering().is_some_and(|o| o.is_gt()),
            CompareOp::Ge => ordering().is_some_and(|o| o.is_ge()),
            CompareOp::Contains => cell_lower().contains(&self.text),
        }
    }
}

/// The rows of `sheet` meeting every condition, in sheet order.
pub fn filter_rows<'s>(sheet: &'s Sheet, conditions: &[Condition]) -> Result<Vec<&'s Row>> {
    let compiled = compile(sheet, conditions)?;
    Ok(sheet.rows.iter().filter(|row| compiled.iter().all(|c| c.matches(row))).collect())
}

/// `op` over `column` of the rows meeting every condition. `column` is
/// required except for `count`.
pub fn aggregate(sheet: &Sheet, column: Option<&str>, op: AggregateOp, conditions: &[Condition]) -> Result<Aggregate> {
    let column_index = column.filter(|c| !c.trim().is_empty()).map(|c| resolve_column(sheet, c)).transpose()?;
    if column_index.is_none() && op != AggregateOp::Count {
        return Err(Error::ToolArguments {
            tool: "aggregate".into(),
            message: format!("{op:?} needs a column; columns of {:?} are: {}", sheet.name, sheet.columns.join(", ")).to_lowercase(),
        });
    }
    let rows = filter_rows(sheet, conditions)?;
    let cell = |row: &Row| column_index.and_then(|i| row.cells.get(i).cloned());
    let (value, values_used) = match op {
        AggregateOp::Count => {
            let n = match column_index {
                Some(_) => rows.iter().filter(|r| cell(r).is_some_and(|c| !cell_is_empty(&c))).count(),
                None => rows.len(),
            };
            (Some(n as f64), n)
        }
        _ => {
            let numbers: Vec<f64> = rows.iter().filter_map(|r| cell(r).as_ref().and_then(cell_number)).collect();
            let value = match op {
                _ if numbers.is_empty() => None,
                AggregateOp::Sum => Some(kahan_sum(&numbers)),
                AggregateOp::Avg => Some(kahan_sum(&numbers) / numbers.len() as f64),
                AggregateOp::Min => numbers.iter().copied().reduce(f64::min),
                AggregateOp::Max => numbers.iter().copied().reduce(f64::max),
                AggregateOp::Count => None,
            };
            (value, numbers.len())
        }
    };
    Ok(Aggregate {
        op,
        column: column_index.map(|i| sheet.columns[i].clone()),
        value,
        rows_matched: rows.len(),
        values_used,
        rows: rows.iter().map(|r| r.number).collect(),
    })
}

/// Compensated summation: sums of many prices like 12.1 stay exact to the
/// cent instead of drifting with float rounding.
fn kahan_sum(values: &[f64]) -> f64 {
    let (mut sum, mut compensation) = (0.0_f64, 0.0_f64);
    for v in values {
        let y = v - compensation;
        let t = sum + y;
        compensation = (t - sum) - y;
        sum = t;
    }
    sum
}

#[cfg(test)]
mod tests;
