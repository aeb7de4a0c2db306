use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use sheetmesh_proto::v1::Row;

use super::*;
use crate::cells::{number, text};

fn products(n: u32, marker: &str) -> (Vec<String>, Vec<Row>) {
    let columns = vec!["sku".into(), "name".into(), "category".into(), "price".into()];
    let rows = (1..=n)
        .map(|i| Row {
            number: i + 1,
            cells: vec![
                text(format!("SKU-{i:04}")),
                text(format!("{marker} item {i}")),
                text(if i % 2 == 0 { "Kitchen" } else { "Garden" }),
                number(f64::from(i) + 0.5),
            ],
        })
        .collect();
    (columns, rows)
}

#[test]
fn exact_code_ranks_its_row_first_case_insensitively() {
    let index = SheetIndex::new().unwrap();
    let (columns, rows) = products(200, "widget");
    index.replace_sheet("inv.xlsx", "Products", "v1", columns, rows).unwrap();
    for query in ["SKU-0042", "what does sku-0042 cost?", "Sku-0042 price"] {
        let hits = index.search(query, &[], 5).unwrap();
        assert_eq!(hits[0].row, 43, "query {query:?}");
        assert!(hits[0].score > hits[1].score, "query {query:?}: the exact code must outrank the rest");
        assert_eq!(hits[0].sheet, "Products");
        assert_eq!(hits[0].values[0].column, "sku");
    }
}

#[test]
fn sheet_filter_restricts_hits_without_changing_order() {
    let index = SheetIndex::new().unwrap();
    let (columns, rows) = products(20, "widget");
    index.replace_sheet("inv.xlsx", "Products", "v1", columns.clone(), rows.clone()).unwrap();
    index.replace_sheet("inv.xlsx", "Archive", "v1", columns, rows).unwrap();
    let all = index.search("widget", &[], 100).unwrap();
    assert_eq!(all.len(), 40);
    let filtered = index.search("widget", &["archive".into()], 100).unwrap();
    assert_eq!(filtered.len(), 20);
    assert!(filtered.iter().all(|c| c.sheet == "Archive"));
    assert!(index.search("widget", &["Nope".into()], 10).unwrap().is_empty());
}

#[test]
fn replace_swaps_versions_and_remove_drops_the_sheet() {
    let index = SheetIndex::new().unwrap();
    let (columns, rows) = products(10, "oldname");
    index.replace_sheet("inv.xlsx", "Products", "v1", columns, rows).unwrap();
    let (columns, rows) = products(12, "newname");
    index.replace_sheet("inv.xlsx", "Products", "v2", columns, rows).unwrap();
    assert!(index.search("oldname", &[], 10).unwrap().is_empty());
    assert_eq!(index.search("newname", &[], 100).unwrap().len(), 12);
    let stats = index.stats();
    assert_eq!((stats.rows, stats.sheets), (12, 1));
    assert_eq!(stats.versions[&("inv.xlsx".to_owned(), "Products".to_owned())], "v2");
    assert!(stats.last_update.is_some());
    index.remove_sheet("inv.xlsx", "Products").unwrap();
    assert!(index.search("newname", &[], 10).unwrap().is_empty());
    assert_eq!(index.stats().rows, 0);
}

#[test]
fn readers_never_see_a_half_replaced_sheet() {
    let index = Arc::new(SheetIndex::new().unwrap());
    let (columns, small) = products(50, "alpha");
    let (_, large) = products(80, "alpha");
    index.replace_sheet("inv.xlsx", "Products", "v0", columns.clone(), small.clone()).unwrap();
    let done = Arc::new(AtomicBool::new(false));
    let reader = {
        let (index, done) = (Arc::clone(&index), Arc::clone(&done));
        std::thread::spawn(move || {
            let mut seen = 0;
            while !done.load(Ordering::Acquire) {
                let n = index.search("alpha", &[], 1000).unwrap().len();
                assert!(n == 50 || n == 80, "saw {n} rows: a half-updated sheet");
                seen += 1;
            }
            seen
        })
    };
    for i in 0..10 {
        let rows = if i % 2 == 0 { large.clone() } else { small.clone() };
        index.replace_sheet("inv.xlsx", "Products", &format!("v{i}"), columns.clone(), rows).unwrap();
    }
    done.store(true, Ordering::Release);
    assert!(reader.join().unwrap() > 0);
}

#[test]
fn sheet_lookup_names_known_and_ambiguous_sheets() {
    let index = SheetIndex::new().unwrap();
    let (columns, rows) = products(3, "x");
    index.replace_sheet("a.xlsx", "Products", "v1", columns.clone(), rows.clone()).unwrap();
    index.replace_sheet("b.xlsx", "Products", "v1", columns.clone(), rows.clone()).unwrap();
    index.replace_sheet("a.xlsx", "Orders", "v1", columns, rows).unwrap();
    assert_eq!(index.sheet("orders", None).unwrap().name, "Orders");
    assert!(matches!(index.sheet("Products", None), Err(Error::AmbiguousSheet { .. })));
    assert_eq!(index.sheet("Products", Some("b.xlsx")).unwrap().spreadsheet, "b.xlsx");
    let err = index.sheet("Nope", None).unwrap_err().to_string();
    assert!(err.contains("Orders") && err.contains("Products"), "{err}");
}

/// Row `i`'s vector points at angle `i` degrees: neighbours are similar, and
/// a query equal to one row's vector ranks that row first by cosine.
fn angle_vectors(n: usize) -> Vec<Vec<f32>> {
    (1..=n).map(|i| vec![(i as f32).to_radians().cos(), (i as f32).to_radians().sin()]).collect()
}

#[test]
fn fusion_keeps_the_exact_code_first_even_when_vectors_prefer_another_row() {
    let index = SheetIndex::new().unwrap();
    let (columns, rows) = products(80, "widget");
    index.replace_sheet("inv.xlsx", "Products", "v1", columns, rows).unwrap();
    let sheet = index.sheet("Products", None).unwrap();
    assert!(index.set_vectors(&sheet, angle_vectors(80)).unwrap());
    let like_item_7 = &angle_vectors(7)[6];
    assert_eq!(index.nearest(like_item_7, &[], 3).iter().map(|c| c.row).collect::<Vec<_>>(), vec![8, 7, 9]);
    for query in ["SKU-0042", "what does sku-0042 cost?"] {
        let hits = index.search_hybrid(query, like_item_7, &[], 5).unwrap();
        assert_eq!(hits[0].row, 43, "query {query:?}: {hits:?}");
        assert_eq!(hits[1].row, 8, "query {query:?}: the nearest row comes next, from the vectors");
        assert!(hits.windows(2).all(|w| w[0].score >= w[1].score), "scores descend");
    }
    // No identifier in the query: the row both lists agree on wins.
    let hits = index.search_hybrid("widget item 7", like_item_7, &[], 5).unwrap();
    assert_eq!(hits[0].row, 8);
}

#[test]
fn vectors_belong_to_one_version_of_one_sheet() {
    let index = SheetIndex::new().unwrap();
    let (columns, rows) = products(10, "alpha");
    index.replace_sheet("inv.xlsx", "Products", "v1", columns.clone(), rows.clone()).unwrap();
    let v1 = index.sheet("Products", None).unwrap();
    assert!(matches!(index.set_vectors(&v1, angle_vectors(9)), Err(Error::Index(_))), "one vector per row");
    assert!(index.set_vectors(&v1, angle_vectors(10)).unwrap());
    assert_eq!(index.embedded_version("inv.xlsx", "Products").as_deref(), Some("v1"));
    assert!(index.has_vectors(&[]) && index.has_vectors(&["products".into()]) && !index.has_vectors(&["Archive".into()]));
    // The same version is the same content: its vectors stay.
    index.replace_sheet("inv.xlsx", "Products", "v1", columns.clone(), rows.clone()).unwrap();
    assert_eq!(index.embedded_version("inv.xlsx", "Products").as_deref(), Some("v1"));
    // A new version drops them, and late vectors of the old one are refused.
    index.replace_sheet("inv.xlsx", "Products", "v2", columns, rows).unwrap();
    assert_eq!(index.embedded_version("inv.xlsx", "Products"), None);
    assert!(!index.set_vectors(&v1, angle_vectors(10)).unwrap());
    assert!(index.nearest(&[1.0, 0.0], &[], 5).is_empty());
    let v2 = index.sheet("Products", None).unwrap();
    assert!(index.set_vectors(&v2, angle_vectors(10)).unwrap());
    index.remove_sheet("inv.xlsx", "Products").unwrap();
    assert!(!index.has_vectors(&[]));
}

#[test]
fn nearest_keeps_to_the_sheet_filter_and_the_vectors_dimensions() {
    let index = SheetIndex::new().unwrap();
    let (columns, rows) = products(5, "x");
    index.replace_sheet("inv.xlsx", "Products", "v1", columns.clone(), rows.clone()).unwrap();
    index.replace_sheet("inv.xlsx", "Archive", "v1", columns, rows).unwrap();
    assert!(index.set_vectors(&index.sheet("Products", None).unwrap(), angle_vectors(5)).unwrap());
    assert!(index.set_vectors(&index.sheet("Archive", None).unwrap(), angle_vectors(5)).unwrap());
    assert_eq!(index.nearest(&[1.0, 0.0], &[], 100).len(), 10);
    assert!(index.nearest(&[1.0, 0.0], &["archive".into()], 100).iter().all(|c| c.sheet == "Archive"));
    assert!(index.nearest(&[1.0, 0.0, 0.0], &[], 100).is_empty(), "a query from another model matches nothing");
    assert!(index.nearest(&[0.0, 0.0], &[], 100).is_empty(), "a zero vector is similar to nothing");
}
