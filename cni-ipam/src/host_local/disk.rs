//! The on-disk store, byte-for-byte compatible with Go host-local (`backend/disk`), so the Go
//! and Rust plugins can share a `dataDir`:
//!
//! - directory `<dataDir>/<network>/`, created with mode 0755;
//! - one file per reserved address, named by the canonical address (`10.1.2.2`,
//!   `2001:db8:1::2`), created exclusively with mode 0644, holding `<id>\r\n<ifname>` with no
//!   trailing newline (legacy files holding only `<id>` are read too); the file appears with its
//!   content at once (written unnamed with `O_TMPFILE`, then linked), so a killed plugin never
//!   leaves an empty, ownerless reservation;
//! - `last_reserved_ip.<range set index>` holding the bare address, mode 0644;
//! - `lock`, opened read-only (created with mode 0750 like Go's filemutex) and held with
//!   `flock(LOCK_EX)` for the length of each operation.

use std::fs::{self, DirBuilder, OpenOptions};
use std::io::{ErrorKind as IoKind, Write};
use std::net::IpAddr;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use nix::errno::Errno;
use nix::fcntl::{AT_FDCWD, AtFlags, Flock, FlockArg, OFlag, open};
use nix::sys::stat::Mode;
use nix::unistd::linkat;

use crate::error::{IpamError, Result};
use crate::host_local::store::{Reservation, Store, StoreLock};

/// The default `dataDir`.
pub const DEFAULT_DATA_DIR: &str = "/var/lib/cni/networks";
/// The line break between container id and interface name in a reservation file.
pub const LINE_BREAK: &str = "\r\n";
/// The name prefix of the files remembering the last reserved address per range set.
pub const LAST_IP_FILE_PREFIX: &str = "last_reserved_ip.";
/// The name of the lock file.
pub const LOCK_FILE: &str = "lock";

/// Reservations of one network in `<dataDir>/<network>/`.
#[derive(Debug)]
pub struct DiskStore {
    dir: PathBuf,
    /// The lock file as [`DiskStore::open`] created (opened) it, kept for the first
    /// [`Store::lock`] so that one ADD opens the lock file once. Taken by that lock; every
    /// later lock opens a fresh descriptor.
    opened_lock: Mutex<Option<OwnedFd>>,
}

impl Clone for DiskStore {
    /// A clone shares nothing: it opens its own lock file descriptor for each lock.
    fn clone(&self) -> Self {
        DiskStore::at(self.dir.clone())
    }
}

impl DiskStore {
    /// Opens (creating if needed) the store of `network` under `data_dir`.
    ///
    /// The network name must be a valid CNI name (`[a-zA-Z0-9][a-zA-Z0-9_.-]*`, and not `.`
    /// or `..`), so the store cannot leave `data_dir` (code 7). Failing to create the
    /// directory or the lock file is an I/O error (code 5).
    pub fn open(data_dir: &Path, network: &str) -> Result<Self> {
        cni_types::validate::network_name(network)?;
        let dir = data_dir.join(network);
        DirBuilder::new()
            .recursive(true)
            .mode(0o755)
            .create(&dir)
            .map_err(|e| IpamError::io(format!("creating {}", dir.display()), e))?;
        let store = DiskStore::at(dir);
        // Create the lock file now, as Go does, so a bad directory fails early; the descriptor
        // serves the first lock.
        let fd = store.open_lock_file()?;
        if let Ok(mut slot) = store.opened_lock.lock() {
            *slot = Some(fd);
        }
        Ok(store)
    }

    /// Opens the store of `network` under `data_dir` if its directory exists; `None` when
    /// there is no state at all (DEL, CHECK, GC and STATUS need not create it).
    pub fn open_existing(data_dir: &Path, network: &str) -> Result<Option<Self>> {
        cni_types::validate::network_name(network)?;
        let dir = data_dir.join(network);
        match fs::metadata(&dir) {
            Ok(m) if m.is_dir() => Ok(Some(DiskStore::at(dir))),
            Ok(_) => Err(IpamError::io(
                format!("opening {}", dir.display()),
                std::io::Error::new(IoKind::NotADirectory, "not a directory"),
            )),
            Err(e) if e.kind() == IoKind::NotFound => Ok(None),
            Err(e) => Err(IpamError::io(format!("opening {}", dir.display()), e)),
        }
    }

    fn at(dir: PathBuf) -> Self {
        DiskStore {
            dir,
            opened_lock: Mutex::new(None),
        }
    }

    /// The network's directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn path_of(&self, ip: IpAddr) -> PathBuf {
        self.dir.join(ip.to_string())
    }

    fn last_ip_path(&self, range_id: usize) -> PathBuf {
        self.dir.join(format!("{LAST_IP_FILE_PREFIX}{range_id}"))
    }

    fn open_lock_file(&self) -> Result<OwnedFd> {
        let path = self.dir.join(LOCK_FILE);
        open(
            &path,
            OFlag::O_CREAT | OFlag::O_RDONLY | OFlag::O_CLOEXEC,
            Mode::from_bits_truncate(0o750),
        )
        .map_err(|e| IpamError::io(format!("opening {}", path.display()), e.into()))
    }
}

impl DiskStore {
    /// Makes the reservation file `path` appear with its content in one step: the content goes
    /// into an unnamed file of the directory (`O_TMPFILE`), which is then linked under `path`
    /// (refused if the name exists). A process killed at any point leaves either nothing or the
    /// complete file; creating the file and then writing it (as Go does) can leave an empty
    /// file, owned by no container, whose address no DEL ever frees. `None` when the
    /// filesystem (or a missing `/proc`) cannot do this; the caller then creates and writes.
    fn link_new_file(&self, path: &Path, content: &[u8]) -> Option<std::io::Result<bool>> {
        let mut file = match OpenOptions::new()
            .write(true)
            .custom_flags(libc::O_TMPFILE)
            .mode(0o644)
            .open(&self.dir)
        {
            Ok(f) => f,
            Err(e)
                if matches!(
                    e.raw_os_error(),
                    Some(libc::EOPNOTSUPP | libc::EISDIR | libc::EINVAL)
                ) =>
            {
                return None;
            }
            Err(e) => return Some(Err(e)),
        };
        if let Err(e) = file.write_all(content) {
            return Some(Err(e));
        }
        let fd_path = format!("/proc/self/fd/{}", file.as_raw_fd());
        match linkat(
            AT_FDCWD,
            fd_path.as_str(),
            AT_FDCWD,
            path,
            AtFlags::AT_SYMLINK_FOLLOW,
        ) {
            Ok(()) => Some(Ok(true)),
            Err(Errno::EEXIST) => Some(Ok(false)),
            // No /proc: fall back to create-then-write.
            Err(Errno::ENOENT) if !Path::new("/proc/self/fd").exists() => None,
            Err(e) => Some(Err(e.into())),
        }
    }
}

/// Creates `path` exclusively and writes `content` into it; `false` when it exists. A write
/// failure removes the file again.
fn create_then_write(path: &Path, content: &[u8]) -> Result<bool> {
    let mut file = match OpenOptions::new()
        .read(true)
        .write(true)
        .create_new(true)
        .mode(0o644)
        .open(path)
    {
        Ok(f) => f,
        Err(e) if e.kind() == IoKind::AlreadyExists => return Ok(false),
        Err(e) => return Err(IpamError::io(format!("creating {}", path.display()), e)),
    };
    if let Err(e) = file.write_all(content) {
        drop(file);
        let _ = fs::remove_file(path);
        return Err(IpamError::io(format!("writing {}", path.display()), e));
    }
    Ok(true)
}

/// Replaces the content of `path` (created with mode 0644 if missing) by overwriting it from
/// the start and then setting its length. The result is what Go's truncate-and-write leaves,
/// but a truncation to zero makes ext4 flush the file's data on close (`auto_da_alloc`), and
/// the next ADD's truncation then waits for that write-back: milliseconds per ADD. The file
/// is only read under the lock, and a half-written address is ignored like any unreadable one.
fn write_in_place(path: &Path, content: &[u8]) -> std::io::Result<()> {
    use std::os::unix::fs::FileExt;
    let file = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o644)
        .open(path)?;
    file.write_all_at(content, 0)?;
    let len = u64::try_from(content.len()).unwrap_or(u64::MAX);
    if file.metadata()?.len() != len {
        file.set_len(len)?;
    }
    Ok(())
}

/// Parses the content of a reservation file: `id\r\nifname`, or a legacy bare `id`.
pub fn parse_reservation(ip: IpAddr, content: &str) -> Reservation {
    let content = content.trim();
    match content.split_once(LINE_BREAK) {
        Some((id, ifname)) => Reservation {
            ip,
            container_id: id.to_string(),
            ifname: Some(ifname.to_string()),
        },
        None => Reservation {
            ip,
            container_id: content.to_string(),
            ifname: None,
        },
    }
}

impl Store for DiskStore {
    fn lock(&self) -> Result<StoreLock<'_>> {
        // A fresh open file description per lock, so that two users in one process exclude
        // each other too (flock locks belong to the open file description): the one `open`
        // made is used once, by the first lock.
        let kept = self
            .opened_lock
            .lock()
            .ok()
            .and_then(|mut slot| slot.take());
        let mut fd = match kept {
            Some(fd) => fd,
            None => self.open_lock_file()?,
        };
        loop {
            match Flock::lock(fd, FlockArg::LockExclusive) {
                Ok(held) => return Ok(StoreLock::new(held)),
                Err((back, Errno::EINTR)) => fd = back,
                Err((_, e)) => {
                    return Err(IpamError::io(
                        format!("locking {}", self.dir.join(LOCK_FILE).display()),
                        e.into(),
                    ));
                }
            }
        }
    }

    fn reserve(&self, id: &str, ifname: &str, ip: IpAddr, range_id: usize) -> Result<bool> {
        let path = self.path_of(ip);
        let content = format!("{}{LINE_BREAK}{ifname}", id.trim());
        match self.link_new_file(&path, content.as_bytes()) {
            Some(Ok(true)) => {}
            Some(Ok(false)) => return Ok(false),
            Some(Err(e)) => return Err(IpamError::io(format!("creating {}", path.display()), e)),
            None => {
                if !create_then_write(&path, content.as_bytes())? {
                    return Ok(false);
                }
            }
        }
        let last = self.last_ip_path(range_id);
        write_in_place(&last, ip.to_string().as_bytes())
            .map_err(|e| IpamError::io(format!("writing {}", last.display()), e))?;
        Ok(true)
    }

    fn last_reserved_ip(&self, range_id: usize) -> Result<Option<IpAddr>> {
        let path = self.last_ip_path(range_id);
        let mut buf = Vec::with_capacity(64);
        let read = fs::File::open(&path).and_then(|f| read_small(f, &mut buf));
        let text = read.and_then(|()| {
            std::str::from_utf8(&buf).map_err(|_| {
                std::io::Error::new(IoKind::InvalidData, "stream did not contain valid UTF-8")
            })
        });
        match text {
            Ok(s) => Ok(s.trim().parse::<IpAddr>().ok().map(crate::ip::canonical_ip)),
            Err(e) if e.kind() == IoKind::NotFound => Ok(None),
            Err(e) => Err(IpamError::io(format!("reading {}", path.display()), e)),
        }
    }

    fn release(&self, ip: IpAddr) -> Result<()> {
        let path = self.path_of(ip);
        match fs::remove_file(&path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == IoKind::NotFound => Ok(()),
            Err(e) => Err(IpamError::io(format!("removing {}", path.display()), e)),
        }
    }

    fn reservation(&self, ip: IpAddr) -> Result<Option<Reservation>> {
        let path = self.path_of(ip);
        // What `reservations` would skip (a symlink, a directory, a FIFO, unreadable or
        // non-UTF-8 content) is no reservation here either; O_NONBLOCK keeps a FIFO from
        // blocking the open.
        let Ok(fd) = open(
            &path,
            OFlag::O_RDONLY | OFlag::O_CLOEXEC | OFlag::O_NOFOLLOW | OFlag::O_NONBLOCK,
            Mode::empty(),
        ) else {
            return Ok(None);
        };
        let file = fs::File::from(fd);
        if !file.metadata().is_ok_and(|m| m.is_file()) {
            return Ok(None);
        }
        let mut buf = Vec::with_capacity(64);
        if read_small(file, &mut buf).is_err() {
            return Ok(None);
        }
        Ok(std::str::from_utf8(&buf)
            .ok()
            .map(|content| parse_reservation(ip, content)))
    }

    fn reservations(&self) -> Result<Vec<Reservation>> {
        let entries = fs::read_dir(&self.dir)
            .map_err(|e| IpamError::io(format!("reading {}", self.dir.display()), e))?;
        // Files are opened relative to the directory (no path walk per file) and read into
        // one buffer: this scan is the cost of every ADD and DEL, as in Go.
        let dir_fd = open(
            &self.dir,
            OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
            Mode::empty(),
        )
        .map_err(|e| IpamError::io(format!("opening {}", self.dir.display()), e.into()))?;
        let mut buf = Vec::with_capacity(256);
        let mut out = Vec::new();
        for entry in entries.flatten() {
            let Ok(name) = entry.file_name().into_string() else {
                continue;
            };
            // Only files named by a canonical address are reservations; `lock`,
            // `last_reserved_ip.*` and anything else are left alone.
            let Ok(ip) = name.parse::<IpAddr>() else {
                continue;
            };
            if ip.to_string() != name || !entry.file_type().is_ok_and(|t| t.is_file()) {
                continue;
            }
            if read_at(&dir_fd, name.as_str(), &mut buf).is_err() {
                continue;
            }
            let Ok(content) = std::str::from_utf8(&buf) else {
                continue;
            };
            out.push(parse_reservation(ip, content));
        }
        Ok(out)
    }
}

/// Reads the file `name` of directory `dir` into `buf` (replacing its content).
fn read_at(dir: &OwnedFd, name: &str, buf: &mut Vec<u8>) -> std::io::Result<()> {
    let fd = nix::fcntl::openat(
        dir,
        name,
        OFlag::O_RDONLY | OFlag::O_CLOEXEC | OFlag::O_NOFOLLOW,
        Mode::empty(),
    )?;
    read_small(fs::File::from(fd), buf)
}

/// Reads the regular file `file` into `buf` (replacing its content). A read that returns less
/// than it asked for has reached the end of a regular file, so a short file (every file of the
/// store) takes one `read`, not a second one to see the end.
fn read_small(mut file: fs::File, buf: &mut Vec<u8>) -> std::io::Result<()> {
    use std::io::Read;
    buf.clear();
    let mut chunk = [0u8; 512];
    loop {
        match file.read(&mut chunk) {
            Ok(0) => return Ok(()),
            Ok(n) => {
                buf.extend_from_slice(chunk.get(..n).unwrap_or_default());
                if n < chunk.len() {
                    return Ok(());
                }
            }
            Err(e) if e.kind() == IoKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
}
