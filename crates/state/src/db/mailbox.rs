//! The mailbox between the processes of one host that have a group open: what they ask of the
//! process that holds the group's network presence (open and close direct connections, send
//! data), and the data that arrived from other members, which every process's feed reader
//! hands to its handles.
//!
//! A request is a row of `direct_requests` with a [`Change::DirectRequested`] in the same
//! transaction: the holder, woken by the commit, takes every pending request in order and
//! deletes them in one transaction ([`GroupDb::take_direct_requests`]). Arrived data is a row
//! of `inbox` with a [`Change::DataReceived`] naming it; the inbox keeps the newest
//! [`INBOX_RETAINED`] messages and at most [`INBOX_MAX_BYTES`] (the newest message is always
//! kept), so a reader that falls that far behind finds the row gone and says so.
//!
//! Connection ids come from `connection_ids`, whose `AUTOINCREMENT` never hands out a number
//! twice, whichever process asks.

use peergroup_identity::PeerName;
use rusqlite::{OptionalExtension, params};
use uuid::Uuid;

use super::feed::push_change;
use super::{GroupDb, invalid_db, stored_name};
use crate::changes::Change;
use crate::error::{Result, StateError};
use crate::sqlite::map_err;

/// The most bytes of data one request or inbox message carries (4 MiB: the network layer's
/// bound on one message).
pub const MAX_MAILBOX_BODY: usize = 4 * 1024 * 1024;

/// Messages the inbox keeps at most.
pub const INBOX_RETAINED: u64 = 1024;

/// Bytes of data the inbox keeps at most (the newest message is kept whatever its size).
pub const INBOX_MAX_BYTES: u64 = 64 * 1024 * 1024;

/// What a process asks of the holder of the group's network presence.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum DirectRequest {
    /// Open a direct connection to `peer`, known as `connection` from now on.
    Open {
        /// The id the asking process gave it ([`GroupDb::new_connection_id`]).
        connection: u64,
        /// The member to connect to.
        peer: PeerName,
        /// Where to reach it when no link to it is up (`PeerGroupOpenDirectConnection`'s
        /// address).
        address: Option<std::net::SocketAddr>,
    },
    /// Close direct connection `connection` (after the data sent on it before).
    Close {
        /// Its id.
        connection: u64,
    },
    /// Send `body` of type `data_type` on connection `connection` (direct or neighbour).
    Send {
        /// The connection's id.
        connection: u64,
        /// The data type.
        data_type: Uuid,
        /// The bytes (at most [`MAX_MAILBOX_BODY`]).
        body: Vec<u8>,
    },
}

/// Data that arrived from another member, as the inbox holds it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InboxMessage {
    /// The connection it came on.
    pub connection: u64,
    /// The member who sent it.
    pub peer: PeerName,
    /// Its type.
    pub data_type: Uuid,
    /// The bytes.
    pub body: Vec<u8>,
}

const OP_OPEN: i64 = 1;
const OP_CLOSE: i64 = 2;
const OP_SEND: i64 = 3;

fn too_large(len: usize) -> StateError {
    StateError::TooLarge { what: "a message of data", size: len, max: MAX_MAILBOX_BODY }
}

fn to_sql_id(id: u64) -> i64 {
    // Connection ids are below 2^63: they come from SQLite rowids or small counters.
    i64::try_from(id).unwrap_or(i64::MAX)
}

impl GroupDb {
    /// A connection id no process of this host has had from this database before.
    pub fn new_connection_id(&self) -> Result<u64> {
        let path = &self.path;
        self.write(|tx| {
            tx.prepare_cached("INSERT INTO connection_ids DEFAULT VALUES")
                .and_then(|mut s| s.execute([]))
                .map_err(|e| map_err(path, e))?;
            let id = tx.last_insert_rowid();
            // Only the counter (sqlite_sequence) must last, not the row.
            tx.prepare_cached("DELETE FROM connection_ids")
                .and_then(|mut s| s.execute([]))
                .map_err(|e| map_err(path, e))?;
            Ok(id.unsigned_abs())
        })
    }

    /// Queues `request` for the holder of the group's presence (see the module
    /// documentation).
    pub fn post_direct_request(&self, request: &DirectRequest) -> Result<()> {
        let path = &self.path;
        let (op, connection, peer, data_type, body) = match request {
            DirectRequest::Open { connection, peer, address } => {
                let address = address.map(|a| a.to_string().into_bytes());
                (OP_OPEN, *connection, Some(peer.to_string()), None, address)
            }
            DirectRequest::Close { connection } => (OP_CLOSE, *connection, None, None, None),
            DirectRequest::Send { connection, data_type, body } => {
                if body.len() > MAX_MAILBOX_BODY {
                    return Err(too_large(body.len()));
                }
                (OP_SEND, *connection, None, Some(data_type.as_bytes().to_vec()), Some(body.clone()))
            }
        };
        self.write(|tx| {
            tx.prepare_cached(
                "INSERT INTO direct_requests (op, connection, peer_name, data_type, body) VALUES (?1, ?2, ?3, ?4, ?5)",
            )
            .and_then(|mut s| s.execute(params![op, to_sql_id(connection), peer, data_type, body]))
            .map_err(|e| map_err(path, e))?;
            push_change(tx, path, &Change::DirectRequested)
        })
    }

    /// Takes every pending request, oldest first, and deletes them (one transaction: each
    /// request is taken once, by one process).
    pub fn take_direct_requests(&self) -> Result<Vec<DirectRequest>> {
        let path = &self.path;
        self.write(|tx| {
            type Row = (i64, i64, Option<String>, Option<Vec<u8>>, Option<Vec<u8>>);
            let rows: Vec<Row> = tx
                .prepare_cached("SELECT op, connection, peer_name, data_type, body FROM direct_requests ORDER BY id")
                .and_then(|mut s| {
                    s.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)))?
                        .collect::<rusqlite::Result<Vec<_>>>()
                })
                .map_err(|e| map_err(path, e))?;
            tx.prepare_cached("DELETE FROM direct_requests")
                .and_then(|mut s| s.execute([]))
                .map_err(|e| map_err(path, e))?;
            rows.into_iter()
                .map(|(op, connection, peer, data_type, body)| {
                    let connection = connection.unsigned_abs();
                    let bad = |what: &str| invalid_db(path, format!("a direct request's {what}"));
                    Ok(match op {
                        OP_OPEN => {
                            let peer = stored_name(path, peer.as_deref().ok_or_else(|| bad("member"))?)?;
                            let address = match body {
                                Some(b) => Some(
                                    std::str::from_utf8(&b)
                                        .ok()
                                        .and_then(|a| a.parse().ok())
                                        .ok_or_else(|| bad("address"))?,
                                ),
                                None => None,
                            };
                            DirectRequest::Open { connection, peer, address }
                        }
                        OP_CLOSE => DirectRequest::Close { connection },
                        OP_SEND => DirectRequest::Send {
                            connection,
                            data_type: data_type
                                .as_deref()
                                .and_then(|b| Uuid::from_slice(b).ok())
                                .ok_or_else(|| bad("type"))?,
                            body: body.ok_or_else(|| bad("data"))?,
                        },
                        _ => return Err(bad("kind")),
                    })
                })
                .collect()
        })
    }

    /// Stores data that arrived, each message with a [`Change::DataReceived`], in one
    /// transaction, and trims the inbox to its bounds.
    pub fn post_incoming(&self, messages: &[InboxMessage]) -> Result<()> {
        if let Some(m) = messages.iter().find(|m| m.body.len() > MAX_MAILBOX_BODY) {
            return Err(too_large(m.body.len()));
        }
        let path = &self.path;
        self.write(|tx| {
            let e = |e| map_err(path, e);
            let mut newest = 0;
            for m in messages {
                tx.prepare_cached("INSERT INTO inbox (connection, peer_name, data_type, body) VALUES (?1, ?2, ?3, ?4)")
                    .and_then(|mut s| {
                        s.execute(params![to_sql_id(m.connection), m.peer.to_string(), m.data_type.as_bytes(), m.body])
                    })
                    .map_err(e)?;
                newest = tx.last_insert_rowid();
                push_change(tx, path, &Change::DataReceived { message: newest.unsigned_abs() })?;
            }
            trim_inbox(tx, path, newest)
        })
    }
}

/// Removes the messages beyond the inbox's bounds; the newest (`newest`) always stays.
fn trim_inbox(tx: &rusqlite::Connection, path: &std::path::Path, newest: i64) -> Result<()> {
    let e = |e| map_err(path, e);
    let by_count = newest.saturating_sub(i64::try_from(INBOX_RETAINED).unwrap_or(i64::MAX));
    tx.prepare_cached("DELETE FROM inbox WHERE seq <= ?1").and_then(|mut s| s.execute([by_count])).map_err(e)?;
    // The oldest row whose newer rows (itself included) exceed the byte bound, if any.
    let over: Option<i64> = tx
        .prepare_cached(
            "SELECT seq FROM (SELECT seq, sum(length(body)) OVER (ORDER BY seq DESC) AS total FROM inbox)
             WHERE total > ?1 AND seq < ?2 ORDER BY seq DESC LIMIT 1",
        )
        .and_then(|mut s| {
            s.query_row(params![i64::try_from(INBOX_MAX_BYTES).unwrap_or(i64::MAX), newest], |r| r.get(0)).optional()
        })
        .map_err(e)?;
    if let Some(seq) = over {
        tx.prepare_cached("DELETE FROM inbox WHERE seq <= ?1").and_then(|mut s| s.execute([seq])).map_err(e)?;
    }
    Ok(())
}

/// Reads inbox message `seq` on `conn`; `None` once trimmed.
pub(crate) fn read_message(
    conn: &rusqlite::Connection,
    path: &std::path::Path,
    seq: u64,
) -> Result<Option<InboxMessage>> {
    let row: Option<(i64, String, Vec<u8>, Vec<u8>)> = conn
        .prepare_cached("SELECT connection, peer_name, data_type, body FROM inbox WHERE seq = ?1")
        .and_then(|mut s| {
            s.query_row([to_sql_id(seq)], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))).optional()
        })
        .map_err(|e| map_err(path, e))?;
    row.map(|(connection, peer, data_type, body)| {
        Ok(InboxMessage {
            connection: connection.unsigned_abs(),
            peer: stored_name(path, &peer)?,
            data_type: Uuid::from_slice(&data_type).map_err(|_| invalid_db(path, "an inbox message's type"))?,
            body,
        })
    })
    .transpose()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use peergroup_identity::{Keystore, PeerName, testing};

    use super::*;
    use crate::{GroupProperties, GroupStore};

    fn setup() -> (tempfile::TempDir, GroupStore, PeerName, PeerName) {
        let home = tempfile::tempdir().unwrap();
        let keystore = Keystore::open(home.path().join("peergroup")).unwrap();
        let me = keystore.create_with_key("me", None, &testing::key(0)).unwrap();
        let store = GroupStore::new(&keystore, me.peer_name()).unwrap();
        let group: PeerName = format!("{}.g", "ab".repeat(20)).parse().unwrap();
        store.create(&GroupProperties::new(group.clone(), me.peer_name().clone(), "G"), |_| Ok(())).unwrap();
        (home, store, group, me.peer_name().clone())
    }

    #[test]
    fn requests_are_taken_once_in_order_by_whichever_handle_takes_them() {
        let (_home, store, group, me) = setup();
        let (asker, holder) = (store.open(&group).unwrap(), store.open(&group).unwrap());
        let mut watcher = holder.watch().unwrap();
        let id = asker.new_connection_id().unwrap();
        let requests = vec![
            DirectRequest::Open { connection: id, peer: me.clone(), address: None },
            DirectRequest::Open { connection: id + 1, peer: me.clone(), address: Some("[::1]:7".parse().unwrap()) },
            DirectRequest::Send { connection: id, data_type: Uuid::from_u128(7), body: b"hi".to_vec() },
            DirectRequest::Close { connection: id },
        ];
        for r in &requests {
            asker.post_direct_request(r).unwrap();
        }
        let changes: Vec<Change> = watcher.poll().unwrap().into_iter().map(|c| c.change).collect();
        assert_eq!(changes, vec![Change::DirectRequested; requests.len()]);
        assert_eq!(holder.take_direct_requests().unwrap(), requests);
        assert_eq!(holder.take_direct_requests().unwrap(), vec![], "taken once");
    }

    #[test]
    fn connection_ids_are_never_handed_out_twice() {
        let (_home, store, group, _) = setup();
        let (a, b) = (store.open(&group).unwrap(), store.open(&group).unwrap());
        let mut ids: Vec<u64> =
            (0..10).flat_map(|_| [a.new_connection_id().unwrap(), b.new_connection_id().unwrap()]).collect();
        let n = ids.len();
        ids.sort_unstable();
        ids.dedup();
        assert_eq!(ids.len(), n);
    }

    #[test]
    fn oversized_data_is_refused_and_nothing_is_queued() {
        let (_home, store, group, me) = setup();
        let db = store.open(&group).unwrap();
        let body = vec![0; MAX_MAILBOX_BODY + 1];
        let send = DirectRequest::Send { connection: 1, data_type: Uuid::nil(), body: body.clone() };
        assert!(matches!(db.post_direct_request(&send), Err(StateError::TooLarge { .. })));
        let message = InboxMessage { connection: 1, peer: me, data_type: Uuid::nil(), body };
        assert!(matches!(db.post_incoming(&[message]), Err(StateError::TooLarge { .. })));
        assert_eq!(db.take_direct_requests().unwrap(), vec![]);
    }

    #[test]
    fn every_watcher_reads_arrived_data_until_the_inbox_drops_it() {
        let (_home, store, group, me) = setup();
        let db = store.open(&group).unwrap();
        let mut watcher = db.watch().unwrap();
        let message = |i: u64, len: usize| InboxMessage {
            connection: i,
            peer: me.clone(),
            data_type: Uuid::from_u128(u128::from(i)),
            body: vec![u8::try_from(i % 251).unwrap(); len],
        };
        // The inbox numbers the feed names since the last poll.
        let arrived = |watcher: &mut crate::Watcher| -> Vec<u64> {
            watcher
                .poll()
                .unwrap()
                .into_iter()
                .filter_map(|c| match c.change {
                    Change::DataReceived { message } => Some(message),
                    _ => None,
                })
                .collect()
        };
        db.post_incoming(&[message(1, 3), message(2, 0)]).unwrap();
        let first = arrived(&mut watcher);
        assert_eq!(first.len(), 2);
        let seen: Vec<InboxMessage> = first.iter().map(|&m| watcher.inbox_message(m).unwrap().unwrap()).collect();
        assert_eq!(seen, vec![message(1, 3), message(2, 0)]);

        // By count: the oldest beyond INBOX_RETAINED go.
        let batch: Vec<InboxMessage> = (3..INBOX_RETAINED + 3).map(|i| message(i, 1)).collect();
        db.post_incoming(&batch).unwrap();
        let numbers = arrived(&mut watcher);
        assert_eq!(watcher.inbox_message(first[0]).unwrap(), None, "dropped by count");
        assert_eq!(watcher.inbox_message(first[1]).unwrap(), None, "dropped by count");
        assert_eq!(watcher.inbox_message(numbers[0]).unwrap(), Some(message(3, 1)));

        // By bytes: 17 messages of 4 MiB exceed 64 MiB; the newest 16 stay.
        let big: Vec<InboxMessage> = (0..17).map(|i| message(10_000 + i, MAX_MAILBOX_BODY)).collect();
        for m in &big {
            db.post_incoming(std::slice::from_ref(m)).unwrap();
        }
        let numbers = arrived(&mut watcher);
        assert_eq!(numbers.len(), 17);
        assert!(watcher.inbox_message(numbers[0]).unwrap().is_none(), "dropped by bytes");
        assert_eq!(watcher.inbox_message(numbers[1]).unwrap().as_ref(), Some(&big[1]));
        assert_eq!(watcher.inbox_message(numbers[16]).unwrap().as_ref(), Some(&big[16]));
    }
}
