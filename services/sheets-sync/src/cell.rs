//! A typed cell value, the unit of every grid and snapshot.
//!
//! Its JSON form is the proto3 `google.protobuf.Value` a client sees: a number,
//! a boolean, a string or null. The same form is what Google's
//! `values:batchGet` answers with `UNFORMATTED_VALUE`, so the client
//! deserialises Google's grid straight into cells without an intermediate
//! `serde_json::Value` tree (which would triple the memory of a large sheet).

use std::fmt;

use serde::de::{self, Deserializer, Visitor};
use serde::ser::Serializer;
use serde::{Deserialize, Serialize};

/// One cell. Dates and spreadsheet error values (`#REF!`, `#N/A`) are text.
#[derive(Debug, Clone, PartialEq, Default)]
pub enum Cell {
    /// No value.
    #[default]
    Empty,
    /// A number (spreadsheets have one numeric type).
    Number(f64),
    /// TRUE or FALSE.
    Bool(bool),
    /// Anything else, as the spreadsheet shows it.
    Text(String),
}

impl Cell {
    /// True for [`Cell::Empty`] and for the empty string Google sends for
    /// leading and interior blank cells.
    pub fn is_empty(&self) -> bool {
        match self {
            Cell::Empty => true,
            Cell::Text(text) => text.is_empty(),
            Cell::Number(_) | Cell::Bool(_) => false,
        }
    }

    /// The cell as a person reads it: integers without `.0`, booleans as
    /// `TRUE`/`FALSE` like a spreadsheet shows them, empty as "".
    pub fn display(&self) -> String {
        match self {
            Cell::Empty => String::new(),
            Cell::Number(n) => format_number(*n),
            Cell::Bool(true) => "TRUE".to_owned(),
            Cell::Bool(false) => "FALSE".to_owned(),
            Cell::Text(text) => text.clone(),
        }
    }
}

/// Integers print without a fractional part so that a header `2024` becomes
/// the column name "2024", not "2024.0".
pub(crate) fn format_number(n: f64) -> String {
    if n.fract() == 0.0 && n.abs() < 1e15 { format!("{}", n as i64) } else { format!("{n}") }
}

impl Serialize for Cell {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Cell::Empty => serializer.serialize_unit(),
            // JSON has no NaN or infinity; say what it was rather than fail.
            Cell::Number(n) if !n.is_finite() => serializer.serialize_str(&n.to_string()),
            Cell::Number(n) => serializer.serialize_f64(*n),
            Cell::Bool(b) => serializer.serialize_bool(*b),
            Cell::Text(text) => serializer.serialize_str(text),
        }
    }
}

impl<'de> Deserialize<'de> for Cell {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(CellVisitor)
    }
}

struct CellVisitor;

impl<'de> Visitor<'de> for CellVisitor {
    type Value = Cell;

    fn expecting(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str("a number, boolean, string or null")
    }

    fn visit_unit<E: de::Error>(self) -> Result<Cell, E> {
        Ok(Cell::Empty)
    }
    fn visit_none<E: de::Error>(self) -> Result<Cell, E> {
        Ok(Cell::Empty)
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Cell, E> {
        Ok(Cell::Bool(v))
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Cell, E> {
        Ok(Cell::Number(v as f64))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Cell, E> {
        Ok(Cell::Number(v as f64))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Cell, E> {
        Ok(Cell::Number(v))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Cell, E> {
        Ok(Cell::Text(v.to_owned()))
    }
    fn visit_string<E: de::Error>(self, v: String) -> Result<Cell, E> {
        Ok(Cell::Text(v))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_round_trip_keeps_types() {
        let cells = vec![Cell::Empty, Cell::Number(1.5), Cell::Bool(true), Cell::Text("#N/A".into())];
        let json = serde_json::to_string(&cells).unwrap();
        assert_eq!(json, r##"[null,1.5,true,"#N/A"]"##);
        assert_eq!(serde_json::from_str::<Vec<Cell>>(&json).unwrap(), cells);
    }

    #[test]
    fn integers_display_without_fraction() {
        assert_eq!(Cell::Number(2024.0).display(), "2024");
        assert_eq!(Cell::Number(2.5).display(), "2.5");
        assert_eq!(Cell::Bool(false).display(), "FALSE");
    }
}
