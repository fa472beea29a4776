//! The database schema and its forward migrations (see `docs/storage.md`).

/// The schema version this build writes (`PRAGMA user_version`).
pub const SCHEMA_VERSION: i64 = 1;

/// Migrations: entry `i` takes a database from version `i` to `i + 1`. Version 0 is an empty
/// file, so the first entry is the whole schema.
pub(crate) const MIGRATIONS: &[&str] = &[V1];

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
