//! Atomic output: a generated directory or file appears complete or not at all, and never replaces a user's files
//! without `--force`.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use crate::error::{io_context, Result, StaError};

/// Whether anything is at `path`: a file, a directory, or a symlink (even a dangling one, which is the user's too).
fn occupied(path: &Path) -> bool {
    fs::symlink_metadata(path).is_ok()
}

/// Fails unless `path` is absent or `force` is set.
pub fn check_overwrite(path: &Path, force: bool) -> Result<()> {
    if occupied(path) && !force {
        return Err(StaError::Usage(format!(
            "output {} already exists; pass --force to replace it",
            path.display()
        )));
    }
    Ok(())
}

fn parent_of(path: &Path) -> PathBuf {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

/// Creates missing parent directories (like `mkdir -p`); called only once the output is ready to be written.
fn ensure_parent(path: &Path) -> Result<PathBuf> {
    let parent = parent_of(path);
    fs::create_dir_all(&parent).map_err(unwritable(path, &parent))?;
    Ok(parent)
}

/// An output whose directory cannot be created or written is the user's to fix (exit code 2).
fn unwritable(path: &Path, parent: &Path) -> impl FnOnce(std::io::Error) -> StaError {
    let message = format!(
        "output {}: cannot write into {}",
        path.display(),
        parent.display()
    );
    move |e| StaError::Usage(format!("{message}: {e}; choose a writable place"))
}

/// Writes a set of files (paths relative to the directory) as the new directory `dir`.
///
/// Everything is written into a temporary directory beside `dir` and renamed into place at the end; with `force`, an
/// existing `dir` is moved aside first and removed only after the new one is in place.
pub fn write_dir_atomically(dir: &Path, files: &[(PathBuf, Vec<u8>)], force: bool) -> Result<()> {
    check_overwrite(dir, force)?;
    let parent = ensure_parent(dir)?;
    let staging = tempfile::Builder::new()
        .prefix(".sta-staging-")
        .tempdir_in(&parent)
        .map_err(unwritable(dir, &parent))?;
    for (relative, contents) in files {
        let path = staging.path().join(relative);
        if let Some(sub) = path.parent() {
            fs::create_dir_all(sub).map_err(io_context(format!("creating {}", sub.display())))?;
        }
        fs::write(&path, contents).map_err(io_context(format!("writing {}", path.display())))?;
    }
    set_mode(staging.path(), 0o755)?;
    replace_with(dir, staging.path(), &parent)?;
    let _ = staging.keep();
    Ok(())
}

/// Creates an empty working directory beside `dir` (same filesystem, so it can be renamed into place), creating
/// missing parents. The caller owns it: [`install_dir`] renames it into place.
pub fn work_dir_beside(dir: &Path, prefix: &str) -> Result<PathBuf> {
    let parent = ensure_parent(dir)?;
    let work = tempfile::Builder::new()
        .prefix(prefix)
        .tempdir_in(&parent)
        .map_err(unwritable(dir, &parent))?;
    Ok(work.keep())
}

/// Renames a finished working directory (from [`work_dir_beside`]) to `dir`; an existing `dir` is replaced only with
/// `force`, and removed only after the new one is in place. On failure the working directory is removed.
pub fn install_dir(work: PathBuf, dir: &Path, force: bool) -> Result<()> {
    let installed = check_overwrite(dir, force)
        .and_then(|()| set_mode(&work, 0o755))
        .and_then(|()| replace_with(dir, &work, &parent_of(dir)));
    if installed.is_err() {
        let _ = fs::remove_dir_all(&work);
    }
    installed
}

/// Temporary files and directories are created private (0600/0700); outputs get the usual 0644/0755.
fn set_mode(path: &Path, mode: u32) -> Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        fs::set_permissions(path, fs::Permissions::from_mode(mode)).map_err(io_context(
            format!("setting permissions of {}", path.display()),
        ))?;
    }
    #[cfg(not(unix))]
    let _ = (path, mode);
    Ok(())
}

fn replace_with(dir: &Path, staged: &Path, parent: &Path) -> Result<()> {
    let mut old = None;
    if occupied(dir) {
        let aside = tempfile::Builder::new()
            .prefix(".sta-replaced-")
            .tempdir_in(parent)
            .map_err(io_context("creating a directory for the replaced output"))?
            .keep();
        let target = aside.join("old");
        fs::rename(dir, &target).map_err(io_context(format!("moving {} aside", dir.display())))?;
        old = Some(aside);
    }
    fs::rename(staged, dir).map_err(io_context(format!(
        "renaming the new output into {}",
        dir.display()
    )))?;
    if let Some(aside) = old {
        fs::remove_dir_all(&aside).map_err(io_context(format!("removing {}", aside.display())))?;
    }
    Ok(())
}

/// Writes one file atomically (temporary file in the same directory, then rename).
pub fn write_file_atomically(path: &Path, contents: &[u8], force: bool) -> Result<()> {
    check_overwrite(path, force)?;
    let parent = ensure_parent(path)?;
    let mut tmp = tempfile::NamedTempFile::new_in(&parent).map_err(unwritable(path, &parent))?;
    tmp.write_all(contents)
        .map_err(io_context(format!("writing {}", path.display())))?;
    set_mode(tmp.path(), 0o644)?;
    tmp.persist(path).map_err(|e| StaError::Io {
        context: format!("renaming into {}", path.display()),
        source: e.error,
    })?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_existing_directory_without_force_and_keeps_it() {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("out");
        fs::create_dir(&dir).unwrap();
        fs::write(dir.join("mine.txt"), b"precious").unwrap();
        let files = vec![(PathBuf::from("a.v"), b"x".to_vec())];
        let err = write_dir_atomically(&dir, &files, false).unwrap_err();
        assert!(err.to_string().contains("--force"));
        assert_eq!(fs::read(dir.join("mine.txt")).unwrap(), b"precious");
        assert_eq!(
            fs::read_dir(root.path()).unwrap().count(),
            1,
            "no staging leftovers"
        );
    }

    #[test]
    fn force_replaces_the_whole_directory() {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("out");
        fs::create_dir(&dir).unwrap();
        fs::write(dir.join("stale.v"), b"old").unwrap();
        let files = vec![(PathBuf::from("rtl/a.v"), b"new".to_vec())];
        write_dir_atomically(&dir, &files, true).unwrap();
        assert_eq!(fs::read(dir.join("rtl/a.v")).unwrap(), b"new");
        assert!(!dir.join("stale.v").exists());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(
                fs::metadata(&dir).unwrap().permissions().mode() & 0o777,
                0o755
            );
        }
        assert_eq!(
            fs::read_dir(root.path()).unwrap().count(),
            1,
            "no staging leftovers"
        );
    }

    #[test]
    fn file_write_refuses_existing_file() {
        let root = tempfile::tempdir().unwrap();
        let path = root.path().join("y.npy");
        fs::write(&path, b"keep").unwrap();
        assert!(write_file_atomically(&path, b"new", false).is_err());
        assert_eq!(fs::read(&path).unwrap(), b"keep");
        write_file_atomically(&path, b"new", true).unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"new");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(
                fs::metadata(&path).unwrap().permissions().mode() & 0o777,
                0o644
            );
        }
    }
}
