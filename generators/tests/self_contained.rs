//! The repository stands alone: no tracked file may refer to a path outside it (the sibling directory a development
//! machine may have beside the checkout, or an absolute path of that machine). Data the tests need is vendored, e.g.
//! `data/gqa-lut`.

use std::path::{Path, PathBuf};
use std::process::Command;

/// Path fragments that leave the repository. Built with `concat!` so that this file does not match itself.
const NEEDLES: &[&str] = &[
    concat!("..", "/shared"),
    concat!("/wo", "rk/shared"),
    concat!("/wo", "rk/"),
];

/// Directories that are never part of a checkout: build output, the Python venv, git's own store, `make` outputs.
const SKIPPED_DIRS: &[&str] = &["target", ".venv", ".git", "out"];

fn repository_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the crate lives inside the workspace")
        .to_path_buf()
}

/// The tracked files (`git ls-files`), or, outside a git checkout (e.g. a copy of the tracked files), every file
/// under the root except the skipped directories. Paths are relative to the root.
fn tracked_files(root: &Path) -> Vec<PathBuf> {
    let git = Command::new("git")
        .arg("-C")
        .arg(root)
        .args(["ls-files", "-z"])
        .output();
    match git {
        Ok(out) if out.status.success() && !out.stdout.is_empty() => out
            .stdout
            .split(|&b| b == 0)
            .filter(|name| !name.is_empty())
            .map(|name| PathBuf::from(String::from_utf8_lossy(name).into_owned()))
            .collect(),
        _ => {
            let mut files = Vec::new();
            walk(root, Path::new(""), &mut files);
            files
        }
    }
}

fn walk(root: &Path, relative: &Path, files: &mut Vec<PathBuf>) {
    let dir = root.join(relative);
    let entries = std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    for entry in entries {
        let entry = entry.unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
        let path = relative.join(entry.file_name());
        let kind = entry.file_type().expect("file type");
        if kind.is_dir() {
            if !SKIPPED_DIRS.iter().any(|s| entry.file_name() == *s) {
                walk(root, &path, files);
            }
        } else {
            files.push(path);
        }
    }
}

/// True when the match of `needle` at `at` is a path that leaves the repository. A needle starting with `/` counts
/// only where it starts a path (not inside a longer relative one such as `docs/work/`); the others count everywhere.
fn leaves_repository(line: &[u8], at: usize, needle: &str) -> bool {
    if !needle.starts_with('/') || at == 0 {
        return true;
    }
    let before = line[at - 1];
    !(before.is_ascii_alphanumeric() || b"._-/".contains(&before))
}

/// Every `file:line: text` where a tracked file names a path outside the repository.
fn outside_references(root: &Path, file: &Path) -> Vec<String> {
    let full = root.join(file);
    let Ok(meta) = std::fs::symlink_metadata(&full) else {
        return Vec::new(); // tracked but deleted in the working tree
    };
    let bytes = if meta.file_type().is_symlink() {
        let target = std::fs::read_link(&full).expect("readable link");
        target.to_string_lossy().into_owned().into_bytes()
    } else {
        std::fs::read(&full).unwrap_or_else(|e| panic!("{}: {e}", full.display()))
    };
    let mut hits = Vec::new();
    for (number, line) in bytes.split(|&b| b == b'\n').enumerate() {
        let found = NEEDLES.iter().any(|needle| {
            line.windows(needle.len())
                .enumerate()
                .any(|(at, w)| w == needle.as_bytes() && leaves_repository(line, at, needle))
        });
        if found {
            hits.push(format!(
                "{}:{}: {}",
                file.display(),
                number + 1,
                String::from_utf8_lossy(line).trim()
            ));
        }
    }
    hits
}

#[test]
fn no_tracked_file_refers_to_a_path_outside_the_repository() {
    let root = repository_root();
    let files = tracked_files(&root);
    assert!(
        files.iter().any(|f| f == Path::new("Cargo.toml")),
        "the file list of {} has no Cargo.toml: {} files",
        root.display(),
        files.len()
    );
    let hits: Vec<String> = files
        .iter()
        .flat_map(|file| outside_references(&root, file))
        .collect();
    assert!(
        hits.is_empty(),
        "{} reference(s) to paths outside the repository (vendor the data into it and refer to it by a \
         repository-relative path):\n{}",
        hits.len(),
        hits.join("\n")
    );
}

#[test]
fn the_check_finds_each_kind_of_outside_path_and_ignores_look_alikes() {
    let dir = tempfile::tempdir().unwrap();
    let sample = [
        "fine: data/gqa-lut/gelu_pwl_7.json, a shared cache, docs/work/notes, homework/",
        concat!("read ..", "/shared/reference"),
        concat!("see `/wo", "rk/.venv`"),
        concat!("/wo", "rk/shared/docs"),
    ]
    .join("\n");
    std::fs::write(dir.path().join("sample.md"), sample).unwrap();
    let hits = outside_references(dir.path(), Path::new("sample.md"));
    let lines: Vec<&str> = hits.iter().map(|h| h.split(": ").next().unwrap()).collect();
    assert_eq!(
        lines,
        ["sample.md:2", "sample.md:3", "sample.md:4"],
        "{hits:?}"
    );
}

#[test]
fn the_fallback_walk_skips_build_output_and_the_venv() {
    let dir = tempfile::tempdir().unwrap();
    for file in [
        "Cargo.toml",
        "docs/a.md",
        "target/release/x",
        ".venv/bin/y",
        "out/z",
    ] {
        let path = dir.path().join(file);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, "").unwrap();
    }
    let mut files = Vec::new();
    walk(dir.path(), Path::new(""), &mut files);
    files.sort();
    assert_eq!(
        files,
        [PathBuf::from("Cargo.toml"), PathBuf::from("docs/a.md")]
    );
}
