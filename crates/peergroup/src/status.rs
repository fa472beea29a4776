//! Group status, shared by every process on this host.
//!
//! `PeerGroupOpen` says a second application may connect a group that this one opened offline,
//! so a handle's status is not its own: it is whatever the process that holds the group's
//! network presence last wrote into the group database (blob [`STATUS_BLOB`]), provided that
//! process still holds the presence lock. Phase 1 has no connecting process, so every group
//! reads as offline; the connector of phase 2 writes this blob and every handle, in every
//! process, sees it, and hears of it as `STATUS_CHANGED` (the write appends a change to the
//! feed).
//!
//! Liveness is an advisory lock, not a process id: the holder keeps an exclusive `flock` on
//! [`PRESENCE_LOCK`] in the group folder for as long as it holds the presence, and the kernel
//! drops it when the holder exits or is killed (a process id can be reused, and means nothing
//! across pid namespaces). A reader opens the file read-only and tries a shared lock without
//! waiting: refused means the holder lives; granted means nobody holds the presence, and the
//! reader releases it at once. The probe never blocks the holder, which only takes its lock
//! once; a holder taking the lock retries while a probe holds it for its few microseconds.
//! The holder opens the file for writing, so its death closes a written-to file, which wakes
//! every feed reader watching the folder (they probe again and report `STATUS_CHANGED`).

use std::fs::{File, OpenOptions, TryLockError};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use peergroup_identity::PeerName;
use peergroup_state::{GroupDb, StateError};

use crate::error::Result;

/// The group database blob that holds the shared status.
pub const STATUS_BLOB: &str = "network-status";

/// The presence lock file, in the group folder beside the database.
pub const PRESENCE_LOCK: &str = "presence.lock";

/// How long a process taking the presence waits for probes to let go of the lock before it
/// concludes that another process holds the presence.
const TAKE_PATIENCE: Duration = Duration::from_millis(200);

/// `PEER_GROUP_STATUS_LISTENING`: the group accepts connections.
pub const PEER_GROUP_STATUS_LISTENING: u32 = 0x1;
/// `PEER_GROUP_STATUS_HAS_CONNECTIONS`: the group has at least one connection.
pub const PEER_GROUP_STATUS_HAS_CONNECTIONS: u32 = 0x2;

/// The status of a group (the counterpart of `PeerGroupGetStatus`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct GroupStatus {
    /// Some process on this host listens for the group's members.
    pub listening: bool,
    /// Some process on this host has connections to other members.
    pub connections: u32,
    /// The process that holds the network presence, when there is one (information only:
    /// liveness is the presence lock, see the module documentation).
    pub presence_pid: Option<u32>,
}

impl GroupStatus {
    /// Offline: nobody listens, no connections.
    pub const OFFLINE: Self = Self { listening: false, connections: 0, presence_pid: None };

    /// The `PEER_GROUP_STATUS` flags.
    pub fn flags(&self) -> u32 {
        let mut flags = 0;
        if self.listening {
            flags |= PEER_GROUP_STATUS_LISTENING;
        }
        if self.connections > 0 {
            flags |= PEER_GROUP_STATUS_HAS_CONNECTIONS;
        }
        flags
    }

    /// Whether the group is connected (listening or with connections) by any process.
    pub fn is_connected(&self) -> bool {
        self.flags() != 0
    }

    /// The blob form: `pid listening connections unix-seconds`, one line of ASCII.
    pub fn encode(&self, pid: u32) -> Vec<u8> {
        let now = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
        format!("{pid} {} {} {now}\n", u8::from(self.listening), self.connections).into_bytes()
    }

    /// Reads the blob form; `None` when it does not parse (treated as offline).
    pub fn decode(bytes: &[u8]) -> Option<Self> {
        let text = std::str::from_utf8(bytes).ok()?;
        let mut parts = text.split_ascii_whitespace();
        let pid: u32 = parts.next()?.parse().ok()?;
        let listening = parts.next()? == "1";
        let connections: u32 = parts.next()?.parse().ok()?;
        Some(Self { listening, connections, presence_pid: Some(pid) })
    }
}

/// `PEER_CONNECTION_NEIGHBOR`: a connection the group's presence keeps to a neighbour.
pub const PEER_CONNECTION_NEIGHBOR: u32 = 0x1;
/// `PEER_CONNECTION_DIRECT`: a direct connection between two members.
pub const PEER_CONNECTION_DIRECT: u32 = 0x2;

/// A connection of the group's presence (`PEER_CONNECTION_INFO`), as every process sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Connection {
    /// Its id, unique for the life of the presence that holds it.
    pub id: u64,
    /// [`PEER_CONNECTION_NEIGHBOR`] or [`PEER_CONNECTION_DIRECT`].
    pub flags: u32,
    /// The member at the other end (its identity peer name).
    pub peer: PeerName,
    /// Its address.
    pub addr: SocketAddr,
    /// Whether this host opened it.
    pub outgoing: bool,
}

impl Connection {
    /// Whether it is a direct connection (else a neighbour's).
    pub fn is_direct(&self) -> bool {
        self.flags & PEER_CONNECTION_DIRECT != 0
    }
}

/// A direct connection that could not be opened (`PEER_GROUP_EVENT_DIRECT_CONNECTION` with
/// `PEER_CONNECTION_FAILED`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirectFailure {
    /// The id `open_direct_connection` gave it.
    pub id: u64,
    /// The member it was for.
    pub peer: PeerName,
    /// Why.
    pub reason: String,
}

/// How many failed direct connections the view keeps (the newest): every process's reader
/// reports the ones it has not seen.
pub const DIRECT_FAILURES_KEPT: usize = 16;

/// Why the presence could not connect (`PEER_GROUP_EVENT_CONNECTION_FAILED` or
/// `PEER_GROUP_EVENT_AUTHENTICATION_FAILED`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    /// The other side refused a membership, or this side refused the other's.
    pub authentication: bool,
    /// What happened, with the address.
    pub reason: String,
}

/// Everything the presence publishes: the status, where it listens, its connections, and a
/// count of failures with the last one (each process turns a change of these into events).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct NetView {
    /// Status flags and holder.
    pub status: GroupStatus,
    /// The UDP port the presence listens on.
    pub port: Option<u16>,
    /// The live connections: neighbours, then direct connections.
    pub connections: Vec<Connection>,
    /// The newest direct connections that failed to open (the last 16).
    pub direct_failures: Vec<DirectFailure>,
    /// Failures since the presence started.
    pub failures: u64,
    /// The last of them.
    pub last_failure: Option<Failure>,
}

impl NetView {
    /// The blob form: the status line of [`GroupStatus::encode`], then one line per fact.
    pub(crate) fn encode(&self, pid: u32) -> Vec<u8> {
        use std::fmt::Write;
        let mut text = String::from_utf8_lossy(&self.status.encode(pid)).into_owned();
        if let Some(port) = self.port {
            let _ = writeln!(text, "port {port}");
        }
        for c in &self.connections {
            let way = if c.outgoing { "out" } else { "in" };
            let kind = if c.is_direct() { "direct" } else { "neighbor" };
            let _ = writeln!(text, "{kind} {} {way} {} {}", c.id, c.addr, c.peer);
        }
        for f in &self.direct_failures {
            let _ = writeln!(text, "directfail {} {} {}", f.id, f.peer, f.reason.replace(['\n', '\r'], " "));
        }
        if let Some(f) = &self.last_failure {
            let kind = if f.authentication { "authentication" } else { "connection" };
            // One line: the reason's own line breaks would end the record.
            let reason = f.reason.replace(['\n', '\r'], " ");
            let _ = writeln!(text, "failure {} {kind} {reason}", self.failures);
        }
        text.into_bytes()
    }

    /// Reads the blob form; lines it does not know are skipped (a newer writer's).
    pub(crate) fn decode(bytes: &[u8]) -> Option<Self> {
        let status = GroupStatus::decode(bytes)?;
        let text = std::str::from_utf8(bytes).ok()?;
        let mut view = Self { status, ..Self::default() };
        for line in text.lines().skip(1) {
            let mut parts = line.splitn(2, ' ');
            let (Some(key), Some(rest)) = (parts.next(), parts.next()) else { continue };
            match key {
                "port" => view.port = rest.parse().ok(),
                "neighbor" | "direct" => {
                    let f: Vec<&str> = rest.splitn(4, ' ').collect();
                    if let [id, way, addr, peer] = f[..]
                        && let (Ok(id), Ok(addr), Ok(peer)) = (id.parse(), addr.parse(), peer.parse())
                    {
                        let outgoing = way == "out";
                        let flags = if key == "direct" { PEER_CONNECTION_DIRECT } else { PEER_CONNECTION_NEIGHBOR };
                        view.connections.push(Connection { id, flags, peer, addr, outgoing });
                    }
                }
                "directfail" => {
                    let f: Vec<&str> = rest.splitn(3, ' ').collect();
                    if let [id, peer, reason] = f[..]
                        && let (Ok(id), Ok(peer)) = (id.parse(), peer.parse())
                    {
                        view.direct_failures.push(DirectFailure { id, peer, reason: reason.to_owned() });
                    }
                }
                "failure" => {
                    let f: Vec<&str> = rest.splitn(3, ' ').collect();
                    if let [count, kind, reason] = f[..]
                        && let Ok(count) = count.parse()
                    {
                        view.failures = count;
                        view.last_failure =
                            Some(Failure { authentication: kind == "authentication", reason: reason.to_owned() });
                    }
                }
                _ => {}
            }
        }
        Some(view)
    }
}

/// Reads the published view as every process sees it: empty and offline unless the presence
/// lock is held.
pub(crate) fn effective_view(blob: Option<&[u8]>, lock: &Path) -> NetView {
    match blob.and_then(NetView::decode) {
        Some(view) if view.status.is_connected() && presence_held(lock) => view,
        _ => NetView::default(),
    }
}

/// The published view of a group's presence.
pub(crate) fn read_view(db: &GroupDb) -> Result<NetView> {
    let blob = db.get_blob(STATUS_BLOB)?;
    Ok(effective_view(blob.as_deref(), &lock_path(db.path())))
}

/// The presence lock file of the group whose database is `db_path`.
pub(crate) fn lock_path(db_path: &Path) -> PathBuf {
    db_path.with_file_name(PRESENCE_LOCK)
}

/// Whether some process (this one included) holds the presence lock at `lock`: a shared lock
/// tried without waiting, on a descriptor of its own, released at once.
pub(crate) fn presence_held(lock: &Path) -> bool {
    let Ok(file) = File::open(lock) else { return false };
    match file.try_lock_shared() {
        Ok(()) => {
            let _ = file.unlock();
            false
        }
        Err(TryLockError::WouldBlock) => true,
        Err(TryLockError::Error(_)) => false,
    }
}

/// The presence this process holds for one group: the open, exclusively locked lock file.
/// Dropping it releases the presence.
#[derive(Debug)]
pub(crate) struct Presence {
    _file: File,
}

impl Presence {
    /// Tries the presence lock once: `None` when a process holds it (or a probe, for its few
    /// microseconds).
    pub(crate) fn try_take(lock: &Path) -> Result<Option<Self>> {
        match Self::take_within(lock, Duration::ZERO) {
            Ok(p) => Ok(Some(p)),
            Err(crate::Error::State(StateError::Busy { .. })) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Takes the presence lock, waiting out probes; `Busy` when another process holds it.
    pub(crate) fn take(lock: &Path) -> Result<Self> {
        Self::take_within(lock, TAKE_PATIENCE)
    }

    fn take_within(lock: &Path, patience: Duration) -> Result<Self> {
        use std::os::unix::fs::OpenOptionsExt;
        let io = |source| StateError::Io { path: lock.to_owned(), source };
        // Opened for writing (nothing is written): its closing wakes the readers.
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .open(lock)
            .map_err(io)?;
        let start = std::time::Instant::now();
        loop {
            match file.try_lock() {
                Ok(()) => return Ok(Self { _file: file }),
                Err(TryLockError::WouldBlock) if start.elapsed() < patience => {
                    // A probe holds a shared lock for microseconds; a holder for its life.
                    std::thread::sleep(Duration::from_micros(200));
                }
                Err(TryLockError::WouldBlock) => {
                    return Err(StateError::Busy { path: lock.to_owned(), waited: start.elapsed() }.into());
                }
                Err(TryLockError::Error(e)) => return Err(io(e).into()),
            }
        }
    }
}

/// Reads a status blob as every process sees it: offline unless the presence lock is held.
pub(crate) fn effective(blob: Option<&[u8]>, lock: &Path) -> GroupStatus {
    match blob.and_then(GroupStatus::decode) {
        Some(status) if status.is_connected() && presence_held(lock) => status,
        _ => GroupStatus::OFFLINE,
    }
}

/// The status of a group as every process on this host sees it.
pub(crate) fn read(db: &GroupDb) -> Result<GroupStatus> {
    let blob = db.get_blob(STATUS_BLOB)?;
    Ok(effective(blob.as_deref(), &lock_path(db.path())))
}

/// Records this process's network presence (phase 2's connector calls this): connected, it
/// takes the presence lock (kept in `held` until offline is written or the last handle of
/// the group in this process closes) before writing; offline, it writes, then lets go.
pub(crate) fn write(db: &GroupDb, status: &GroupStatus, held: &mut Option<Presence>) -> Result<()> {
    let taken_now = status.is_connected() && held.is_none();
    if taken_now {
        *held = Some(Presence::take(&lock_path(db.path()))?);
    }
    if let Err(e) = db.put_status_blob(STATUS_BLOB, &status.encode(std::process::id())) {
        // A presence taken for a status that was never written is let go: holding it would
        // make an older "connected" blob read as live.
        if taken_now {
            *held = None;
        }
        return Err(e.into());
    }
    if !status.is_connected() {
        *held = None;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blob_round_trip_and_flags() {
        let status = GroupStatus { listening: true, connections: 3, presence_pid: Some(42) };
        assert_eq!(GroupStatus::decode(&status.encode(42)), Some(status));
        assert_eq!(status.flags(), PEER_GROUP_STATUS_LISTENING | PEER_GROUP_STATUS_HAS_CONNECTIONS);
        assert_eq!(GroupStatus::OFFLINE.flags(), 0);
        assert_eq!(GroupStatus::decode(b"garbage"), None);
    }

    #[test]
    fn a_view_with_neighbours_direct_connections_and_failures_round_trips() {
        let peer: PeerName = format!("{}.alice", "ab".repeat(20)).parse().unwrap();
        let addr: SocketAddr = "[::1]:4000".parse().unwrap();
        let view = NetView {
            status: GroupStatus { listening: true, connections: 1, presence_pid: Some(7) },
            port: Some(4000),
            connections: vec![
                Connection { id: 1, flags: PEER_CONNECTION_NEIGHBOR, peer: peer.clone(), addr, outgoing: true },
                Connection { id: 1 << 40, flags: PEER_CONNECTION_DIRECT, peer: peer.clone(), addr, outgoing: false },
            ],
            direct_failures: vec![DirectFailure { id: 9, peer, reason: "no link\nto it".into() }],
            failures: 0,
            last_failure: None,
        };
        let mut expected = view.clone();
        expected.direct_failures[0].reason = "no link to it".into();
        assert_eq!(NetView::decode(&view.encode(7)), Some(expected));
    }

    #[test]
    fn liveness_is_the_lock_and_a_probe_does_not_disturb_the_holder() {
        let dir = tempfile::tempdir().unwrap();
        let lock = dir.path().join(PRESENCE_LOCK);
        assert!(!presence_held(&lock), "no file: nobody");
        let online = GroupStatus { listening: true, connections: 1, presence_pid: Some(1) }.encode(1);
        let held = Presence::take(&lock).unwrap();
        assert!(presence_held(&lock));
        assert!(presence_held(&lock), "a probe leaves the lock as it was");
        assert!(effective(Some(&online), &lock).listening);
        assert!(matches!(Presence::take(&lock), Err(crate::Error::State(StateError::Busy { .. }))));
        drop(held);
        assert!(!presence_held(&lock));
        assert_eq!(effective(Some(&online), &lock), GroupStatus::OFFLINE);
        Presence::take(&lock).unwrap();
    }
}
