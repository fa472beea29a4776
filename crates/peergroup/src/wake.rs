//! What wakes a group's feed reader: the file system telling that the group folder changed
//! (inotify on Linux), or a stop request. Where inotify is missing (other systems, or the
//! per-user watch limit reached) the reader checks every [`FALLBACK_POLL`] instead.
//!
//! The folder is watched, not the files: the WAL file comes and goes, and the folder also
//! tells of the database being renamed away (group deleted) and of the presence lock file
//! being closed by a writer (a presence holder released it or died). Writers touch the
//! folder's times after each commit (`peergroup-state`), the one event that comes after the
//! commit is visible; the WAL writes before it only hurry the reader.

use std::ffi::OsStr;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

/// How often a reader without inotify checks the database (SQLite's `data_version`, a few
/// microseconds) and the presence lock.
pub const FALLBACK_POLL: Duration = Duration::from_millis(5);

/// What one wait saw.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Woken {
    /// Something in the folder changed (or the wait is a polling one): read the feed.
    pub(crate) changed: bool,
    /// The presence lock file was closed by a process that had it open for writing.
    pub(crate) lock_closed: bool,
    /// The folder itself was removed or renamed.
    pub(crate) folder_gone: bool,
    /// [`Stopper::stop`] was called.
    pub(crate) stop: bool,
}

/// The waiting side, owned by the reader thread.
#[derive(Debug)]
pub(crate) struct Wake {
    /// `None`: polling every [`FALLBACK_POLL`].
    inotify: Option<OwnedFd>,
    /// The read end of the stop pipe.
    stop: Arc<OwnedFd>,
    lock_name: Vec<u8>,
}

/// The stopping side: wakes the reader at once, from any thread.
#[derive(Debug)]
pub(crate) struct Stopper {
    write: OwnedFd,
    /// The read end, kept open while a stop may be written: a write to a pipe without a
    /// reader raises `SIGPIPE`, which kills a C program that did not ignore it.
    _read: Arc<OwnedFd>,
}

impl Stopper {
    pub(crate) fn stop(&self) {
        let byte = 1u8;
        // SAFETY: writes one byte from a live local; a full pipe already holds a stop request.
        let _ = unsafe { libc::write(self.write.as_raw_fd(), (&raw const byte).cast(), 1) };
    }
}

fn pipe() -> std::io::Result<(OwnedFd, OwnedFd)> {
    let mut fds = [0; 2];
    // Close-on-exec from the start: another thread's fork and exec must not inherit the pipe.
    // SAFETY: pipe2 writes two descriptors into the array it is given.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC | libc::O_NONBLOCK) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: both descriptors were just opened and are owned by nobody else.
    Ok(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
}

impl Wake {
    /// Watches `dir` (the group folder), noting closes of the file `lock_name` in it.
    pub(crate) fn new(dir: &Path, lock_name: &OsStr) -> std::io::Result<(Self, Stopper)> {
        use std::os::unix::ffi::OsStrExt;
        let (stop, write) = pipe()?;
        let stop = Arc::new(stop);
        let stopper = Stopper { write, _read: stop.clone() };
        let wake = Self { inotify: watch(dir), stop, lock_name: lock_name.as_bytes().to_vec() };
        Ok((wake, stopper))
    }

    /// Whether the file system wakes this reader (else it polls).
    pub(crate) fn is_notified(&self) -> bool {
        self.inotify.is_some()
    }

    /// Waits until something happens or `timeout` passes, and takes every pending
    /// notification, so that anything later wakes the next wait.
    pub(crate) fn wait(&self, timeout: Duration) -> Woken {
        let timeout = match self.inotify {
            Some(_) => timeout,
            None => timeout.min(FALLBACK_POLL),
        };
        let mut fds = [
            libc::pollfd { fd: self.stop.as_raw_fd(), events: libc::POLLIN, revents: 0 },
            libc::pollfd { fd: self.inotify.as_ref().map_or(-1, AsRawFd::as_raw_fd), events: libc::POLLIN, revents: 0 },
        ];
        let ms = libc::c_int::try_from(timeout.as_millis().max(1)).unwrap_or(libc::c_int::MAX);
        // SAFETY: two valid pollfd entries (a negative fd is ignored by poll).
        let n = unsafe { libc::poll(fds.as_mut_ptr(), 2, ms) };
        let mut woken = Woken::default();
        if n <= 0 {
            // A timeout (or EINTR): a polling reader reads anyway.
            woken.changed = self.inotify.is_none();
            return woken;
        }
        if fds[0].revents != 0 {
            woken.stop = true;
        }
        if fds[1].revents != 0
            && let Some(fd) = &self.inotify
        {
            self.drain(fd, &mut woken);
        }
        woken
    }

    #[cfg(target_os = "linux")]
    fn drain(&self, fd: &OwnedFd, woken: &mut Woken) {
        const HEADER: usize = std::mem::size_of::<libc::inotify_event>();
        // Aligned for the event header; big enough for many events at once.
        let mut buf = [0u64; 512];
        loop {
            // SAFETY: reads at most the buffer's size into it.
            let n = unsafe { libc::read(fd.as_raw_fd(), buf.as_mut_ptr().cast(), std::mem::size_of_val(&buf)) };
            let Ok(n) = usize::try_from(n) else { return };
            if n == 0 {
                return;
            }
            // SAFETY: the kernel wrote `n` bytes of whole events into the buffer.
            let bytes = unsafe { std::slice::from_raw_parts(buf.as_ptr().cast::<u8>(), n) };
            let mut at = 0;
            while at + HEADER <= n {
                // SAFETY: a whole header lies at `at` (the kernel writes whole events);
                // read_unaligned needs no alignment.
                let event = unsafe { bytes.as_ptr().add(at).cast::<libc::inotify_event>().read_unaligned() };
                let len = usize::try_from(event.len).unwrap_or(0);
                let name_bytes = bytes.get(at + HEADER..(at + HEADER + len).min(n)).unwrap_or(&[]);
                let name = name_bytes.split(|b| *b == 0).next().unwrap_or(&[]);
                at += HEADER + len;
                if event.mask & (libc::IN_DELETE_SELF | libc::IN_MOVE_SELF | libc::IN_IGNORED) != 0 {
                    woken.folder_gone = true;
                    woken.changed = true;
                } else if event.mask & libc::IN_CLOSE_WRITE != 0 && name == self.lock_name.as_slice() {
                    woken.lock_closed = true;
                } else if event.mask & libc::IN_Q_OVERFLOW != 0 {
                    woken.changed = true;
                    woken.lock_closed = true;
                } else if event.mask & (libc::IN_MODIFY | libc::IN_ATTRIB | libc::IN_MOVED_FROM | libc::IN_DELETE) != 0
                {
                    woken.changed = true;
                }
            }
        }
    }

    #[cfg(not(target_os = "linux"))]
    fn drain(&self, _fd: &OwnedFd, woken: &mut Woken) {
        woken.changed = true;
    }
}

/// An inotify descriptor watching `dir`; `None` when inotify is missing or refuses (then the
/// reader polls).
#[cfg(target_os = "linux")]
fn watch(dir: &Path) -> Option<OwnedFd> {
    use std::os::unix::ffi::OsStrExt;
    // SAFETY: creates a new descriptor; flags only.
    let fd = unsafe { libc::inotify_init1(libc::IN_NONBLOCK | libc::IN_CLOEXEC) };
    if fd < 0 {
        return None;
    }
    // SAFETY: just created, owned by nobody else.
    let fd = unsafe { OwnedFd::from_raw_fd(fd) };
    let path = std::ffi::CString::new(dir.as_os_str().as_bytes()).ok()?;
    let mask = libc::IN_MODIFY
        | libc::IN_ATTRIB
        | libc::IN_CLOSE_WRITE
        | libc::IN_MOVED_FROM
        | libc::IN_DELETE
        | libc::IN_DELETE_SELF
        | libc::IN_MOVE_SELF
        | libc::IN_ONLYDIR;
    // SAFETY: a NUL-terminated path and a descriptor we own.
    let wd = unsafe { libc::inotify_add_watch(fd.as_raw_fd(), path.as_ptr(), mask) };
    (wd >= 0).then_some(fd)
}

#[cfg(not(target_os = "linux"))]
fn watch(_dir: &Path) -> Option<OwnedFd> {
    None
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn a_touch_of_the_folder_and_a_closed_lock_file_wake_the_reader() {
        let dir = tempfile::tempdir().unwrap();
        let (wake, stopper) = Wake::new(dir.path(), OsStr::new("presence.lock")).unwrap();
        assert!(wake.is_notified(), "inotify is available on Linux");
        assert_eq!(wake.wait(Duration::from_millis(1)), Woken::default());
        std::fs::write(dir.path().join("group.db-wal"), b"x").unwrap();
        assert!(wake.wait(Duration::from_secs(5)).changed);
        drop(
            std::fs::OpenOptions::new().create(true).truncate(false).write(true).open(dir.path().join("presence.lock")),
        );
        let woken = wake.wait(Duration::from_secs(5));
        assert!(woken.lock_closed, "{woken:?}");
        stopper.stop();
        assert!(wake.wait(Duration::from_secs(5)).stop);
        // The reader gone, a stop still finds the pipe open (no SIGPIPE).
        let (gone, late) = Wake::new(dir.path(), OsStr::new("presence.lock")).unwrap();
        drop(gone);
        late.stop();
        let gone = dir.path().with_extension("gone");
        std::fs::rename(dir.path(), &gone).unwrap();
        let woken = wake.wait(Duration::from_secs(5));
        assert!(woken.folder_gone && woken.stop, "{woken:?}");
        std::fs::remove_dir_all(gone).unwrap();
    }
}
