//! `POST /embeddings` through the same client, transport (attempt timeout,
//! retries honouring `Retry-After`) and concurrency limit as chat
//! completions, in batches.

use futures::{StreamExt, TryStreamExt};
use serde::Deserialize;
use serde_json::json;

use super::{LlmClient, map_error};
use crate::error::{Error, Result};

/// Inputs per request: well under OpenAI's 2,048, and small enough that one
/// request stays quick and a retry repeats little.
pub const EMBED_BATCH: usize = 256;
/// Batches of one [`LlmClient::embed`] call in flight at once. Each holds a
/// slot of the client's concurrency limit, so a large sheet being embedded
/// leaves most slots to questions.
const EMBED_PARALLEL: usize = 4;
/// Longest input sent, in characters (about 2,000 tokens; the models take
/// 8,191): a row longer than this is embedded by its beginning.
const MAX_INPUT_CHARS: usize = 8_000;

/// `embedding` list response (the parts we read).
#[derive(Debug, Deserialize)]
struct EmbeddingResponse {
    #[serde(default)]
    data: Vec<EmbeddingData>,
}

#[derive(Debug, Deserialize)]
struct EmbeddingData {
    index: usize,
    embedding: Vec<f32>,
}

impl LlmClient {
    /// The embedding model (`OPENAI_EMBEDDING_MODEL`), if configured.
    pub fn embedding_model(&self) -> Option<&str> {
        self.embedding_model.as_deref()
    }

    /// One embedding per text, in the order given, with the embedding model;
    /// [`EMBED_BATCH`] texts per request. Fails as a whole if any batch fails
    /// (after the transport's retries), or with [`Error::LlmConfig`] when no
    /// embedding model is configured. Texts must not be empty.
    pub async fn embed(&self, texts: &[String]) -> Result<Vec<Vec<f32>>> {
        let model = self.embedding_model.as_deref().ok_or_else(|| Error::LlmConfig("no embedding model is configured (OPENAI_EMBEDDING_MODEL)".into()))?;
        // The futures are made up front: a stream mapping borrowed batches
        // through a closure trips rustc's higher-ranked `Send` inference
        // (rust-lang/rust#89976) once awaited inside a spawned task.
        let requests: Vec<_> = texts.chunks(EMBED_BATCH).map(|batch| self.embed_batch(model, batch)).collect();
        let vectors: Vec<Vec<Vec<f32>>> = futures::stream::iter(requests).buffered(EMBED_PARALLEL).try_collect().await?;
        Ok(vectors.into_iter().flatten().collect())
    }

    async fn embed_batch(&self, model: &str, texts: &[String]) -> Result<Vec<Vec<f32>>> {
        let _permit = self.permits.acquire().await.map_err(|_| Error::Llm("client closed".into()))?;
        let input: Vec<&str> = texts.iter().map(|t| truncated(t, MAX_INPUT_CHARS)).collect();
        let body = json!({"model": model, "input": input});
        let response: EmbeddingResponse = self.client.embeddings().create_byot(body).await.map_err(|e| map_error(e, self.timeout))?;
        // OpenAI does not promise the order of `data`: place each by `index`.
        let mut out: Vec<Option<Vec<f32>>> = vec![None; texts.len()];
        for item in response.data {
            let slot = out.get_mut(item.index).ok_or_else(|| Error::Llm(format!("embedding index {} in a batch of {}", item.index, texts.len())))?;
            *slot = Some(item.embedding);
        }
        let missing = out.iter().filter(|v| v.is_none()).count();
        if missing > 0 {
            return Err(Error::Llm(format!("the embeddings response lacked {missing} of {} inputs", texts.len())));
        }
        Ok(out.into_iter().flatten().collect())
    }
}

fn truncated(text: &str, max_chars: usize) -> &str {
    match text.char_indices().nth(max_chars) {
        Some((end, _)) => &text[..end],
        None => text,
    }
}

#[cfg(test)]
mod tests {
    use super::truncated;

    #[test]
    fn long_inputs_are_cut_on_a_character_boundary() {
        assert_eq!(truncated("héllo", 2), "hé");
        assert_eq!(truncated("héllo", 10), "héllo");
    }
}
