//! Tokenizers for the row index.
//!
//! Two views of the same text: `words` (alphanumeric runs, lowercased,
//! accents folded) for ordinary BM25, and `idents`, which keeps codes such as
//! `SKU-0042`, `ORD_991` or `2024-01-05` whole (lowercased) so that a query
//! naming a code can be boosted onto the row holding exactly that code, not
//! every row that merely shares its `SKU` prefix.

use tantivy::tokenizer::{AsciiFoldingFilter, LowerCaser, RemoveLongFilter, SimpleTokenizer, TextAnalyzer, Token, TokenStream, Tokenizer};

/// Name of the word analyzer registered on the index.
pub const WORDS: &str = "sheetmesh_words";
/// Name of the identifier analyzer registered on the index.
pub const IDENTS: &str = "sheetmesh_idents";

/// The word analyzer.
pub fn words_analyzer() -> TextAnalyzer {
    TextAnalyzer::builder(SimpleTokenizer::default()).filter(RemoveLongFilter::limit(64)).filter(LowerCaser).filter(AsciiFoldingFilter).build()
}

/// The identifier analyzer.
pub fn idents_analyzer() -> TextAnalyzer {
    TextAnalyzer::builder(IdentTokenizer).build()
}

/// All tokens an analyzer produces for `text`, deduplicated in order.
pub fn tokens(analyzer: &mut TextAnalyzer, text: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut stream = analyzer.token_stream(text);
    while let Some(token) = stream.next() {
        if !out.contains(&token.text) {
            out.push(token.text.clone());
        }
    }
    out
}

/// Splits on whitespace and punctuation that never sits inside a code, trims
/// code-joining characters off the ends, and keeps what looks like a code.
#[derive(Clone, Copy, Debug, Default)]
pub struct IdentTokenizer;

/// Identifier candidates of `text`, lowercased.
pub fn identifiers(text: &str) -> Vec<(usize, usize, String)> {
    let is_separator = |c: char| {
        c.is_whitespace() || matches!(c, ';' | ',' | ':' | '(' | ')' | '[' | ']' | '{' | '}' | '"' | '\'' | '<' | '>' | '|' | '!' | '?' | '=' | '*' | '`')
    };
    let is_joiner = |c: char| matches!(c, '-' | '_' | '.' | '/' | '#');
    let mut out = Vec::new();
    let mut start = None;
    let push = |from: usize, to: usize, out: &mut Vec<(usize, usize, String)>| {
        let raw = &text[from..to];
        let trimmed_start = raw.len() - raw.trim_start_matches(is_joiner).len();
        let piece = raw.trim_matches(is_joiner);
        if piece.chars().count() < 2 || piece.chars().count() > 64 {
            return;
        }
        let has_digit = piece.chars().any(|c| c.is_ascii_digit());
        let has_joiner = piece.chars().any(is_joiner);
        let has_alnum = piece.chars().any(char::is_alphanumeric);
        // A code has a digit (SKU42, 0042, 12.5) or joins parts (ab-cd); plain
        // words are left to the word analyzer.
        if has_alnum && (has_digit || has_joiner) {
            let from = from + trimmed_start;
            out.push((from, from + piece.len(), piece.to_lowercase()));
        }
    };
    for (i, c) in text.char_indices() {
        match (is_separator(c), start) {
            (true, Some(s)) => {
                push(s, i, &mut out);
                start = None;
            }
            (false, None) => start = Some(i),
            _ => {}
        }
    }
    if let Some(s) = start {
        push(s, text.len(), &mut out);
    }
    out
}

/// A token stream over precomputed tokens.
#[derive(Debug)]
pub struct VecTokenStream {
    tokens: Vec<Token>,
    cursor: usize,
}

impl Tokenizer for IdentTokenizer {
    type TokenStream<'a> = VecTokenStream;

    fn token_stream<'a>(&'a mut self, text: &'a str) -> VecTokenStream {
        let tokens = identifiers(text)
            .into_iter()
            .enumerate()
            .map(|(position, (offset_from, offset_to, text))| Token { offset_from, offset_to, position, text, position_length: 1 })
            .collect();
        VecTokenStream { tokens, cursor: 0 }
    }
}

impl TokenStream for VecTokenStream {
    fn advance(&mut self) -> bool {
        if self.cursor < self.tokens.len() {
            self.cursor += 1;
            true
        } else {
            false
        }
    }

    fn token(&self) -> &Token {
        &self.tokens[self.cursor.saturating_sub(1)]
    }

    fn token_mut(&mut self) -> &mut Token {
        let i = self.cursor.saturating_sub(1);
        &mut self.tokens[i]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn idents(text: &str) -> Vec<String> {
        identifiers(text).into_iter().map(|(_, _, t)| t).collect()
    }

    #[test]
    fn codes_stay_whole_and_lowercase() {
        assert_eq!(idents("What is SKU-0042?"), vec!["sku-0042"]);
        assert_eq!(idents("sku: SKU-0042; name: Garlic press; price: 12.5"), vec!["sku-0042", "12.5"]);
        assert_eq!(idents("order ORD_991, shipped 2024-01-05."), vec!["ord_991", "2024-01-05"]);
        assert!(idents("plain words only").is_empty());
    }

    #[test]
    fn words_split_codes_into_parts() {
        let mut analyzer = words_analyzer();
        assert_eq!(tokens(&mut analyzer, "SKU-0042 Crème"), vec!["sku", "0042", "creme"]);
    }
}
