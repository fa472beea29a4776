//! The database schema and its forward migrations (see `docs/storage.md`).

/// The schema version this build writes (`PRAGMA user_version`).
pub const SCHEMA_VERSION: i64 = 5;

/// Migrations: entry `i` takes a database from version `i` to `i + 1`. Version 0 is an empty
/// file, so the first entry is the whole schema.
pub(crate) const MIGRATIONS: &[&str] = &[V1, V2, V3, V4, V5];

const V1: &str = "
CREATE TABLE properties (
    id                      INTEGER PRIMARY KEY CHECK (id = 1),
    group_peer_name         TEXT NOT NULL,
    identity                TEXT NOT NULL,
    classifier              TEXT NOT NULL,
    creator                 TEXT NOT NULL,
    friendly_name           TEXT NOT NULL,
    comment                 TEXT NOT NULL,
    cloud_name              TEXT,
    cloud_scope             INTEGER NOT NULL,
    cloud_flags             INTEGER NOT NULL,
    member_data_lifetime    INTEGER NOT NULL,
    presence_lifetime       INTEGER NOT NULL,
    flags                   INTEGER NOT NULL,
    authentication_schemes  INTEGER NOT NULL,
    password_role           BLOB,
    version                 INTEGER NOT NULL,
    deleted                 INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE members (
    peer_name      TEXT PRIMARY KEY,
    friendly_name  TEXT NOT NULL,
    public_key     BLOB NOT NULL,
    certificate    BLOB NOT NULL,
    roles          BLOB NOT NULL,
    flags          INTEGER NOT NULL
);
CREATE TABLE blobs (
    name   TEXT PRIMARY KEY,
    value  BLOB NOT NULL
);
CREATE TABLE records (
    rowid    INTEGER PRIMARY KEY,
    id       BLOB NOT NULL UNIQUE,
    type     BLOB NOT NULL,
    version  INTEGER NOT NULL,
    deleted  INTEGER NOT NULL,
    expires  INTEGER NOT NULL,
    creator  TEXT NOT NULL,
    modifier TEXT NOT NULL,
    created  INTEGER NOT NULL,
    modified INTEGER NOT NULL,
    body     BLOB NOT NULL
);
CREATE INDEX records_by_type ON records (type, expires);
CREATE INDEX records_by_expiry ON records (expires);
CREATE TABLE attributes (
    record      INTEGER NOT NULL,
    name        TEXT NOT NULL,
    int_value   INTEGER,
    str_value   TEXT,
    date_value  INTEGER,
    PRIMARY KEY (record, name)
) WITHOUT ROWID;
CREATE INDEX attributes_str ON attributes (name, str_value) WHERE str_value IS NOT NULL;
CREATE INDEX attributes_int ON attributes (name, int_value) WHERE int_value IS NOT NULL;
CREATE INDEX attributes_date ON attributes (name, date_value) WHERE date_value IS NOT NULL;
CREATE TABLE changes (
    seq          INTEGER PRIMARY KEY,
    kind         INTEGER NOT NULL,
    record_id    BLOB,
    record_type  BLOB,
    peer_name    TEXT
);
";

/// Version 2: the attribute rows become one index ordered by `(name, kind, value, record)`.
/// Version 1 kept a table keyed by record plus one partial index per value type: four b-trees,
/// so adding a record with a string and an int attribute rewrote four pages for them; now
/// one page per attribute (see `docs/storage.md`, "Cost of a write"). Removing a record's rows
/// reads its attributes from its body instead of from a per-record key.
const V2: &str = "
CREATE TABLE attribute_index (
    name    TEXT NOT NULL,
    kind    INTEGER NOT NULL,
    value   NOT NULL,
    record  INTEGER NOT NULL,
    PRIMARY KEY (name, kind, value, record)
) WITHOUT ROWID;
INSERT INTO attribute_index (name, kind, value, record)
    SELECT name, 1, str_value, record FROM attributes WHERE str_value IS NOT NULL
    UNION ALL SELECT name, 2, int_value, record FROM attributes WHERE int_value IS NOT NULL
    UNION ALL SELECT name, 3, date_value, record FROM attributes WHERE date_value IS NOT NULL;
DROP TABLE attributes;
ALTER TABLE attribute_index RENAME TO attributes;
DROP INDEX records_by_type;
CREATE INDEX records_by_type ON records (type);
";

/// Version 3 (replication, issue 12): each record row keeps the digest of its replicated body
/// (`peergroup_security::body_digest` of `body`), so that listing the versions held for
/// reconciliation reads no bodies; rows written before version 3 have none and the digest is
/// computed from their body when read. Each change row keeps where it came from: `NULL` for a
/// change made on this host, else the link or peer the caller named (`Origin::Remote`), so that
/// a flood does not send an item back where it came from.
const V3: &str = "
ALTER TABLE records ADD COLUMN digest BLOB;
ALTER TABLE changes ADD COLUMN origin TEXT;
";

/// Version 4 (direct connections and data, issue 13): the mailbox between the processes of a
/// host (`crate::db::mailbox`). `direct_requests` holds what a process asks of the one that
/// holds the group's network presence (open, close, send), taken and deleted by it;
/// `inbox` the data that arrived from other members, read by every process's feed reader
/// (a `DataReceived` change names the row) and bounded by count and bytes; `connection_ids`
/// hands out connection ids that no process reuses (its `AUTOINCREMENT` never goes back).
const V4: &str = "
CREATE TABLE direct_requests (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    op          INTEGER NOT NULL,
    connection  INTEGER NOT NULL,
    peer_name   TEXT,
    data_type   BLOB,
    body        BLOB
);
CREATE TABLE inbox (
    seq         INTEGER PRIMARY KEY AUTOINCREMENT,
    connection  INTEGER NOT NULL,
    peer_name   TEXT NOT NULL,
    data_type   BLOB NOT NULL,
    body        BLOB NOT NULL
);
CREATE TABLE connection_ids (
    id          INTEGER PRIMARY KEY AUTOINCREMENT
);
";

/// Version 5: each status write keeps the value it wrote, by the sequence number of its
/// `StatusChanged` change (`crate::GroupDb::put_status_blob`), so that a reader that comes to
/// several status changes at once sees each value in turn (a direct connection that opened and
/// closed between two of its reads) instead of only the last. The newest
/// [`crate::STATUS_WRITES_RETAINED`] are kept.
const V5: &str = "
CREATE TABLE status_writes (
    seq         INTEGER PRIMARY KEY,
    name        TEXT NOT NULL,
    value       BLOB NOT NULL
);
";

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use std::time::Duration;

    use peergroup_identity::{Keystore, PeerName, testing};
    use rusqlite::{Connection, params};
    use uuid::Uuid;

    use super::{MIGRATIONS, SCHEMA_VERSION};
    use crate::{Attribute, AttributeValue, Attributes, GroupProperties, GroupStore, NewRecord, Timestamp};

    /// Rewrites the group database at `path` as version 1 wrote it: version 1's schema, the
    /// same properties, members, records and changes, and version 1's attribute rows.
    fn rewrite_as_version_1(path: &std::path::Path) {
        let v1 = path.with_extension("v1");
        let conn = Connection::open(&v1).unwrap();
        conn.pragma_update(None, "journal_mode", "WAL").unwrap();
        conn.execute_batch(MIGRATIONS[0]).unwrap();
        conn.pragma_update(None, "user_version", 1).unwrap();
        conn.execute("ATTACH ?1 AS current", [path.to_str().unwrap()]).unwrap();
        for table in ["properties", "members", "blobs", "records", "changes"] {
            // Version 1's columns only: later versions added some.
            let columns: Vec<String> = {
                let mut stmt = conn.prepare(&format!("SELECT name FROM main.pragma_table_info('{table}')")).unwrap();
                stmt.query_map([], |r| r.get(0)).unwrap().collect::<Result<_, _>>().unwrap()
            };
            let columns = columns.join(", ");
            conn.execute(&format!("INSERT INTO {table} ({columns}) SELECT {columns} FROM current.{table}"), [])
                .unwrap();
        }
        let rows: Vec<(i64, Vec<u8>)> = {
            let mut stmt = conn.prepare("SELECT rowid, body FROM records").unwrap();
            stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?))).unwrap().collect::<Result<_, _>>().unwrap()
        };
        for (rowid, body) in rows {
            for a in &crate::Record::decode(&body).unwrap().attributes {
                let (i, s, d) = match &a.value {
                    AttributeValue::Int(i) => (Some(*i), None, None),
                    AttributeValue::String(s) => (None, Some(s.clone()), None),
                    AttributeValue::Date(t) => (None, None, Some(t.as_micros())),
                };
                conn.execute(
                    "INSERT INTO attributes (record, name, int_value, str_value, date_value) VALUES (?1, ?2, ?3, ?4, ?5)",
                    params![rowid, a.name, i, s, d],
                )
                .unwrap();
            }
        }
        conn.execute("DETACH current", []).unwrap();
        drop(conn);
        for suffix in ["-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
        }
        std::fs::rename(&v1, path).unwrap();
    }

    #[test]
    fn a_version_1_database_is_migrated_on_open_and_still_searchable() {
        let tmp = tempfile::tempdir().unwrap();
        let keystore = Keystore::open(tmp.path().join("home")).unwrap();
        let me = keystore.create_with_key("me", None, &testing::key(0)).unwrap();
        let store = GroupStore::new(&keystore, me.peer_name()).unwrap();
        let group = PeerName::parse(&format!("{}.migrate", "ab".repeat(20))).unwrap();
        let props = GroupProperties::new(group.clone(), me.peer_name().clone(), "Migrate");
        let member = crate::Member {
            peer_name: me.peer_name().clone(),
            friendly_name: "me".into(),
            public_key: me.public_key_der().to_vec(),
            certificate: b"gmc".to_vec(),
            // The trust path takes this member as stored: its records need a role.
            roles: vec![peergroup_security::ROLE_ADMIN_GUID],
            flags: 0,
        };
        let db = store.create(&props, |db| db.put_member(&member)).unwrap();
        let day = Timestamp::from_micros(1_700_000_000_000_000);
        let expires = Timestamp::now().saturating_add(Duration::from_secs(3600));
        let mut ids = Vec::new();
        for n in 0..3i64 {
            let attributes = Attributes::new(vec![
                Attribute::string("topic", if n == 1 { "rust" } else { "c" }),
                Attribute::int("n", n),
                Attribute::date("day", Timestamp::from_micros(day.as_micros() + n)),
            ])
            .unwrap();
            let new = NewRecord { record_type: Uuid::from_u128(7), attributes, expires, data: vec![n as u8] };
            ids.push(db.add_record(&me, new).unwrap().id);
        }
        let path = db.path().to_owned();
        drop(db);
        rewrite_as_version_1(&path);
        let v1_copy = tmp.path().join("v1-export.db");
        std::fs::copy(&path, &v1_copy).unwrap();

        // Listing the groups (read-only handles) migrates the older database.
        let listed: Vec<PeerName> = store.list().unwrap().into_iter().map(|p| p.group_peer_name).collect();
        assert_eq!(listed, std::slice::from_ref(&group));

        let db = store.open(&group).unwrap();
        let version: i64 = db.with_connection(|c| c.query_row("PRAGMA user_version", [], |r| r.get(0)).unwrap());
        assert_eq!(version, SCHEMA_VERSION);
        let found = |q: &str| db.search(q).unwrap().into_iter().map(|r| r.id).collect::<Vec<_>>();
        assert_eq!(found(r#"<peersearch><clause attrib="topic" type="string">rust</clause></peersearch>"#), [ids[1]]);
        assert_eq!(
            found(r#"<peersearch><clause attrib="n" type="int" compare="greater">0</clause></peersearch>"#),
            [ids[1], ids[2]]
        );
        let first_day = "2023-11-14T22:13:20.000000Z";
        let q = format!(r#"<peersearch><clause attrib="day" type="date">{first_day}</clause></peersearch>"#);
        assert_eq!(found(&q), [ids[0]]);
        // Version 1's attribute table and its indexes are gone; the database is whole.
        let old_columns: i64 = db.with_connection(|c| {
            c.query_row("SELECT count(*) FROM pragma_table_info('attributes') WHERE name = 'str_value'", [], |r| {
                r.get(0)
            })
            .unwrap()
        });
        assert_eq!(old_columns, 0);
        let check: String = db.with_connection(|c| c.query_row("PRAGMA integrity_check", [], |r| r.get(0)).unwrap());
        assert_eq!(check, "ok");
        // Updating and deleting migrated records keeps the index exact.
        db.update_record(
            &me,
            ids[1],
            crate::RecordUpdate {
                attributes: Attributes::new(vec![Attribute::string("topic", "go")]).unwrap(),
                data: vec![],
                expires,
            },
        )
        .unwrap();
        db.delete_record(&me, ids[2]).unwrap();
        assert!(found(r#"<peersearch><clause attrib="topic" type="string">rust</clause></peersearch>"#).is_empty());
        assert_eq!(found(r#"<peersearch><clause attrib="topic" type="string">go</clause></peersearch>"#), [ids[1]]);
        assert!(
            found(r#"<peersearch><clause attrib="n" type="int" compare="greater">0</clause></peersearch>"#).is_empty()
        );
        // A file exported by version 1 imports: its records are the ones held (or older).
        let summary = db.import(&v1_copy).unwrap();
        assert_eq!(summary.records_applied, 0);
    }
}
