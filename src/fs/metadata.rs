//! File metadata: [`Metadata`] (from `uv_stat_t`), [`FileType`], [`Permissions`], [`StatFs`].

use std::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::ffi;

const S_IFMT: u64 = 0o170000;
const S_IFSOCK: u64 = 0o140000;
const S_IFLNK: u64 = 0o120000;
const S_IFREG: u64 = 0o100000;
const S_IFBLK: u64 = 0o060000;
const S_IFDIR: u64 = 0o040000;
const S_IFCHR: u64 = 0o020000;
const S_IFIFO: u64 = 0o010000;

/// The type of a file: from a directory entry (`uv_dirent_type_t`) or from `st_mode`.
///
/// # Examples
///
/// ```
/// let lp = uvio::Loop::new()?;
/// let meta = lp.block_on(uvio::fs::metadata("src"))??;
/// assert_eq!(meta.file_type(), uvio::fs::FileType::Dir);
/// assert!(meta.file_type().is_dir());
/// # Ok::<(), uvio::Error>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FileType {
    /// A regular file.
    File,
    /// A directory.
    Dir,
    /// A symbolic link.
    Symlink,
    /// A named pipe.
    Fifo,
    /// A Unix domain socket.
    Socket,
    /// A character device.
    CharDevice,
    /// A block device.
    BlockDevice,
    /// The file system did not say (some file systems leave `d_type` unset).
    Unknown,
}

impl FileType {
    pub(crate) fn from_dirent(t: ffi::uv_dirent_type_t) -> FileType {
        match t {
            ffi::UV_DIRENT_FILE => FileType::File,
            ffi::UV_DIRENT_DIR => FileType::Dir,
            ffi::UV_DIRENT_LINK => FileType::Symlink,
            ffi::UV_DIRENT_FIFO => FileType::Fifo,
            ffi::UV_DIRENT_SOCKET => FileType::Socket,
            ffi::UV_DIRENT_CHAR => FileType::CharDevice,
            ffi::UV_DIRENT_BLOCK => FileType::BlockDevice,
            _ => FileType::Unknown,
        }
    }

    pub(crate) fn from_mode(mode: u64) -> FileType {
        match mode & S_IFMT {
            S_IFREG => FileType::File,
            S_IFDIR => FileType::Dir,
            S_IFLNK => FileType::Symlink,
            S_IFIFO => FileType::Fifo,
            S_IFSOCK => FileType::Socket,
            S_IFCHR => FileType::CharDevice,
            S_IFBLK => FileType::BlockDevice,
            _ => FileType::Unknown,
        }
    }

    /// A regular file.
    ///
    /// # Examples
    ///
    /// ```
    /// let t = uvio::fs::sync::metadata("Cargo.toml")?.file_type();
    /// assert!(t.is_file() && !t.is_dir());
    /// # Ok::<(), uvio::Error>(())
    /// ```
    pub fn is_file(self) -> bool {
        self == FileType::File
    }

    /// A directory.
    ///
    /// # Examples
    ///
    /// ```
    /// let t = uvio::fs::sync::metadata("src")?.file_type();
    /// assert!(t.is_dir() && !t.is_file());
    /// # Ok::<(), uvio::Error>(())
    /// ```
    pub fn is_dir(self) -> bool {
        self == FileType::Dir
    }

    /// A symbolic link.
    ///
    /// # Examples
    ///
    /// ```
    /// let dir = tempfile::tempdir()?;
    /// let link = dir.path().join("link");
    /// std::os::unix::fs::symlink(std::fs::canonicalize("Cargo.toml")?, &link)?;
    /// assert!(uvio::fs::sync::symlink_metadata(&link)?.file_type().is_symlink());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn is_symlink(self) -> bool {
        self == FileType::Symlink
    }
}

/// Permission bits of a file (the low 12 bits of `st_mode`).
///
/// # Examples
///
/// ```
/// let mut p = uvio::fs::Permissions::from_mode(0o644);
/// assert!(!p.readonly());
/// p.set_readonly(true);
/// assert_eq!(p.mode(), 0o444);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Permissions {
    mode: u32,
}

impl Permissions {
    /// Permissions from mode bits (`0o644`).
    ///
    /// # Examples
    ///
    /// ```
    /// // Type bits above the low 12 are dropped.
    /// let p = uvio::fs::Permissions::from_mode(0o100644);
    /// assert_eq!(p.mode(), 0o644);
    /// ```
    pub fn from_mode(mode: u32) -> Permissions {
        Permissions {
            mode: mode & 0o7777,
        }
    }

    /// The mode bits.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(uvio::fs::Permissions::from_mode(0o4755).mode(), 0o4755);
    /// ```
    pub fn mode(&self) -> u32 {
        self.mode
    }

    /// True when nobody may write (no `w` bit set).
    ///
    /// # Examples
    ///
    /// ```
    /// use uvio::fs::Permissions;
    /// assert!(Permissions::from_mode(0o444).readonly());
    /// assert!(!Permissions::from_mode(0o644).readonly());
    /// ```
    pub fn readonly(&self) -> bool {
        self.mode & 0o222 == 0
    }

    /// Clears every write bit, or sets the owner's (std sets all three; owner-only is the
    /// safer choice).
    ///
    /// # Examples
    ///
    /// ```
    /// let mut p = uvio::fs::Permissions::from_mode(0o444);
    /// p.set_readonly(false);
    /// assert_eq!(p.mode(), 0o644);
    /// ```
    pub fn set_readonly(&mut self, readonly: bool) {
        if readonly {
            self.mode &= !0o222;
        } else {
            self.mode |= 0o200;
        }
    }
}

fn time(ts: ffi::uv_timespec_t) -> SystemTime {
    let secs = ts.tv_sec;
    let nanos = ts.tv_nsec.clamp(0, 999_999_999) as u32;
    if secs >= 0 {
        UNIX_EPOCH + Duration::new(secs as u64, nanos)
    } else {
        UNIX_EPOCH - Duration::from_secs(secs.unsigned_abs()) + Duration::from_nanos(nanos.into())
    }
}

/// Metadata of a file (`uv_stat_t`): std's accessors plus everything libuv reports.
///
/// # Examples
///
/// ```
/// let lp = uvio::Loop::new()?;
/// let meta = lp.block_on(uvio::fs::metadata("Cargo.toml"))??;
/// assert!(meta.is_file() && meta.len() > 0);
/// assert!(meta.modified() > std::time::UNIX_EPOCH);
/// # Ok::<(), uvio::Error>(())
/// ```
#[derive(Clone, Copy)]
pub struct Metadata {
    st: ffi::uv_stat_t,
}

impl Metadata {
    pub(crate) fn from_raw(st: &ffi::uv_stat_t) -> Metadata {
        Metadata { st: *st }
    }

    /// The file's type.
    ///
    /// # Examples
    ///
    /// ```
    /// let meta = uvio::fs::sync::metadata("Cargo.toml")?;
    /// assert_eq!(meta.file_type(), uvio::fs::FileType::File);
    /// # Ok::<(), uvio::Error>(())
    /// ```
    pub fn file_type(&self) -> FileType {
        FileType::from_mode(self.st.st_mode)
    }

    /// A regular file.
    ///
    /// # Examples
    ///
    /// ```
    /// assert!(uvio::fs::sync::metadata("Cargo.toml")?.is_file());
    /// assert!(!uvio::fs::sync::metadata("src")?.is_file());
    /// # Ok::<(), uvio::Error>(())
    /// ```
    pub fn is_file(&self) -> bool {
        self.file_type().is_file()
    }

    /// A directory.
    ///
    /// # Examples
    ///
    /// ```
    /// assert!(uvio::fs::sync::metadata("src")?.is_dir());
    /// assert!(!uvio::fs::sync::metadata("Cargo.toml")?.is_dir());
    /// # Ok::<(), uvio::Error>(())
    /// ```
    pub fn is_dir(&self) -> bool {
        self.file_type().is_dir()
    }

    /// A symbolic link (only from [`crate::fs::symlink_metadata`]).
    ///
    /// # Examples
    ///
    /// ```
    /// let dir = tempfile::tempdir()?;
    /// let link = dir.path().join("link");
    /// std::os::unix::fs::symlink(std::fs::canonicalize("Cargo.toml")?, &link)?;
    /// assert!(uvio::fs::sync::symlink_metadata(&link)?.is_symlink());
    /// // `metadata` follows the link.
    /// assert!(!uvio::fs::sync::metadata(&link)?.is_symlink());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn is_symlink(&self) -> bool {
        self.file_type().is_symlink()
    }

    /// Size in bytes.
    ///
    /// # Examples
    ///
    /// ```
    /// let meta = uvio::fs::sync::metadata("Cargo.toml")?;
    /// assert_eq!(meta.len(), std::fs::metadata("Cargo.toml")?.len());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn len(&self) -> u64 {
        self.st.st_size
    }

    /// True for a zero-length file.
    ///
    /// # Examples
    ///
    /// ```
    /// let dir = tempfile::tempdir()?;
    /// let path = dir.path().join("empty");
    /// std::fs::write(&path, "")?;
    /// assert!(uvio::fs::sync::metadata(&path)?.is_empty());
    /// assert!(!uvio::fs::sync::metadata("Cargo.toml")?.is_empty());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Permission bits.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::os::unix::fs::PermissionsExt;
    /// let perm = uvio::fs::sync::metadata("Cargo.toml")?.permissions();
    /// assert_eq!(perm.mode(), std::fs::metadata("Cargo.toml")?.permissions().mode() & 0o7777);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn permissions(&self) -> Permissions {
        Permissions::from_mode(self.st.st_mode as u32)
    }

    /// The whole `st_mode` (type and permission bits).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::os::unix::fs::MetadataExt;
    /// let meta = uvio::fs::sync::metadata("Cargo.toml")?;
    /// assert_eq!(meta.mode(), std::fs::metadata("Cargo.toml")?.mode());
    /// assert_eq!(meta.mode() & 0o170000, 0o100000); // S_IFREG
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn mode(&self) -> u32 {
        self.st.st_mode as u32
    }

    /// Last modification time.
    ///
    /// # Examples
    ///
    /// ```
    /// let meta = uvio::fs::sync::metadata("Cargo.toml")?;
    /// assert_eq!(meta.modified(), std::fs::metadata("Cargo.toml")?.modified()?);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn modified(&self) -> SystemTime {
        time(self.st.st_mtim)
    }

    /// Last access time.
    ///
    /// # Examples
    ///
    /// ```
    /// let meta = uvio::fs::sync::metadata("Cargo.toml")?;
    /// assert!(meta.accessed() > std::time::UNIX_EPOCH);
    /// # Ok::<(), uvio::Error>(())
    /// ```
    pub fn accessed(&self) -> SystemTime {
        time(self.st.st_atim)
    }

    /// Creation (birth) time, where the file system records it (else libuv reports the
    /// change time or zero).
    ///
    /// # Examples
    ///
    /// ```
    /// let meta = uvio::fs::sync::metadata("Cargo.toml")?;
    /// assert!(meta.created() <= std::time::SystemTime::now());
    /// # Ok::<(), uvio::Error>(())
    /// ```
    pub fn created(&self) -> SystemTime {
        time(self.st.st_birthtim)
    }

    /// Birth time: the same as [`Metadata::created`], libuv's name.
    ///
    /// # Examples
    ///
    /// ```
    /// let meta = uvio::fs::sync::metadata("Cargo.toml")?;
    /// assert_eq!(meta.birthtime(), meta.created());
    /// # Ok::<(), uvio::Error>(())
    /// ```
    pub fn birthtime(&self) -> SystemTime {
        self.created()
    }

    /// Last status change time (`st_ctim`).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::os::unix::fs::MetadataExt;
    /// let meta = uvio::fs::sync::metadata("Cargo.toml")?;
    /// let secs = meta.changed().duration_since(std::time::UNIX_EPOCH)?.as_secs();
    /// assert_eq!(secs as i64, std::fs::metadata("Cargo.toml")?.ctime());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn changed(&self) -> SystemTime {
        time(self.st.st_ctim)
    }

    /// Device the file is on.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::os::unix::fs::MetadataExt;
    /// let (meta, std) = (uvio::fs::sync::metadata("Cargo.toml")?, std::fs::metadata("Cargo.toml")?);
    /// assert_eq!(meta.dev(), std.dev());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn dev(&self) -> u64 {
        self.st.st_dev
    }

    /// Inode number.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::os::unix::fs::MetadataExt;
    /// let (meta, std) = (uvio::fs::sync::metadata("Cargo.toml")?, std::fs::metadata("Cargo.toml")?);
    /// assert_eq!(meta.ino(), std.ino());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn ino(&self) -> u64 {
        self.st.st_ino
    }

    /// Number of hard links.
    ///
    /// # Examples
    ///
    /// ```
    /// let dir = tempfile::tempdir()?;
    /// let (a, b) = (dir.path().join("a"), dir.path().join("b"));
    /// std::fs::write(&a, "x")?;
    /// std::fs::hard_link(&a, &b)?;
    /// assert_eq!(uvio::fs::sync::metadata(&a)?.nlink(), 2);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn nlink(&self) -> u64 {
        self.st.st_nlink
    }

    /// Owner's user id.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::os::unix::fs::MetadataExt;
    /// let (meta, std) = (uvio::fs::sync::metadata("Cargo.toml")?, std::fs::metadata("Cargo.toml")?);
    /// assert_eq!(meta.uid(), std.uid());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn uid(&self) -> u32 {
        self.st.st_uid as u32
    }

    /// Owner's group id.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::os::unix::fs::MetadataExt;
    /// let (meta, std) = (uvio::fs::sync::metadata("Cargo.toml")?, std::fs::metadata("Cargo.toml")?);
    /// assert_eq!(meta.gid(), std.gid());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn gid(&self) -> u32 {
        self.st.st_gid as u32
    }

    /// Device id, for special files.
    ///
    /// # Examples
    ///
    /// ```
    /// // Zero for a regular file; `/dev/null` is a character device.
    /// assert_eq!(uvio::fs::sync::metadata("Cargo.toml")?.rdev(), 0);
    /// assert_ne!(uvio::fs::sync::metadata("/dev/null")?.rdev(), 0);
    /// # Ok::<(), uvio::Error>(())
    /// ```
    pub fn rdev(&self) -> u64 {
        self.st.st_rdev
    }

    /// Preferred I/O block size.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::os::unix::fs::MetadataExt;
    /// let (meta, std) = (uvio::fs::sync::metadata("Cargo.toml")?, std::fs::metadata("Cargo.toml")?);
    /// assert_eq!(meta.blksize(), std.blksize());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn blksize(&self) -> u64 {
        self.st.st_blksize
    }

    /// Number of 512-byte blocks allocated.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::os::unix::fs::MetadataExt;
    /// let (meta, std) = (uvio::fs::sync::metadata("Cargo.toml")?, std::fs::metadata("Cargo.toml")?);
    /// assert_eq!(meta.blocks(), std.blocks());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn blocks(&self) -> u64 {
        self.st.st_blocks
    }

    /// BSD file flags (zero on Linux).
    ///
    /// # Examples
    ///
    /// ```
    /// let meta = uvio::fs::sync::metadata("Cargo.toml")?;
    /// if cfg!(target_os = "linux") {
    ///     assert_eq!(meta.flags(), 0);
    /// }
    /// # Ok::<(), uvio::Error>(())
    /// ```
    pub fn flags(&self) -> u64 {
        self.st.st_flags
    }

    /// BSD file generation number (zero on Linux).
    ///
    /// # Examples
    ///
    /// ```
    /// let meta = uvio::fs::sync::metadata("Cargo.toml")?;
    /// if cfg!(target_os = "linux") {
    ///     assert_eq!(meta.generation(), 0);
    /// }
    /// # Ok::<(), uvio::Error>(())
    /// ```
    pub fn generation(&self) -> u64 {
        self.st.st_gen
    }
}

impl fmt::Debug for Metadata {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Metadata")
            .field("file_type", &self.file_type())
            .field("len", &self.len())
            .field("mode", &format_args!("{:o}", self.mode()))
            .field("modified", &self.modified())
            .field("ino", &self.ino())
            .finish_non_exhaustive()
    }
}

impl PartialEq for Metadata {
    fn eq(&self, other: &Self) -> bool {
        let a = &self.st;
        let b = &other.st;
        let ts = |x: ffi::uv_timespec_t, y: ffi::uv_timespec_t| {
            x.tv_sec == y.tv_sec && x.tv_nsec == y.tv_nsec
        };
        a.st_dev == b.st_dev
            && a.st_ino == b.st_ino
            && a.st_mode == b.st_mode
            && a.st_nlink == b.st_nlink
            && a.st_size == b.st_size
            && ts(a.st_mtim, b.st_mtim)
            && ts(a.st_ctim, b.st_ctim)
    }
}

/// File system statistics (`uv_statfs_t`).
///
/// # Examples
///
/// ```
/// let st = uvio::fs::sync::statfs(".")?;
/// assert!(st.bsize > 0);
/// # Ok::<(), uvio::Error>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StatFs {
    /// File system type (`f_type`).
    pub fs_type: u64,
    /// Optimal transfer block size.
    pub bsize: u64,
    /// Total data blocks.
    pub blocks: u64,
    /// Free blocks.
    pub bfree: u64,
    /// Free blocks available to unprivileged users.
    pub bavail: u64,
    /// Total file nodes.
    pub files: u64,
    /// Free file nodes.
    pub ffree: u64,
}

impl StatFs {
    pub(crate) fn from_raw(s: &ffi::uv_statfs_t) -> StatFs {
        StatFs {
            fs_type: s.f_type,
            bsize: s.f_bsize,
            blocks: s.f_blocks,
            bfree: s.f_bfree,
            bavail: s.f_bavail,
            files: s.f_files,
            ffree: s.f_ffree,
        }
    }
}
