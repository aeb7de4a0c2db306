//! Retrieval-only answers (no LLM, or the LLM failing) and reading the
//! citations out of an LLM answer.

use sheetmesh_proto::v1::Citation;

use crate::cells::{citation_line, format_number};
use crate::error::Error;
use crate::tools::phrase::Comparison;
use crate::tools::{CompareOp, Condition, filter_rows};

/// Rows a retrieval-only answer shows (and cites).
pub const ROWS_SHOWN: usize = 5;

/// Rows an exact comparison answer lists (and cites) before "and N more".
pub const MATCHES_SHOWN: usize = 20;

/// The model name reported for retrieval-only answers.
pub const RETRIEVAL_MODEL: &str = "retrieval";

/// What an answer without the LLM is made of, for its reason sentence.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OfflineKind {
    /// The best-matching rows ([`retrieval_answer`]).
    BestRows,
    /// Every row meeting a comparison ([`comparison_answer`]).
    ExactComparison,
}

/// Why there is no LLM answer, and what the answer is instead, in one sentence.
pub fn degraded_reason(err: Option<&Error>, kind: OfflineKind) -> String {
    let instead = match kind {
        OfflineKind::BestRows => "so this answer lists the best-matching rows",
        OfflineKind::ExactComparison => "so this answer lists the rows meeting the comparison in your question, checked over every row",
    };
    match err {
        None => format!("No language model is configured, {instead}."),
        Some(Error::LlmTimeout(t)) => format!("The language model did not answer within {t:?}, {instead}."),
        Some(Error::LlmStatus { status, .. }) => format!("The language model answered with an error (HTTP {status}) after retries, {instead}."),
        Some(_) => format!("The language model could not be reached, {instead}."),
    }
}

/// The exact answer to `comparison`: how many rows meet it and which, and
/// the rows it shows. `None` when the filter cannot run (it always can on a
/// comparison [`crate::tools::phrase::read_comparison`] made).
pub fn comparison_answer(comparison: &Comparison, reason: &str) -> Option<(String, Vec<Citation>)> {
    let sheet = &comparison.sheet;
    let mut conditions = vec![Condition { column: comparison.column.clone(), op: comparison.op, value: serde_json::json!(comparison.value) }];
    for (column, value) in &comparison.categories {
        conditions.push(Condition { column: column.clone(), op: CompareOp::Eq, value: serde_json::json!(value) });
    }
    let rows = filter_rows(sheet, &conditions).ok()?;
    let relation = match comparison.op {
        CompareOp::Lt => "under",
        CompareOp::Le => "at most",
        CompareOp::Gt => "over",
        CompareOp::Ge => "at least",
        CompareOp::Eq => "equal to",
        CompareOp::Ne => "other than",
        CompareOp::Contains => "containing",
    };
    let what = format!("{} {relation} {}", comparison.column, format_number(comparison.value));
    let among = comparison.categories.iter().map(|(column, value)| format!(" with {column} {value}")).collect::<String>();
    let shown: Vec<Citation> = rows.iter().take(MATCHES_SHOWN).map(|row| sheet.citation(row, 1.0)).collect();
    let mut text = match rows.len() {
        0 => format!("No row of {}{among} has {what} ({} rows checked).", sheet.name, sheet.rows.len()),
        1 => format!("1 row of {}{among} has {what} ({} rows checked):\n", sheet.name, sheet.rows.len()),
        n => format!("{n} rows of {}{among} have {what} ({} rows checked):\n", sheet.name, sheet.rows.len()),
    };
    for row in &shown {
        text.push_str("\n- ");
        text.push_str(&citation_line(row));
    }
    if rows.len() > shown.len() {
        text.push_str(&format!("\n\n…and {} more.", rows.len() - shown.len()));
    }
    text.push_str("\n\n_");
    text.push_str(reason);
    text.push('_');
    Some((text, shown))
}

/// A short readable summary of the best rows, and the rows it shows.
pub fn retrieval_answer(rows: &[Citation], reason: &str) -> (String, Vec<Citation>) {
    let shown: Vec<Citation> = rows.iter().take(ROWS_SHOWN).cloned().collect();
    let mut text = if shown.is_empty() {
        "No rows in the synced sheets match your question.".to_owned()
    } else {
        let mut text = String::from("These rows best match your question:\n");
        for row in &shown {
            text.push_str("\n- ");
            text.push_str(&citation_line(row));
        }
        text
    };
    text.push_str("\n\n_");
    text.push_str(reason);
    text.push('_');
    (text, shown)
}

/// The `[Sheet row N]` references in `answer`, in order of first appearance.
pub fn cited_refs(answer: &str) -> Vec<(String, u32)> {
    let mut refs: Vec<(String, u32)> = Vec::new();
    let mut rest = answer;
    while let Some(open) = rest.find('[') {
        rest = &rest[open + 1..];
        let Some(close) = rest.find(']') else { break };
        let inside = &rest[..close];
        // "[Products row 43]" and the "[Products row 43, row 44]" some models write.
        let mut sheet: Option<&str> = None;
        for part in inside.split([',', ';']) {
            let part = part.trim();
            let (name, number) = match part.rsplit_once("row ") {
                Some((name, number)) => (name.trim(), number.trim()),
                None => continue,
            };
            let name = if name.is_empty() { sheet } else { Some(name) };
            if let (Some(name), Ok(number)) = (name, number.parse::<u32>()) {
                sheet = Some(name);
                let r = (name.to_owned(), number);
                if !refs.contains(&r) {
                    refs.push(r);
                }
            }
        }
        rest = &rest[close + 1..];
    }
    refs
}

/// The citations of an LLM answer: the known rows it references; when it
/// references none, the tool rows it computed from, else the prompt rows.
pub fn answer_citations(answer: &str, prompt_rows: &[Citation], tool_rows: &[Citation]) -> Vec<Citation> {
    let known = || prompt_rows.iter().chain(tool_rows.iter());
    let cited: Vec<Citation> =
        cited_refs(answer).into_iter().filter_map(|(sheet, row)| known().find(|c| c.row == row && c.sheet.eq_ignore_ascii_case(&sheet)).cloned()).collect();
    if !cited.is_empty() {
        cited
    } else if !tool_rows.is_empty() {
        tool_rows.to_vec()
    } else {
        prompt_rows.to_vec()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(sheet: &str, n: u32) -> Citation {
        Citation { sheet: sheet.into(), spreadsheet: "x".into(), row: n, values: vec![], score: 1.0 }
    }

    #[test]
    fn refs_are_read_in_order_without_duplicates() {
        let text = "It costs 12.5 [Products row 43]; see also [Products row 44, row 45] and [Products row 43].";
        assert_eq!(cited_refs(text), vec![("Products".into(), 43), ("Products".into(), 44), ("Products".into(), 45)]);
        assert!(cited_refs("no refs [here]").is_empty());
    }

    #[test]
    fn citations_prefer_referenced_rows_then_tool_rows() {
        let prompt = [row("Products", 43), row("Products", 7)];
        let tools = [row("Products", 9)];
        assert_eq!(answer_citations("x [products row 7]", &prompt, &tools), vec![row("Products", 7)]);
        assert_eq!(answer_citations("no refs", &prompt, &tools), tools.to_vec());
        assert_eq!(answer_citations("no refs", &prompt, &[]), prompt.to_vec());
    }

    #[test]
    fn retrieval_answer_lists_rows_and_says_why() {
        let (text, shown) = retrieval_answer(&[row("Products", 43)], "No LLM.");
        assert!(text.contains("- [Products row 43]") && text.ends_with("_No LLM._"));
        assert_eq!(shown.len(), 1);
        let (text, shown) = retrieval_answer(&[], "No LLM.");
        assert!(text.starts_with("No rows") && shown.is_empty());
    }
}
