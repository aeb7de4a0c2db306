use std::time::SystemTime;

use serde_json::json;
use sheetmesh_proto::v1::Row;

use super::*;
use crate::cells::{null, number, text};

fn kitchen() -> Sheet {
    let data = [
        ("Garlic press", "Kitchen", Some(12.5)),
        ("Chef knife", "Kitchen", Some(45.0)),
        ("Spatula", "kitchen", Some(4.99)),
        ("Rake", "Garden", Some(15.0)),
        ("Whisk", "Kitchen", None),
        ("Colander", "Kitchen", Some(20.0)),
    ];
    Sheet {
        spreadsheet: "inv.xlsx".into(),
        name: "Products".into(),
        version: "v1".into(),
        columns: vec!["name".into(), "category".into(), "price".into()],
        rows: data
            .iter()
            .enumerate()
            .map(|(i, (name, category, price))| Row { number: i as u32 + 2, cells: vec![text(*name), text(*category), price.map_or_else(null, number)] })
            .collect(),
        indexed_at: SystemTime::now(),
    }
}

fn cond(column: &str, op: CompareOp, value: serde_json::Value) -> Condition {
    Condition { column: column.into(), op, value }
}

#[test]
fn kitchen_items_under_20_are_counted_exactly() {
    let sheet = kitchen();
    let conditions = [cond("Category", CompareOp::Eq, json!("KITCHEN")), cond("price", CompareOp::Lt, json!(20))];
    let result = aggregate(&sheet, None, AggregateOp::Count, &conditions).unwrap();
    assert_eq!(result.value, Some(2.0));
    assert_eq!(result.rows, vec![2, 4]);
}

#[test]
fn numeric_comparison_accepts_numbers_given_as_text() {
    let sheet = kitchen();
    let rows = filter_rows(&sheet, &[cond("price", CompareOp::Ge, json!("20"))]).unwrap();
    assert_eq!(rows.iter().map(|r| r.number).collect::<Vec<_>>(), vec![3, 7]);
}

#[test]
fn sum_avg_min_max_skip_empty_cells() {
    let sheet = kitchen();
    let kitchen_only = [cond("category", CompareOp::Eq, json!("kitchen"))];
    let sum = aggregate(&sheet, Some("price"), AggregateOp::Sum, &kitchen_only).unwrap();
    assert!((sum.value.unwrap() - 82.49).abs() < 1e-9);
    assert_eq!((sum.rows_matched, sum.values_used), (5, 4));
    let avg = aggregate(&sheet, Some("price"), AggregateOp::Avg, &kitchen_only).unwrap();
    assert!((avg.value.unwrap() - 82.49 / 4.0).abs() < 1e-9);
    assert_eq!(aggregate(&sheet, Some("price"), AggregateOp::Min, &[]).unwrap().value, Some(4.99));
    assert_eq!(aggregate(&sheet, Some("price"), AggregateOp::Max, &[]).unwrap().value, Some(45.0));
    assert_eq!(aggregate(&sheet, Some("price"), AggregateOp::Count, &[]).unwrap().value, Some(5.0));
}

#[test]
fn contains_and_ne_compare_text_ignoring_case() {
    let sheet = kitchen();
    let rows = filter_rows(&sheet, &[cond("name", CompareOp::Contains, json!("KNI"))]).unwrap();
    assert_eq!(rows.len(), 1);
    let rows = filter_rows(&sheet, &[cond("category", CompareOp::Ne, json!("kitchen"))]).unwrap();
    assert_eq!(rows.len(), 1);
}

#[test]
fn unknown_column_names_the_columns() {
    let sheet = kitchen();
    let err = filter_rows(&sheet, &[cond("colour", CompareOp::Eq, json!("red"))]).unwrap_err();
    assert_eq!(err.to_string(), "sheet \"Products\" has no column \"colour\"; its columns are: name, category, price");
    let err = aggregate(&sheet, None, AggregateOp::Sum, &[]).unwrap_err();
    assert!(err.to_string().contains("needs a column"), "{err}");
}
