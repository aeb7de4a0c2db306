//! Retrieval-only answers (no LLM, or the LLM failing) and reading the
//! citations out of an LLM answer.

use sheetmesh_proto::v1::Citation;

use crate::cells::citation_line;
use crate::error::Error;

/// Rows a retrieval-only answer shows (and cites).
pub const ROWS_SHOWN: usize = 5;

/// The model name reported for retrieval-only answers.
pub const RETRIEVAL_MODEL: &str = "retrieval";

/// Why there is no LLM answer, in one sentence.
pub fn degraded_reason(err: Option<&Error>) -> String {
    match err {
        None => "No language model is configured, so this answer lists the best-matching rows.".into(),
        Some(Error::LlmTimeout(t)) => {
            format!("The language model did not answer within {t:?}, so this answer lists the best-matching rows.")
        }
        Some(Error::LlmStatus { status, .. }) => {
            format!("The language model answered with an error (HTTP {status}) after retries, so this answer lists the best-matching rows.")
        }
        Some(_) => "The language model could not be reached, so this answer lists the best-matching rows.".into(),
    }
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
