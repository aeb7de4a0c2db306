//! Domain → contract conversions (`sheetmesh.v1`), so the gRPC layer stays a
//! thin mapping and never reaches into domain internals.

use std::time::{SystemTime, UNIX_EPOCH};

use sheetmesh_proto::pbjson_types::{self, value::Kind};
use sheetmesh_proto::v1;

use crate::cell::Cell;
use crate::model::{ChangeEvent, ChangeKind, SheetMeta, SheetSyncResult};
use crate::normalize::Row;

/// A cell as `google.protobuf.Value`: number, bool, string or null.
pub fn cell_to_value(cell: &Cell) -> pbjson_types::Value {
    let kind = match cell {
        Cell::Empty => Kind::NullValue(0),
        // protobuf JSON cannot carry NaN or infinity as a number.
        Cell::Number(n) if !n.is_finite() => Kind::StringValue(n.to_string()),
        Cell::Number(n) => Kind::NumberValue(*n),
        Cell::Bool(b) => Kind::BoolValue(*b),
        Cell::Text(text) => Kind::StringValue(text.clone()),
    };
    pbjson_types::Value { kind: Some(kind) }
}

/// A data row as `sheetmesh.v1.Row`.
pub fn row_to_proto(row: &Row) -> v1::Row {
    v1::Row { number: row.number, cells: row.cells.iter().map(cell_to_value).collect() }
}

/// A time as `google.protobuf.Timestamp`.
pub fn timestamp(at: SystemTime) -> pbjson_types::Timestamp {
    let since = at.duration_since(UNIX_EPOCH).unwrap_or_default();
    pbjson_types::Timestamp { seconds: since.as_secs() as i64, nanos: since.subsec_nanos() as i32 }
}

/// Stored sheet state as `sheetmesh.v1.SheetInfo`.
pub fn sheet_info(meta: &SheetMeta) -> v1::SheetInfo {
    v1::SheetInfo {
        spreadsheet: meta.key.spreadsheet.clone(),
        name: meta.key.sheet.clone(),
        columns: meta.columns.clone(),
        row_count: meta.row_count,
        version: meta.version.clone(),
        synced_at: meta.synced_at.map(timestamp),
        source: meta.source.as_str().to_owned(),
        last_error: meta.last_error.clone().unwrap_or_default(),
        last_attempt_at: meta.last_attempt_at.map(timestamp),
    }
}

/// One sheet's sync outcome as `sheetmesh.v1.SheetSyncResult`.
pub fn sync_result(result: &SheetSyncResult) -> v1::SheetSyncResult {
    v1::SheetSyncResult {
        spreadsheet: result.key.spreadsheet.clone(),
        sheet: result.key.sheet.clone(),
        version: result.version.clone(),
        row_count: result.row_count,
        changed: result.changed,
        error: result.error.clone().unwrap_or_default(),
    }
}

/// A change event as `sheetmesh.v1.SheetChange`.
pub fn sheet_change(event: &ChangeEvent) -> v1::SheetChange {
    let kind = match event.kind {
        ChangeKind::Current => v1::sheet_change::Kind::Current,
        ChangeKind::Changed => v1::sheet_change::Kind::Changed,
        ChangeKind::Removed => v1::sheet_change::Kind::Removed,
    };
    v1::SheetChange {
        kind: kind as i32,
        spreadsheet: event.key.spreadsheet.clone(),
        sheet: event.key.sheet.clone(),
        version: event.version.clone(),
        previous_version: event.previous_version.clone(),
        row_count: event.row_count,
        changed_at: Some(timestamp(event.changed_at)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cells_map_to_json_values() {
        let json = |c: Cell| serde_json::to_string(&cell_to_value(&c)).unwrap();
        assert_eq!(json(Cell::Empty), "null");
        assert_eq!(json(Cell::Number(3.5)), "3.5");
        assert_eq!(json(Cell::Bool(true)), "true");
        assert_eq!(json(Cell::Text("#REF!".into())), "\"#REF!\"");
    }
}
