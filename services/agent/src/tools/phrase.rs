//! One numeric comparison read out of a plain-language question, such as
//! "which items have stock under 20?" or "products with a price of at least
//! 9.50". It lets an answer made without an LLM be exact:
//! [`super::filter_rows`] runs over every row. Otherwise retrieval would list
//! rows whose cells merely contain the number.
//!
//! Deliberately narrow: a numeric column named before a comparison phrase,
//! then a number. "cost"/"cheaper" stand for a price or cost column. A word
//! of the question that is a value of a category-like column ("kitchen" in
//! `category`) narrows the rows too. Any other question is `None`, and the
//! answer falls back to the best-matching rows.

use std::collections::HashSet;
use std::sync::Arc;

use super::CompareOp;
use crate::cells::{cell_is_empty, cell_number, cell_text, parse_number};
use crate::index::Sheet;

/// A comparison on one sheet's numeric column.
#[derive(Debug, Clone)]
pub struct Comparison {
    /// The sheet holding the column.
    pub sheet: Arc<Sheet>,
    /// The column, as named in the sheet.
    pub column: String,
    /// The comparison.
    pub op: CompareOp,
    /// The number compared with.
    pub value: f64,
    /// Category values the question names, as (column, value) pairs: the
    /// rows must have them too.
    pub categories: Vec<(String, String)>,
}

/// Comparison phrases, longest first so "less than or equal to" wins over
/// "less than".
const PHRASES: &[(&str, CompareOp)] = &[
    ("less than or equal to", CompareOp::Le),
    ("greater than or equal to", CompareOp::Ge),
    ("more than or equal to", CompareOp::Ge),
    ("no more than", CompareOp::Le),
    ("not more than", CompareOp::Le),
    ("no less than", CompareOp::Ge),
    ("not less than", CompareOp::Ge),
    ("less than", CompareOp::Lt),
    ("fewer than", CompareOp::Lt),
    ("lower than", CompareOp::Lt),
    ("cheaper than", CompareOp::Lt),
    ("more than", CompareOp::Gt),
    ("greater than", CompareOp::Gt),
    ("higher than", CompareOp::Gt),
    ("at most", CompareOp::Le),
    ("at least", CompareOp::Ge),
    ("under", CompareOp::Lt),
    ("below", CompareOp::Lt),
    ("over", CompareOp::Gt),
    ("above", CompareOp::Gt),
    ("<=", CompareOp::Le),
    (">=", CompareOp::Ge),
    ("<", CompareOp::Lt),
    (">", CompareOp::Gt),
];

/// Words that name a price without naming the column.
const PRICE_WORDS: &[&str] = &["cost", "costs", "costing", "cheaper", "priced"];

/// How far before the phrase a column name may stand ("stock level of
/// items under 20" still finds `stock`).
const COLUMN_WINDOW: usize = 6;

/// A text column with at most this many distinct values is a category
/// (`category`, `colour`), whose values a question may name.
const MAX_CATEGORY_VALUES: usize = 200;

/// The comparison in `question` on a numeric column of a sheet in `scope`.
pub fn read_comparison(question: &str, scope: &[Arc<Sheet>]) -> Option<Comparison> {
    let words = words(question);
    let sheets = named_first(question, scope);
    for start in 0..words.len() {
        for (phrase, op) in PHRASES {
            let phrase_words: Vec<&str> = phrase.split(' ').collect();
            let end = start + phrase_words.len();
            if end >= words.len() || words[start..end] != phrase_words[..] {
                continue;
            }
            let Some(value) = number(&words[end]) else { continue };
            let before = &words[start.saturating_sub(COLUMN_WINDOW)..start];
            if let Some((sheet, column)) = column_before(before, &sheets) {
                let categories = categories(&sheet, &words);
                return Some(Comparison { sheet, column, op: *op, value, categories });
            }
        }
    }
    None
}

/// Lower-case words, with the punctuation around them dropped ("20?" → "20").
fn words(question: &str) -> Vec<String> {
    question
        .split_whitespace()
        .map(|word| word.trim_matches(|c: char| matches!(c, '?' | '!' | ',' | ';' | ':' | '"' | '\'' | '(' | ')')).to_lowercase())
        .map(|word| if word.ends_with('.') && parse_number(&word).is_none() { word.trim_end_matches('.').to_owned() } else { word })
        .filter(|word| !word.is_empty())
        .collect()
}

/// A number, allowing a currency sign: "20", "9.5", "$20", "€1,200".
fn number(word: &str) -> Option<f64> {
    parse_number(word.trim_start_matches(['$', '€', '£']).trim_end_matches('.'))
}

/// The sheets in scope, those the question names ("products" names
/// `Products`) first, the rest in scope order.
fn named_first<'s>(question: &str, scope: &'s [Arc<Sheet>]) -> Vec<&'s Arc<Sheet>> {
    let question = question.to_lowercase();
    let mut sheets: Vec<&Arc<Sheet>> = scope.iter().collect();
    sheets.sort_by_cached_key(|sheet| !question.contains(sheet.name.to_lowercase().trim_end_matches('s')));
    sheets
}

/// The numeric column named closest before the phrase, on the first of
/// `sheets` that has it.
fn column_before(before: &[String], sheets: &[&Arc<Sheet>]) -> Option<(Arc<Sheet>, String)> {
    for distance in 1..=before.len() {
        let near = &before[before.len() - distance..];
        for sheet in sheets {
            for column in &sheet.columns {
                let name: Vec<String> = column.to_lowercase().split_whitespace().map(str::to_owned).collect();
                let named = near.starts_with(&name) || (name.len() == 1 && singular(&near[0]) == name[0]);
                let priced = near.len() == 1 && PRICE_WORDS.contains(&near[0].as_str()) && name.iter().any(|word| word == "price" || word == "cost");
                // The numeric check reads the whole column: only for a named one.
                if (named || priced) && numeric(sheet, column) {
                    return Some((Arc::clone(sheet), column.clone()));
                }
            }
        }
    }
    None
}

/// The (column, value) pairs of category columns whose value is a word of
/// the question, at most one per column.
fn categories(sheet: &Sheet, words: &[String]) -> Vec<(String, String)> {
    let mut found = Vec::new();
    for (index, column) in sheet.columns.iter().enumerate() {
        let mut values: HashSet<String> = HashSet::new();
        let mut numbers = 0usize;
        for cell in sheet.rows.iter().filter_map(|row| row.cells.get(index)).filter(|cell| !cell_is_empty(cell)) {
            if cell_number(cell).is_some() {
                numbers += 1;
            }
            values.insert(cell_text(cell).trim().to_lowercase());
            if values.len() > MAX_CATEGORY_VALUES {
                break;
            }
        }
        // Too many distinct values (names, ids) or a numeric column: not a category.
        if values.len() > MAX_CATEGORY_VALUES || values.len() * 2 > sheet.rows.len() || numbers * 2 > sheet.rows.len() {
            continue;
        }
        // The word as written, else its singular ("gardens" → "garden").
        if let Some(value) = words.iter().find_map(|word| [word.as_str(), singular(word)].into_iter().find(|form| values.contains(*form))) {
            found.push((column.clone(), value.to_owned()));
        }
    }
    found
}

fn singular(word: &str) -> &str {
    word.strip_suffix('s').filter(|stem| stem.len() > 2).unwrap_or(word)
}

/// Whether most non-empty cells of `column` are numbers.
fn numeric(sheet: &Sheet, column: &str) -> bool {
    let Some(index) = sheet.column_index(column) else { return false };
    let cells = sheet.rows.iter().filter_map(|row| row.cells.get(index)).filter(|cell| !cell_is_empty(cell));
    let (numbers, total) = cells.fold((0usize, 0usize), |(numbers, total), cell| (numbers + usize::from(cell_number(cell).is_some()), total + 1));
    total > 0 && numbers * 2 > total
}

#[cfg(test)]
mod tests {
    use std::time::SystemTime;

    use sheetmesh_proto::v1::Row;

    use super::*;
    use crate::cells::{number as num, text};

    fn sheet(name: &str) -> Arc<Sheet> {
        let rows = (1..=10)
            .map(|i| Row {
                number: i + 1,
                cells: vec![
                    text(format!("SKU-{i:04}")),
                    text(format!("Item {i}")),
                    num(f64::from(i) * 1.5),
                    num(f64::from(i * 3)),
                    text(if i % 2 == 0 { "Kitchen" } else { "Garden" }),
                ],
            })
            .collect();
        Arc::new(Sheet {
            spreadsheet: "inv.xlsx".into(),
            name: name.into(),
            version: "v1".into(),
            columns: vec!["sku".into(), "name".into(), "unit price".into(), "stock".into(), "category".into()],
            rows,
            indexed_at: SystemTime::now(),
        })
    }

    fn read(question: &str) -> Option<(String, CompareOp, f64)> {
        read_comparison(question, &[sheet("Products")]).map(|c| (c.column, c.op, c.value))
    }

    #[test]
    fn a_column_a_phrase_and_a_number_make_a_comparison() {
        assert_eq!(read("Which items have stock under 20?"), Some(("stock".into(), CompareOp::Lt, 20.0)));
        assert_eq!(read("products with a unit price of at least $9.50"), Some(("unit price".into(), CompareOp::Ge, 9.5)));
        assert_eq!(read("stock levels greater than or equal to 12"), Some(("stock".into(), CompareOp::Ge, 12.0)));
        assert_eq!(read("what costs less than 4.5?"), Some(("unit price".into(), CompareOp::Lt, 4.5)));
        assert_eq!(read("stock > 7"), Some(("stock".into(), CompareOp::Gt, 7.0)));
        assert_eq!(read("list everything whose stock is no more than 9."), Some(("stock".into(), CompareOp::Le, 9.0)));
    }

    #[test]
    fn anything_else_is_not_a_comparison() {
        // A number without a phrase, a phrase without a number, a text column,
        // a column the sheet does not have.
        assert_eq!(read("What does SKU-0042 cost?"), None);
        assert_eq!(read("which items are over budget?"), None);
        assert_eq!(read("names under 5"), None);
        assert_eq!(read("weight under 5"), None);
        assert_eq!(read("under 20"), None);
    }

    #[test]
    fn a_category_value_in_the_question_narrows_the_rows() {
        let found = read_comparison("kitchen items with stock under 20", &[sheet("Products")]).unwrap();
        assert_eq!(found.categories, vec![("category".to_owned(), "kitchen".to_owned())]);
        let found = read_comparison("Gardens with stock under 20", &[sheet("Products")]).unwrap();
        assert_eq!(found.categories, vec![("category".to_owned(), "garden".to_owned())], "plural words match too");
        // Names and SKUs have too many distinct values to be categories.
        let found = read_comparison("item 3 with stock under 20", &[sheet("Products")]).unwrap();
        assert!(found.categories.is_empty(), "{:?}", found.categories);
    }

    #[test]
    fn the_sheet_the_question_names_is_preferred() {
        let scope = [sheet("Archive"), sheet("Products")];
        let found = read_comparison("products with stock under 20", &scope).unwrap();
        assert_eq!(found.sheet.name, "Products");
        let found = read_comparison("anything with stock under 20", &scope).unwrap();
        assert_eq!(found.sheet.name, "Archive", "no sheet named: the first in scope");
    }
}
