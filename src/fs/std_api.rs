//! The std/tokio-shaped layer: whole-file and recursive helpers built on the operations.

use std::future::Future;
use std::path::{Path, PathBuf};
use std::pin::Pin;

use super::dir::ReadDir;
use super::table::ops;
use super::{CopyFlags, FsFuture, OpenOptions, Permissions, SymlinkFlags};
use crate::error::{Error, Result};

fn ctx(e: Error, op: &'static str, path: &Path) -> Error {
    e.with_context(op, path.display())
}

/// Reads a whole file.
///
/// # Errors
///
/// `ENOENT`, `EISDIR`, `EACCES`... with the operation and path in the message.
///
/// # Examples
///
/// ```
/// let lp = uvio::Loop::new()?;
/// let bytes = lp.block_on(uvio::fs::read("Cargo.toml"))??;
/// assert!(bytes.starts_with(b"[package]"));
/// # Ok::<(), uvio::Error>(())
/// ```
pub async fn read(path: impl AsRef<Path>) -> Result<Vec<u8>> {
    let path = path.as_ref();
    let f = OpenOptions::new().read(true).open(path).await?;
    let hint = f.metadata().await.map(|m| m.len() as usize).unwrap_or(0);
    let mut buf = Vec::with_capacity(hint.max(4096) + 1);
    loop {
        if buf.capacity() - buf.len() < 4096 {
            buf.reserve(buf.capacity().max(4096));
        }
        let off = buf.len() as u64;
        let (r, b) = f.read_at(buf, off).await;
        buf = b;
        match r {
            Ok(0) => break,
            Ok(_) => {}
            Err(e) => return Err(ctx(e, "read", path)),
        }
    }
    f.close().await?;
    Ok(buf)
}

/// Reads a whole file as UTF-8.
///
/// # Errors
///
/// As [`read`]; `EILSEQ` when the contents are not UTF-8.
///
/// # Examples
///
/// ```
/// let lp = uvio::Loop::new()?;
/// let text = lp.block_on(uvio::fs::read_to_string("Cargo.toml"))??;
/// assert!(text.starts_with("[package]"));
/// # Ok::<(), uvio::Error>(())
/// ```
pub async fn read_to_string(path: impl AsRef<Path>) -> Result<String> {
    let path = path.as_ref();
    let bytes = read(path).await?;
    String::from_utf8(bytes).map_err(|_| ctx(Error::EILSEQ, "read_to_string", path))
}

/// Writes `contents` to a file, creating or truncating it.
///
/// # Errors
///
/// `ENOENT` for a missing parent directory, `EACCES`, `EISDIR`...
///
/// # Examples
///
/// ```
/// let dir = tempfile::tempdir()?;
/// let path = dir.path().join("out.txt");
/// let lp = uvio::Loop::new()?;
/// lp.block_on(uvio::fs::write(&path, "written"))??;
/// assert_eq!(std::fs::read_to_string(&path)?, "written");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub async fn write(path: impl AsRef<Path>, contents: impl AsRef<[u8]>) -> Result<()> {
    let path = path.as_ref();
    let f = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .open(path)
        .await?;
    let mut data = contents.as_ref().to_vec();
    let mut off = 0u64;
    while !data.is_empty() {
        let (r, d) = f.write_at(data, off).await;
        let n = r.map_err(|e| ctx(e, "write", path))?;
        if n == 0 {
            return Err(ctx(Error::EIO, "write", path));
        }
        data = d;
        data.drain(..n);
        off += n as u64;
    }
    f.close().await
}

/// Copies a file's contents and permissions; returns the number of bytes copied.
///
/// # Errors
///
/// `ENOENT` for a missing source (`copyfile 'from' -> 'to'` in the message)...
///
/// # Examples
///
/// ```
/// let dir = tempfile::tempdir()?;
/// let to = dir.path().join("Cargo.toml.bak");
/// let lp = uvio::Loop::new()?;
/// let n = lp.block_on(uvio::fs::copy("Cargo.toml", &to))??;
/// assert_eq!(n, std::fs::metadata("Cargo.toml")?.len());
/// assert_eq!(std::fs::read(&to)?, std::fs::read("Cargo.toml")?);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub async fn copy(from: impl AsRef<Path>, to: impl AsRef<Path>) -> Result<u64> {
    let to = to.as_ref();
    super::copyfile(from, to, CopyFlags::empty()).await?;
    Ok(super::metadata(to).await?.len())
}

/// Creates a directory (mode `0o777` before the umask).
///
/// # Errors
///
/// `EEXIST`, `ENOENT` for a missing parent...
///
/// # Examples
///
/// ```
/// let dir = tempfile::tempdir()?;
/// let sub = dir.path().join("sub");
/// let lp = uvio::Loop::new()?;
/// lp.block_on(uvio::fs::create_dir(&sub))??;
/// assert!(sub.is_dir());
/// let err = lp.block_on(uvio::fs::create_dir(&sub))?.unwrap_err();
/// assert_eq!(err.name(), "EEXIST");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn create_dir(path: impl AsRef<Path>) -> FsFuture<ops::Mkdir> {
    super::mkdir(path, 0o777)
}

/// Creates a directory and every missing parent; fine if it already exists.
///
/// # Errors
///
/// `ENOTDIR`/`EEXIST` when a component is a file, `EACCES`...
///
/// # Examples
///
/// ```
/// let dir = tempfile::tempdir()?;
/// let deep = dir.path().join("a/b/c");
/// let lp = uvio::Loop::new()?;
/// lp.block_on(uvio::fs::create_dir_all(&deep))??;
/// assert!(deep.is_dir());
/// // Already there: fine.
/// lp.block_on(uvio::fs::create_dir_all(&deep))??;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub async fn create_dir_all(path: impl AsRef<Path>) -> Result<()> {
    let path = path.as_ref();
    // Walk up to the first ancestor that exists, then create downwards.
    let mut missing: Vec<&Path> = Vec::new();
    let mut cur = Some(path);
    while let Some(p) = cur {
        if p.as_os_str().is_empty() {
            break;
        }
        match super::mkdir(p, 0o777).await {
            Ok(()) => break,
            Err(e) if e.name() == "ENOENT" => {
                missing.push(p);
                cur = p.parent();
            }
            Err(e) if e.name() == "EEXIST" => {
                if super::metadata(p).await?.is_dir() {
                    break;
                }
                return Err(e);
            }
            Err(e) => return Err(e),
        }
    }
    for p in missing.into_iter().rev() {
        match super::mkdir(p, 0o777).await {
            Ok(()) => {}
            Err(e) if e.name() == "EEXIST" && super::metadata(p).await?.is_dir() => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Removes a directory and everything in it (symlinks are removed, not followed).
///
/// # Errors
///
/// `ENOENT`, `ENOTDIR` for a file, `EACCES`...
///
/// # Examples
///
/// ```
/// let dir = tempfile::tempdir()?;
/// let top = dir.path().join("top");
/// std::fs::create_dir_all(top.join("a/b"))?;
/// std::fs::write(top.join("a/file"), "x")?;
/// let lp = uvio::Loop::new()?;
/// lp.block_on(uvio::fs::remove_dir_all(&top))??;
/// assert!(!top.exists());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn remove_dir_all(path: impl AsRef<Path>) -> Pin<Box<dyn Future<Output = Result<()>>>> {
    let path = path.as_ref().to_path_buf();
    Box::pin(async move {
        let meta = super::symlink_metadata(&path).await?;
        if !meta.is_dir() {
            return Err(Error::ENOTDIR.with_context("remove_dir_all", path.display()));
        }
        remove_tree(path).await
    })
}

fn remove_tree(dir: PathBuf) -> Pin<Box<dyn Future<Output = Result<()>>>> {
    Box::pin(async move {
        for e in super::scandir(&dir).await? {
            let is_dir = match e.file_type() {
                super::FileType::Unknown => e.metadata().await?.is_dir(),
                t => t.is_dir(),
            };
            if is_dir {
                remove_tree(e.path().to_path_buf()).await?;
            } else {
                super::remove_file(e.path()).await?;
            }
        }
        super::remove_dir(&dir).await
    })
}

/// A stream of a directory's entries (without `.` and `..`), read in batches.
///
/// Opening happens when the stream is first polled; an error to open it is the first item.
///
/// # Examples
///
/// ```
/// use futures::TryStreamExt;
/// let lp = uvio::Loop::new()?;
/// let entries: Vec<_> = lp.block_on(uvio::fs::read_dir("src").try_collect())??;
/// assert!(entries.iter().any(|e: &uvio::fs::DirEntry| e.file_name() == "lib.rs"));
/// # Ok::<(), uvio::Error>(())
/// ```
pub fn read_dir(path: impl AsRef<Path>) -> ReadDir {
    ReadDir::new(path.as_ref())
}

/// Creates a symlink `link` pointing at `original` (`std::os::unix::fs::symlink`).
///
/// # Examples
///
/// ```
/// let dir = tempfile::tempdir()?;
/// let link = dir.path().join("link");
/// let lp = uvio::Loop::new()?;
/// lp.block_on(uvio::fs::symlink("/etc", &link))??;
/// assert_eq!(std::fs::read_link(&link)?, std::path::Path::new("/etc"));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn symlink(original: impl AsRef<Path>, link: impl AsRef<Path>) -> FsFuture<ops::Symlink> {
    super::symlink_with(original, link, SymlinkFlags::empty())
}

/// Sets a path's permissions (`chmod`).
///
/// # Examples
///
/// ```
/// use uvio::fs::Permissions;
/// let dir = tempfile::tempdir()?;
/// let path = dir.path().join("f");
/// std::fs::write(&path, "x")?;
/// let lp = uvio::Loop::new()?;
/// lp.block_on(uvio::fs::set_permissions(&path, Permissions::from_mode(0o640)))??;
/// assert_eq!(uvio::fs::sync::metadata(&path)?.permissions().mode(), 0o640);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn set_permissions(path: impl AsRef<Path>, perm: Permissions) -> FsFuture<ops::Chmod> {
    super::chmod(path, perm.mode())
}

/// `Ok(true)` if the path exists, `Ok(false)` if it does not (`ENOENT`), an error when that
/// cannot be told (`EACCES` on a parent, `ELOOP`, ...). Follows symlinks.
///
/// # Examples
///
/// ```
/// let lp = uvio::Loop::new()?;
/// assert!(lp.block_on(uvio::fs::try_exists("Cargo.toml"))??);
/// assert!(!lp.block_on(uvio::fs::try_exists("no-such-file"))??);
/// # Ok::<(), uvio::Error>(())
/// ```
pub async fn try_exists(path: impl AsRef<Path>) -> Result<bool> {
    match super::metadata(path).await {
        Ok(_) => Ok(true),
        Err(e) if e.name() == "ENOENT" => Ok(false),
        Err(e) => Err(e),
    }
}
