//! Group status, shared by every process on this host.
//!
//! `PeerGroupOpen` says a second application may connect a group that this one opened offline,
//! so a handle's status is not its own: it is whatever the process that holds the group's
//! network presence last wrote into the group database (blob [`STATUS_BLOB`]), provided that
//! process is still alive. Phase 1 has no connecting process, so every group reads as offline;
//! the connector of phase 2 writes this blob and every handle, in every process, sees it.

use std::time::{SystemTime, UNIX_EPOCH};

use peergroup_state::GroupDb;

use crate::error::Result;

/// The group database blob that holds the shared status.
pub const STATUS_BLOB: &str = "network-status";

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
    /// The process that holds the network presence, when there is one.
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

/// Whether a process is alive on this host (a status left by a dead process means offline).
fn process_alive(pid: u32) -> bool {
    let Ok(pid) = libc::pid_t::try_from(pid) else { return false };
    if pid <= 0 {
        return false;
    }
    // SAFETY: kill with signal 0 only checks that the process exists; it sends nothing.
    let rc = unsafe { libc::kill(pid, 0) };
    rc == 0 || std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM)
}

/// The status of a group as every process on this host sees it.
pub(crate) fn read(db: &GroupDb) -> Result<GroupStatus> {
    let Some(bytes) = db.get_blob(STATUS_BLOB)? else { return Ok(GroupStatus::OFFLINE) };
    Ok(match GroupStatus::decode(&bytes) {
        Some(status) if status.presence_pid.is_some_and(process_alive) => status,
        _ => GroupStatus::OFFLINE,
    })
}

/// Records a network presence: the process named in `status`, else this one (phase 2's
/// connector calls this).
pub(crate) fn write(db: &GroupDb, status: &GroupStatus) -> Result<()> {
    let pid = status.presence_pid.unwrap_or_else(std::process::id);
    Ok(db.put_blob(STATUS_BLOB, &status.encode(pid))?)
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
    fn liveness() {
        assert!(process_alive(std::process::id()));
        assert!(!process_alive(0));
        assert!(!process_alive(u32::MAX));
    }
}
