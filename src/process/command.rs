//! [`Command`]: what to run and how, turned into a `uv_process_options_t`
//! that lives exactly as long as the `uv_spawn` call (libuv copies what it keeps: the exit
//! callback and the pid; the strings are read by the child before `uv_spawn` returns).

use std::collections::BTreeMap;
use std::ffi::{CString, OsStr, OsString};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Path, PathBuf};

use super::Stdio;
use crate::error::{Error, Result};
use crate::ffi;

/// The highest descriptor number a [`Command`] can set up in the child (a guard against a
/// typo allocating a huge table).
const MAX_FD: u32 = 1023;

/// A process to start: the program, its arguments, environment, working directory and
/// descriptors, as [`std::process::Command`] says them. Start it with [`spawn`](Self::spawn)
/// (or [`spawn_cb`](Self::spawn_cb), with an exit callback), or run it to the end with
/// [`status`](Self::status) or [`output`](Self::output).
///
/// A `Command` can be spawned any number of times. A program name without a `/` is looked
/// up in the child's `PATH` (this process's, unless the environment was changed; libc's
/// default path when there is none); a relative path with a `/` is taken from the child's
/// working directory.
///
/// # Examples
///
/// ```
/// use uvio::process::Command;
///
/// let lp = uvio::Loop::new()?;
/// let out = lp.block_on(
///     Command::new("sh")
///         .arg("-c")
///         .arg("echo \"$GREETING, $0\"")
///         .arg("world")
///         .env("GREETING", "hello")
///         .output(),
/// )??;
/// assert!(out.status.success());
/// assert_eq!(out.stdout, b"hello, world\n");
/// # Ok::<(), uvio::Error>(())
/// ```
#[derive(Debug)]
pub struct Command {
    program: OsString,
    args: Vec<OsString>,
    env_clear: bool,
    /// `None` removes the variable.
    env: BTreeMap<OsString, Option<OsString>>,
    cwd: Option<PathBuf>,
    /// Index = the child's descriptor; `None` = the default for the way it is run.
    stdio: Vec<Option<Stdio>>,
    uid: Option<u32>,
    gid: Option<u32>,
    detached: bool,
}

impl Command {
    /// A command running `program` (looked up in the child's `PATH` when it has no `/`),
    /// with no arguments, this process's environment and working directory.
    ///
    /// # Examples
    ///
    /// ```
    /// let cmd = uvio::process::Command::new("ls");
    /// assert_eq!(cmd.get_program(), "ls");
    /// ```
    pub fn new(program: impl AsRef<OsStr>) -> Command {
        Command {
            program: program.as_ref().to_owned(),
            args: Vec::new(),
            env_clear: false,
            env: BTreeMap::new(),
            cwd: None,
            stdio: Vec::new(),
            uid: None,
            gid: None,
            detached: false,
        }
    }

    /// Adds an argument.
    ///
    /// # Examples
    ///
    /// ```
    /// let lp = uvio::Loop::new()?;
    /// let out = lp.block_on(uvio::process::Command::new("echo").arg("one").arg("two").output())??;
    /// assert_eq!(out.stdout, b"one two\n");
    /// # Ok::<(), uvio::Error>(())
    /// ```
    pub fn arg(&mut self, arg: impl AsRef<OsStr>) -> &mut Command {
        self.args.push(arg.as_ref().to_owned());
        self
    }

    /// Adds arguments.
    ///
    /// # Examples
    ///
    /// ```
    /// let lp = uvio::Loop::new()?;
    /// let out = lp.block_on(uvio::process::Command::new("echo").args(["a", "b"]).output())??;
    /// assert_eq!(out.stdout, b"a b\n");
    /// # Ok::<(), uvio::Error>(())
    /// ```
    pub fn args<I, S>(&mut self, args: I) -> &mut Command
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        self.args
            .extend(args.into_iter().map(|a| a.as_ref().to_owned()));
        self
    }

    /// Sets an environment variable for the child.
    ///
    /// # Examples
    ///
    /// ```
    /// let lp = uvio::Loop::new()?;
    /// let out = lp.block_on(
    ///     uvio::process::Command::new("sh").args(["-c", "echo $NAME"]).env("NAME", "uvio").output(),
    /// )??;
    /// assert_eq!(out.stdout, b"uvio\n");
    /// # Ok::<(), uvio::Error>(())
    /// ```
    pub fn env(&mut self, key: impl AsRef<OsStr>, val: impl AsRef<OsStr>) -> &mut Command {
        self.env
            .insert(key.as_ref().to_owned(), Some(val.as_ref().to_owned()));
        self
    }

    /// Sets environment variables for the child.
    ///
    /// # Examples
    ///
    /// ```
    /// let lp = uvio::Loop::new()?;
    /// let out = lp.block_on(
    ///     uvio::process::Command::new("sh")
    ///         .args(["-c", "echo $A$B"])
    ///         .envs([("A", "1"), ("B", "2")])
    ///         .output(),
    /// )??;
    /// assert_eq!(out.stdout, b"12\n");
    /// # Ok::<(), uvio::Error>(())
    /// ```
    pub fn envs<I, K, V>(&mut self, vars: I) -> &mut Command
    where
        I: IntoIterator<Item = (K, V)>,
        K: AsRef<OsStr>,
        V: AsRef<OsStr>,
    {
        for (k, v) in vars {
            self.env(k, v);
        }
        self
    }

    /// Removes a variable from the child's environment.
    ///
    /// # Examples
    ///
    /// ```
    /// let lp = uvio::Loop::new()?;
    /// let out = lp.block_on(
    ///     uvio::process::Command::new("sh")
    ///         .args(["-c", "echo ${A-gone}"])
    ///         .env("A", "1")
    ///         .env_remove("A")
    ///         .output(),
    /// )??;
    /// assert_eq!(out.stdout, b"gone\n");
    /// # Ok::<(), uvio::Error>(())
    /// ```
    pub fn env_remove(&mut self, key: impl AsRef<OsStr>) -> &mut Command {
        self.env.insert(key.as_ref().to_owned(), None);
        self
    }

    /// Starts the child's environment empty (variables set afterwards with
    /// [`env`](Self::env) are still passed).
    ///
    /// # Examples
    ///
    /// ```
    /// let lp = uvio::Loop::new()?;
    /// let out = lp.block_on(uvio::process::Command::new("/usr/bin/env").env_clear().env("ONLY", "me").output())??;
    /// assert_eq!(out.stdout, b"ONLY=me\n");
    /// # Ok::<(), uvio::Error>(())
    /// ```
    pub fn env_clear(&mut self) -> &mut Command {
        self.env_clear = true;
        self.env.clear();
        self
    }

    /// The child's working directory. A relative program path is looked up from there.
    ///
    /// # Examples
    ///
    /// ```
    /// let lp = uvio::Loop::new()?;
    /// let out = lp.block_on(uvio::process::Command::new("pwd").current_dir("/").output())??;
    /// assert_eq!(out.stdout, b"/\n");
    /// # Ok::<(), uvio::Error>(())
    /// ```
    pub fn current_dir(&mut self, dir: impl AsRef<Path>) -> &mut Command {
        self.cwd = Some(dir.as_ref().to_owned());
        self
    }

    /// The child's standard input (descriptor 0).
    ///
    /// # Examples
    ///
    /// ```
    /// use uvio::process::{Command, Stdio};
    /// let lp = uvio::Loop::new()?;
    /// // cat reads an empty stdin and exits at once.
    /// let out = lp.block_on(Command::new("cat").stdin(Stdio::null()).output())??;
    /// assert!(out.status.success() && out.stdout.is_empty());
    /// # Ok::<(), uvio::Error>(())
    /// ```
    pub fn stdin(&mut self, cfg: impl Into<Stdio>) -> &mut Command {
        self.set_fd(0, cfg.into())
    }

    /// The child's standard output (descriptor 1).
    ///
    /// # Examples
    ///
    /// ```
    /// use uvio::process::{Command, Stdio};
    /// let lp = uvio::Loop::new()?;
    /// let out = lp.block_on(Command::new("echo").arg("hidden").stdout(Stdio::null()).output())??;
    /// assert!(out.stdout.is_empty());
    /// # Ok::<(), uvio::Error>(())
    /// ```
    pub fn stdout(&mut self, cfg: impl Into<Stdio>) -> &mut Command {
        self.set_fd(1, cfg.into())
    }

    /// The child's standard error (descriptor 2).
    ///
    /// # Examples
    ///
    /// ```
    /// use uvio::process::{Command, Stdio};
    /// let lp = uvio::Loop::new()?;
    /// let out = lp.block_on(
    ///     Command::new("sh").args(["-c", "echo oops >&2"]).stderr(Stdio::piped()).output(),
    /// )??;
    /// assert_eq!(out.stderr, b"oops\n");
    /// # Ok::<(), uvio::Error>(())
    /// ```
    pub fn stderr(&mut self, cfg: impl Into<Stdio>) -> &mut Command {
        self.set_fd(2, cfg.into())
    }

    /// The child's descriptor `fd` (any number up to 1023; 0-2 are the same as
    /// [`stdin`](Self::stdin) and so on). Descriptors above 2 that are not set are closed
    /// in the child. A piped one is taken from the child with
    /// [`Child::take_pipe`](crate::process::Child::take_pipe).
    ///
    /// # Examples
    ///
    /// ```
    /// use futures::AsyncReadExt;
    /// use uvio::process::{Command, Stdio};
    ///
    /// let lp = uvio::Loop::new()?;
    /// let text = lp.block_on(async {
    ///     let mut child = Command::new("sh")
    ///         .args(["-c", "echo on three >&3"])
    ///         .fd(3, Stdio::piped())
    ///         .spawn(&uvio::LoopHandle::current().unwrap())?;
    ///     let mut text = String::new();
    ///     (&child.take_pipe(3).unwrap()).read_to_string(&mut text).await?;
    ///     child.wait().await?;
    ///     Ok::<_, std::io::Error>(text)
    /// })??;
    /// assert_eq!(text, "on three\n");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn fd(&mut self, fd: u32, cfg: impl Into<Stdio>) -> &mut Command {
        self.set_fd(fd.min(MAX_FD + 1) as usize, cfg.into())
    }

    fn set_fd(&mut self, fd: usize, cfg: Stdio) -> &mut Command {
        if self.stdio.len() <= fd {
            self.stdio.resize_with(fd + 1, || None);
        }
        self.stdio[fd] = Some(cfg);
        self
    }

    /// Runs the child as user `uid` (`UV_PROCESS_SETUID`; needs the privilege to).
    ///
    /// # Examples
    ///
    /// ```
    /// let mut cmd = uvio::process::Command::new("id");
    /// cmd.arg("-u").uid(65534); // `nobody`, when this process may switch users
    /// ```
    pub fn uid(&mut self, uid: u32) -> &mut Command {
        self.uid = Some(uid);
        self
    }

    /// Runs the child with group `gid` (`UV_PROCESS_SETGID`; needs the privilege to).
    ///
    /// # Examples
    ///
    /// ```
    /// let mut cmd = uvio::process::Command::new("id");
    /// cmd.arg("-g").gid(65534);
    /// ```
    pub fn gid(&mut self, gid: u32) -> &mut Command {
        self.gid = Some(gid);
        self
    }

    /// Starts the child in a new session and process group (`UV_PROCESS_DETACHED`), so it
    /// can outlive this process. Its handle still keeps the loop alive until it exits,
    /// unless [`unref`](crate::process::Child::unref)'d.
    ///
    /// # Examples
    ///
    /// ```
    /// let lp = uvio::Loop::new()?;
    /// let child = uvio::process::Command::new("true").detached(true).spawn(&lp)?;
    /// assert!(lp.block_on(child.wait())??.success());
    /// # Ok::<(), uvio::Error>(())
    /// ```
    pub fn detached(&mut self, detached: bool) -> &mut Command {
        self.detached = detached;
        self
    }

    /// The program, as given to [`new`](Self::new).
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(uvio::process::Command::new("sh").get_program(), "sh");
    /// ```
    pub fn get_program(&self) -> &OsStr {
        &self.program
    }

    /// The arguments (not including the program).
    ///
    /// # Examples
    ///
    /// ```
    /// let mut cmd = uvio::process::Command::new("sh");
    /// cmd.args(["-c", "true"]);
    /// assert_eq!(cmd.get_args().collect::<Vec<_>>(), ["-c", "true"]);
    /// ```
    pub fn get_args(&self) -> impl Iterator<Item = &OsStr> {
        self.args.iter().map(OsString::as_os_str)
    }

    /// The working directory, if set.
    ///
    /// # Examples
    ///
    /// ```
    /// let mut cmd = uvio::process::Command::new("ls");
    /// assert_eq!(cmd.get_current_dir(), None);
    /// cmd.current_dir("/tmp");
    /// assert_eq!(cmd.get_current_dir(), Some(std::path::Path::new("/tmp")));
    /// ```
    pub fn get_current_dir(&self) -> Option<&Path> {
        self.cwd.as_deref()
    }

    /// The configuration of descriptor `fd` (or `default` when unset); `None` past the end.
    pub(super) fn stdio_of<'a>(&'a self, fd: usize, default: &'a Stdio) -> &'a Stdio {
        self.stdio
            .get(fd)
            .and_then(Option::as_ref)
            .unwrap_or(default)
    }

    /// How many descriptors the child gets set up (at least 3).
    pub(super) fn stdio_count(&self) -> usize {
        self.stdio.len().max(3)
    }

    /// The program as shown in errors.
    pub(super) fn shown(&self) -> std::borrow::Cow<'_, str> {
        self.program.to_string_lossy()
    }

    /// Everything `uv_spawn` reads, as C data; `EINVAL` for a NUL byte anywhere (or a
    /// `=` in a variable name, or a descriptor number above 1023).
    pub(super) fn to_c(&self) -> Result<CCommand> {
        let bad = |what: &'static str| Error::EINVAL.with_context(what, self.shown());
        let cstr = |s: &OsStr, what| CString::new(s.as_bytes()).map_err(|_| bad(what));
        if self.stdio.len() > MAX_FD as usize + 1 {
            return Err(bad("spawn: descriptor number above 1023"));
        }
        let file = cstr(&self.program, "spawn: NUL byte in program")?;
        let mut args = vec![file.clone()];
        for a in &self.args {
            args.push(cstr(a, "spawn: NUL byte in argument")?);
        }
        let env = if self.env_clear || !self.env.is_empty() {
            let mut vars: BTreeMap<OsString, OsString> = if self.env_clear {
                BTreeMap::new()
            } else {
                std::env::vars_os().collect()
            };
            for (k, v) in &self.env {
                if k.is_empty() || k.as_bytes().contains(&b'=') {
                    return Err(bad("spawn: bad environment variable name"));
                }
                match v {
                    Some(v) => vars.insert(k.clone(), v.clone()),
                    None => vars.remove(k),
                };
            }
            let mut out = Vec::with_capacity(vars.len());
            for (mut k, v) in vars {
                k.push("=");
                k.push(v);
                out.push(
                    CString::new(k.into_vec())
                        .map_err(|_| bad("spawn: NUL byte in environment"))?,
                );
            }
            Some(out)
        } else {
            None
        };
        let cwd = match &self.cwd {
            Some(d) => Some(cstr(d.as_os_str(), "spawn: NUL byte in current_dir")?),
            None => None,
        };
        let mut flags = 0;
        if self.uid.is_some() {
            flags |= ffi::UV_PROCESS_SETUID;
        }
        if self.gid.is_some() {
            flags |= ffi::UV_PROCESS_SETGID;
        }
        if self.detached {
            flags |= ffi::UV_PROCESS_DETACHED;
        }
        Ok(CCommand {
            argv: null_terminated(&args),
            envp: env.as_deref().map(null_terminated),
            file,
            args,
            env,
            cwd,
            flags,
            uid: self.uid.unwrap_or(0),
            gid: self.gid.unwrap_or(0),
        })
    }
}

fn null_terminated(v: &[CString]) -> Vec<*mut ffi::c_char> {
    v.iter()
        .map(|c| c.as_ptr().cast_mut())
        .chain(std::iter::once(std::ptr::null_mut()))
        .collect()
}

/// A [`Command`] as C strings and pointer arrays; the pointers point into the strings,
/// which this value owns (moving a `CString` does not move its bytes).
pub(super) struct CCommand {
    file: CString,
    #[allow(dead_code)] // owns what `argv` points at
    args: Vec<CString>,
    argv: Vec<*mut ffi::c_char>,
    #[allow(dead_code)] // owns what `envp` points at
    env: Option<Vec<CString>>,
    envp: Option<Vec<*mut ffi::c_char>>,
    cwd: Option<CString>,
    flags: u32,
    uid: u32,
    gid: u32,
}

impl CCommand {
    /// The options for `uv_spawn`, pointing into `self` and `stdio`: valid while both are.
    pub(super) fn options(
        &mut self,
        stdio: &mut [ffi::uv_stdio_container_t],
        exit_cb: ffi::uv_exit_cb,
    ) -> ffi::uv_process_options_t {
        ffi::uv_process_options_t {
            exit_cb,
            file: self.file.as_ptr(),
            args: self.argv.as_mut_ptr(),
            env: self
                .envp
                .as_mut()
                .map_or(std::ptr::null_mut(), |e| e.as_mut_ptr()),
            cwd: self.cwd.as_ref().map_or(std::ptr::null(), |c| c.as_ptr()),
            flags: self.flags,
            stdio_count: stdio.len() as i32,
            stdio: stdio.as_mut_ptr(),
            uid: self.uid,
            gid: self.gid,
        }
    }
}
