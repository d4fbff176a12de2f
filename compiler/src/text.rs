//! Sentence sets: the committed calibration / evaluation / training sentences (English prose from CPython's
//! documentation, see `compiler/data/sentences/PROVENANCE.md`), the standard-library docstring sentences that extend
//! the training text for fine-tuning, and user sentence files.

use std::path::Path;

use crate::error::{CompileError, Result};
use crate::tokenize::Tokenizer;

const CALIBRATION: &str = include_str!("../data/sentences/calibration.txt");
const EVALUATION: &str = include_str!("../data/sentences/evaluation.txt");
const TRAINING: &str = include_str!("../data/sentences/training.txt");
const DOCSTRINGS: &str = include_str!("../data/sentences/docstrings.txt");

fn lines(text: &'static str) -> Vec<&'static str> {
    text.lines().filter(|l| !l.trim().is_empty()).collect()
}

/// The calibration sentences (activation ranges of the INT8 model).
pub fn calibration() -> Vec<&'static str> {
    lines(CALIBRATION)
}

/// The evaluation sentences (accuracy of compiled models), disjoint from the other two sets.
pub fn evaluation() -> Vec<&'static str> {
    lines(EVALUATION)
}

/// The remaining sentences, kept for fine-tuning.
pub fn training() -> Vec<&'static str> {
    lines(TRAINING)
}

/// Sentences of the standard library's docstrings (4,096), disjoint from the three sets above.
pub fn docstrings() -> Vec<&'static str> {
    lines(DOCSTRINGS)
}

/// The built-in fine-tuning text: [`training`] then [`docstrings`]. Never holds an evaluation or calibration sentence.
pub fn fine_tuning() -> Vec<&'static str> {
    let mut all = training();
    all.extend(docstrings());
    all
}

/// Reads a user sentence file: UTF-8, one sentence per line; blank lines are skipped, a trailing `\r` is dropped.
/// Errors (one line, naming the file and line): unreadable file, non-UTF-8 line, no sentence at all.
pub fn read_sentences(path: &Path) -> Result<Vec<String>> {
    Ok(numbered_sentences(path)?
        .into_iter()
        .map(|(_, s)| s)
        .collect())
}

/// [`read_sentences`] and [`Tokenizer::encode_limited`] of every sentence: a line beyond `limit` tokens is an error
/// naming the file, the line, its token count and the limit.
pub fn read_tokenized(path: &Path, tokenizer: &Tokenizer, limit: usize) -> Result<Vec<Vec<u32>>> {
    numbered_sentences(path)?
        .into_iter()
        .map(|(line, s)| {
            tokenizer
                .encode_limited(&s, limit)
                .map_err(|e| CompileError::Input(format!("{}:{line}: {e}", path.display())))
        })
        .collect()
}

/// The non-blank lines of a sentence file with their 1-based line numbers.
fn numbered_sentences(path: &Path) -> Result<Vec<(usize, String)>> {
    let bytes = std::fs::read(path).map_err(|source| CompileError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let mut out = Vec::new();
    for (i, raw) in bytes.split(|&b| b == b'\n').enumerate() {
        let line = std::str::from_utf8(raw).map_err(|e| {
            CompileError::Input(format!(
                "{}:{}: not UTF-8 (invalid byte at column {})",
                path.display(),
                i + 1,
                e.valid_up_to() + 1
            ))
        })?;
        let line = line.strip_suffix('\r').unwrap_or(line);
        if !line.trim().is_empty() {
            out.push((i + 1, line.to_string()));
        }
    }
    if out.is_empty() {
        return Err(CompileError::Input(format!(
            "{}: no sentences (the file is empty or blank; expected one sentence per line)",
            path.display()
        )));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;

    #[test]
    fn committed_sets_are_large_enough_disjoint_and_clean() {
        let (c, e, t) = (calibration(), evaluation(), training());
        assert!(c.len() >= 128, "{}", c.len());
        assert!(e.len() >= 240, "{}", e.len());
        assert!(!t.is_empty());
        let all: Vec<&str> = c.iter().chain(&e).chain(&t).copied().collect();
        let unique: HashSet<String> = all.iter().map(|s| s.to_lowercase()).collect();
        assert_eq!(
            unique.len(),
            all.len(),
            "duplicate sentences across or within the sets"
        );
        for s in all {
            let words = s.split_whitespace().count();
            assert!((6..=60).contains(&words), "{words} words: {s}");
            assert_eq!(s.trim(), s);
            assert!(s.starts_with(|c: char| c.is_ascii_uppercase()), "{s}");
        }
    }

    /// Lower case, letters and digits only: two sentences that differ in case, spacing or punctuation are the same.
    fn normalised(s: &str) -> String {
        s.chars()
            .filter(char::is_ascii_alphanumeric)
            .map(|c| c.to_ascii_lowercase())
            .collect()
    }

    #[test]
    fn fine_tuning_text_is_disjoint_from_evaluation_and_calibration() {
        let docs = docstrings();
        assert_eq!(docs.len(), 4096);
        assert_eq!(fine_tuning().len(), training().len() + docs.len());
        let held_out: HashSet<String> = evaluation()
            .iter()
            .chain(&calibration())
            .map(|s| normalised(s))
            .collect();
        let mut seen = HashSet::new();
        for s in fine_tuning() {
            let n = normalised(s);
            assert!(
                !held_out.contains(&n),
                "held-out sentence in the fine-tuning text: {s}"
            );
            assert!(seen.insert(n), "duplicate fine-tuning sentence: {s}");
        }
        for s in docs {
            let words = s.split_whitespace().count();
            assert!((6..=60).contains(&words), "{words} words: {s}");
            assert!(
                s.starts_with(|c: char| c.is_ascii_uppercase()) && s.trim() == s,
                "{s}"
            );
        }
    }

    #[test]
    fn reads_sentence_files_and_reports_bad_ones_by_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.txt");
        std::fs::write(&path, "First sentence.\r\n\n  \nSecond one.\n").unwrap();
        assert_eq!(
            read_sentences(&path).unwrap(),
            ["First sentence.", "Second one."]
        );

        std::fs::write(&path, b"Fine.\nBad \xff byte.\n").unwrap();
        let e = read_sentences(&path).unwrap_err().to_string();
        assert!(
            e.contains("s.txt:2: not UTF-8") && e.contains("column 5"),
            "{e}"
        );

        std::fs::write(&path, "\n \n").unwrap();
        let e = read_sentences(&path).unwrap_err().to_string();
        assert!(e.contains("s.txt: no sentences"), "{e}");

        let e = read_sentences(&dir.path().join("absent.txt"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("absent.txt"), "{e}");
    }

    #[test]
    fn tokenized_read_names_the_line_beyond_the_limit() {
        let dir = tempfile::tempdir().unwrap();
        crate::tokenize::write_test_tokenizer(dir.path(), &["the", "cat", "sat"]).unwrap();
        let tok = Tokenizer::load(dir.path()).unwrap();
        let path = dir.path().join("s.txt");
        std::fs::write(&path, format!("The cat sat.\n\n{}\n", "cat ".repeat(20))).unwrap();
        assert_eq!(
            read_tokenized(&path, &tok, 32).unwrap()[0],
            [2, 4, 5, 6, 1, 3]
        );
        let e = read_tokenized(&path, &tok, 16).unwrap_err().to_string();
        assert!(
            e.contains("s.txt:3:") && e.contains("22 tokens") && e.contains("limit of 16"),
            "{e}"
        );
    }
}
