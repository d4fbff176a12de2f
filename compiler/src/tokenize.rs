//! Text to token ids with the model's own `tokenizer.json` (BERT WordPiece for all-MiniLM-L6-v2).
//!
//! The shipped tokenizer pads every input to 128 tokens and truncates longer ones; both are switched off here, so
//! an encoding is exactly `[CLS] text [SEP]` and text longer than the limit is refused instead of silently cut.
//! Token type ids are all 0 (single sentences), which is what the float reference and the integer path assume.

use std::path::{Path, PathBuf};

use crate::error::{CompileError, Result};

/// The hard limit on tokens per sentence ([CLS] and [SEP] included): all-MiniLM-L6-v2's `max_position_embeddings`.
pub const MAX_TOKENS: usize = 512;

/// A loaded `tokenizer.json` with padding and truncation disabled.
#[derive(Clone)]
pub struct Tokenizer {
    inner: tokenizers::Tokenizer,
    path: PathBuf,
}

impl std::fmt::Debug for Tokenizer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tokenizer")
            .field("path", &self.path)
            .finish()
    }
}

/// The first characters of `text` for an error message, on one line.
fn preview(text: &str) -> String {
    const CHARS: usize = 40;
    let mut p: String = text.chars().take(CHARS).collect();
    if text.chars().nth(CHARS).is_some() {
        p.push('…');
    }
    format!("{p:?}")
}

impl Tokenizer {
    /// Reads `dir/tokenizer.json`.
    pub fn load(dir: &Path) -> Result<Tokenizer> {
        Tokenizer::from_file(&dir.join("tokenizer.json"))
    }

    /// Reads a `tokenizer.json` file.
    pub fn from_file(path: &Path) -> Result<Tokenizer> {
        let model_error = |message: String| CompileError::Model {
            path: path.to_path_buf(),
            message,
        };
        if !path.is_file() {
            return Err(model_error("no such file".to_string()));
        }
        let bytes = std::fs::read(path).map_err(|source| CompileError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        // The tokenizers crate panics on some malformed JSON (a truncated "decoder" value): check the syntax first.
        let json: serde_json::Value = serde_json::from_slice(&bytes)
            .map_err(|e| model_error(format!("not a tokenizer file: not valid JSON: {e}")))?;
        check_templates(&json).map_err(model_error)?;
        let mut inner = tokenizers::Tokenizer::from_bytes(&bytes)
            .map_err(|e| model_error(format!("not a tokenizer file: {e}")))?;
        inner.with_padding(None);
        inner
            .with_truncation(None)
            .map_err(|e| model_error(format!("cannot disable truncation: {e}")))?;
        Ok(Tokenizer {
            inner,
            path: path.to_path_buf(),
        })
    }

    /// The file it was read from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Vocabulary size, special tokens included.
    pub fn vocab_size(&self) -> usize {
        self.inner.get_vocab_size(true)
    }

    /// The id of a token (e.g. `"[CLS]"`), if the vocabulary has it.
    pub fn token_id(&self, token: &str) -> Option<u32> {
        self.inner.token_to_id(token)
    }

    /// `[CLS] text [SEP]` as token ids, at most [`MAX_TOKENS`] of them.
    pub fn encode(&self, text: &str) -> Result<Vec<u32>> {
        self.encode_limited(text, MAX_TOKENS)
    }

    /// `[CLS] text [SEP]` as token ids; text of more than `limit` tokens (≤ [`MAX_TOKENS`]) or of no tokens at all
    /// is refused.
    pub fn encode_limited(&self, text: &str, limit: usize) -> Result<Vec<u32>> {
        if limit > MAX_TOKENS {
            return Err(CompileError::Input(format!(
                "token limit {limit} is above the model's {MAX_TOKENS} positions"
            )));
        }
        let ids = self.encode_unlimited(text)?;
        if ids.len() > limit {
            return Err(CompileError::Input(format!(
                "text {} has {} tokens ([CLS] and [SEP] included), more than the limit of {limit}",
                preview(text),
                ids.len()
            )));
        }
        Ok(ids)
    }

    /// `[CLS] text [SEP]` as token ids, cut to at most `limit` (3 ..= [`MAX_TOKENS`]) tokens: the text's first
    /// `limit − 2` tokens, then `[SEP]` (how sentence-transformers truncates training text). Text of no tokens is
    /// refused.
    pub fn encode_truncated(&self, text: &str, limit: usize) -> Result<Vec<u32>> {
        if !(3..=MAX_TOKENS).contains(&limit) {
            return Err(CompileError::Input(format!(
                "token limit {limit} is outside 3..={MAX_TOKENS}"
            )));
        }
        let mut ids = self.encode_unlimited(text)?;
        if ids.len() > limit {
            let sep = ids[ids.len() - 1];
            ids.truncate(limit - 1);
            ids.push(sep);
        }
        Ok(ids)
    }

    /// `[CLS] text [SEP]` of any length; empty text and text of no tokens are refused.
    fn encode_unlimited(&self, text: &str) -> Result<Vec<u32>> {
        if text.trim().is_empty() {
            return Err(CompileError::Input(
                "empty text: nothing to encode".to_string(),
            ));
        }
        let encoding = self
            .inner
            .encode(text, true)
            .map_err(|e| CompileError::Input(format!("tokenizing {}: {e}", preview(text))))?;
        let ids = encoding.get_ids();
        let special = self.inner.encode("", true).map_or(2, |e| e.get_ids().len());
        if ids.len() <= special {
            return Err(CompileError::Input(format!(
                "text {} has no tokens besides [CLS] and [SEP]",
                preview(text)
            )));
        }
        Ok(ids.to_vec())
    }

    /// [`Tokenizer::encode`] of every text; the error names the text's index.
    pub fn encode_all<S: AsRef<str>>(&self, texts: &[S]) -> Result<Vec<Vec<u32>>> {
        texts
            .iter()
            .enumerate()
            .map(|(i, t)| {
                self.encode(t.as_ref())
                    .map_err(|e| CompileError::Input(format!("sentence {}: {e}", i + 1)))
            })
            .collect()
    }
}

/// tokenizers 0.22 does not check, on loading, that a `TemplateProcessing` post-processor's templates name only special
/// tokens it defines, and panics when it encodes with one that it does not (huggingface/tokenizers#2152): refuse it.
fn check_templates(v: &serde_json::Value) -> std::result::Result<(), String> {
    use serde_json::Value;
    match v {
        Value::Object(o) => {
            if o.get("type").and_then(Value::as_str) == Some("TemplateProcessing") {
                let defined = o.get("special_tokens").and_then(Value::as_object);
                for key in ["single", "pair"] {
                    // a template is a list of pieces or a string like "[CLS]:0 $A:0 [SEP]:0"
                    let ids: Vec<String> = match o.get(key) {
                        Some(Value::Array(pieces)) => pieces
                            .iter()
                            .filter_map(|p| p.get("SpecialToken")?.get("id")?.as_str())
                            .map(str::to_string)
                            .collect(),
                        Some(Value::String(text)) => text
                            .split_whitespace()
                            .filter(|p| !p.starts_with('$'))
                            .map(|p| p.split_once(':').map_or(p, |(id, _)| id).to_string())
                            .collect(),
                        _ => Vec::new(),
                    };
                    if let Some(id) = ids
                        .iter()
                        .find(|id| !defined.is_some_and(|d| d.contains_key(id.as_str())))
                    {
                        return Err(format!(
                            "not a tokenizer file: the post-processor's {key} template uses the special token {id:?}, \
                             which its special_tokens do not define"
                        ));
                    }
                }
            }
            o.values().try_for_each(check_templates)
        }
        Value::Array(a) => a.iter().try_for_each(check_templates),
        _ => Ok(()),
    }
}

/// Writes a small BERT WordPiece `tokenizer.json` (MiniLM's format: lower-casing BERT normaliser, padding to 128 and
/// truncation switched on as shipped) into `dir`, for tests that must run without the real model. Ids:
/// `[PAD]` 0, `[UNK]` 1, `[CLS]` 2, `[SEP]` 3, then `words` from 4 in order.
pub fn write_test_tokenizer(dir: &Path, words: &[&str]) -> Result<PathBuf> {
    let mut vocab = serde_json::Map::new();
    for (id, w) in ["[PAD]", "[UNK]", "[CLS]", "[SEP]"]
        .iter()
        .chain(words)
        .enumerate()
    {
        vocab.insert((*w).to_string(), serde_json::json!(id));
    }
    let added: Vec<_> = ["[PAD]", "[UNK]", "[CLS]", "[SEP]"]
        .iter()
        .enumerate()
        .map(|(id, t)| {
            serde_json::json!({"id": id, "special": true, "content": t, "single_word": false, "lstrip": false,
                "rstrip": false, "normalized": false})
        })
        .collect();
    let json = serde_json::json!({
        "version": "1.0",
        "truncation": {"max_length": 128, "strategy": "LongestFirst", "stride": 0},
        "padding": {"strategy": {"Fixed": 128}, "direction": "Right", "pad_to_multiple_of": null, "pad_id": 0,
            "pad_type_id": 0, "pad_token": "[PAD]"},
        "added_tokens": added,
        "normalizer": {"type": "BertNormalizer", "clean_text": true, "handle_chinese_chars": true,
            "strip_accents": null, "lowercase": true},
        "pre_tokenizer": {"type": "BertPreTokenizer"},
        "post_processor": {"type": "TemplateProcessing",
            "single": [{"SpecialToken": {"id": "[CLS]", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}},
                {"SpecialToken": {"id": "[SEP]", "type_id": 0}}],
            "pair": [{"SpecialToken": {"id": "[CLS]", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}},
                {"SpecialToken": {"id": "[SEP]", "type_id": 0}}, {"Sequence": {"id": "B", "type_id": 1}},
                {"SpecialToken": {"id": "[SEP]", "type_id": 1}}],
            "special_tokens": {"[CLS]": {"id": "[CLS]", "ids": [2], "tokens": ["[CLS]"]},
                "[SEP]": {"id": "[SEP]", "ids": [3], "tokens": ["[SEP]"]}}},
        "decoder": {"type": "WordPiece", "prefix": "##", "cleanup": true},
        "model": {"type": "WordPiece", "unk_token": "[UNK]", "continuing_subword_prefix": "##",
            "max_input_chars_per_word": 100, "vocab": vocab},
    });
    let path = dir.join("tokenizer.json");
    std::fs::write(&path, json.to_string()).map_err(|source| CompileError::Io {
        path: path.clone(),
        source,
    })?;
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tiny() -> (tempfile::TempDir, Tokenizer) {
        let dir = tempfile::tempdir().unwrap();
        write_test_tokenizer(dir.path(), &["the", "cat", "sat", "on", "mat", "."]).unwrap();
        let t = Tokenizer::load(dir.path()).unwrap();
        (dir, t)
    }

    #[test]
    fn encodes_cls_text_sep_without_padding() {
        let (_dir, t) = tiny();
        assert_eq!(
            t.encode("The cat sat on the mat.").unwrap(),
            [2, 4, 5, 6, 7, 4, 8, 9, 3]
        );
        assert_eq!(t.encode("the dog").unwrap(), [2, 4, 1, 3]);
        assert_eq!(t.token_id("[CLS]"), Some(2));
        assert_eq!(t.vocab_size(), 10);
    }

    #[test]
    fn refuses_text_beyond_the_limit_with_counts() {
        let (_dir, t) = tiny();
        let long = "cat ".repeat(600);
        let e = t.encode(&long).unwrap_err().to_string();
        assert!(
            e.contains("602 tokens") && e.contains("limit of 512"),
            "{e}"
        );
        assert!(!e.contains('\n'), "{e}");
        // Truncation is off: 200 tokens come back whole (the shipped file truncates at 128).
        assert_eq!(t.encode(&"cat ".repeat(198)).unwrap().len(), 200);
        let e = t.encode_limited("the cat sat", 4).unwrap_err().to_string();
        assert!(e.contains("5 tokens") && e.contains("limit of 4"), "{e}");
        assert_eq!(t.encode_limited("the cat sat", 5).unwrap().len(), 5);
        assert!(t.encode_limited("the", 513).is_err());
    }

    #[test]
    fn truncation_keeps_the_first_tokens_and_sep() {
        let (_dir, t) = tiny();
        assert_eq!(
            t.encode_truncated("the cat sat on", 4).unwrap(),
            [2, 4, 5, 3]
        );
        assert_eq!(t.encode_truncated("the cat", 4).unwrap(), [2, 4, 5, 3]);
        assert_eq!(
            t.encode_truncated(&"cat ".repeat(600), 128).unwrap().len(),
            128
        );
        assert!(t.encode_truncated("the", 2).is_err() && t.encode_truncated("the", 513).is_err());
        assert!(t
            .encode_truncated("  ", 8)
            .unwrap_err()
            .to_string()
            .contains("empty"));
    }

    #[test]
    fn refuses_empty_text() {
        let (_dir, t) = tiny();
        for text in ["", "   ", "\n"] {
            let e = t.encode(text).unwrap_err().to_string();
            assert!(e.contains("empty"), "{e}");
        }
    }

    #[test]
    fn missing_or_bad_tokenizer_file_is_one_line() {
        let dir = tempfile::tempdir().unwrap();
        let e = Tokenizer::load(dir.path()).unwrap_err().to_string();
        assert!(
            e.contains("tokenizer.json") && e.contains("no such file"),
            "{e}"
        );
        std::fs::write(dir.path().join("tokenizer.json"), "{not json").unwrap();
        let e = Tokenizer::load(dir.path()).unwrap_err().to_string();
        assert!(
            e.contains("not a tokenizer file") && !e.contains('\n'),
            "{e}"
        );
    }
}
