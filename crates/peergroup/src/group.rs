//! An open group: the handle `PeerGroupOpen` returns.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use peergroup_identity::{Identity, PeerName};
use peergroup_pnrp::Cloud;
use peergroup_security::policy::{Action, Actor, authorize};
use peergroup_security::{GroupProperties, Membership, Role};
use peergroup_state::{
    CredentialRequest, CredentialSubject, GroupDb, ImportSummary, Member, MembershipStore, NewRecord, Record,
    RecordUpdate,
};
use uuid::Uuid;

use crate::context::Context;
use crate::error::{Error, Result};
use crate::events::{EventFilter, EventNotify, EventStream, EventType};
use crate::fanout::Hub;
use crate::online::{self, Intent, OnlineParts};
use crate::status::{self, Connection, GroupStatus, NetView};

/// `PEER_MEMBER_PRESENT`: the member is connected to the group.
pub const PEER_MEMBER_PRESENT: u32 = 0x1;

/// The most addresses one [`Group::connect_by_address`] takes.
pub const MAX_CONNECT_ADDRESSES: usize = 64;

/// The most group handles one process keeps open at once; one more is `E_OUTOFMEMORY`. A
/// process allowed few file descriptors gets fewer (see [`open_group_limit`]).
pub const MAX_OPEN_GROUPS: usize = 4096;

/// File descriptors one handle may use: the database, its WAL and shared-memory index, and
/// one more for slack.
const FDS_PER_GROUP: u64 = 4;
/// File descriptors left for everything else of the process.
const FDS_RESERVED: u64 = 64;

static OPEN_GROUPS: AtomicUsize = AtomicUsize::new(0);

/// How many group handles this process may hold now: [`MAX_OPEN_GROUPS`], or fewer when its
/// file-descriptor limit (`RLIMIT_NOFILE`) would run out first, so that running out of
/// descriptors is reported as `E_OUTOFMEMORY` before SQLite fails to open a file.
pub fn open_group_limit() -> usize {
    let mut limit = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: getrlimit writes into the struct it is given and has no other effect.
    let rc = unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) };
    if rc != 0 || limit.rlim_cur == libc::RLIM_INFINITY {
        return MAX_OPEN_GROUPS;
    }
    let by_fds = limit.rlim_cur.saturating_sub(FDS_RESERVED) / FDS_PER_GROUP;
    usize::try_from(by_fds).unwrap_or(MAX_OPEN_GROUPS).min(MAX_OPEN_GROUPS)
}

/// One place among the [`MAX_OPEN_GROUPS`], given back when the handle goes.
#[derive(Debug)]
pub(crate) struct Slot;

impl Slot {
    pub(crate) fn take() -> Result<Self> {
        let max = open_group_limit();
        let taken = OPEN_GROUPS.fetch_add(1, Ordering::AcqRel);
        if taken >= max {
            OPEN_GROUPS.fetch_sub(1, Ordering::AcqRel);
            return Err(Error::TooManyHandles { open: taken, max });
        }
        Ok(Slot)
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        OPEN_GROUPS.fetch_sub(1, Ordering::AcqRel);
    }
}

/// An open group (`HGROUP`). Every handle has its own database connection; handles in this
/// and other processes see each other's changes through [`Group::events`]. The handles of one
/// group in one process share one event fan-out: one reader of the change feed for all their
/// registrations, stopped when the last of them closes.
///
/// The handle starts offline; [`Group::status`] reports the network presence that any process
/// on this host holds for the group.
#[derive(Debug)]
pub struct Group {
    identity: Identity,
    membership: Membership,
    memberships: MembershipStore,
    /// Set once the membership is known to be synchronised (it never goes back).
    ready: AtomicBool,
    cloud: Cloud,
    db: GroupDb,
    hub: Arc<Hub>,
    _slot: Slot,
}

impl Group {
    pub(crate) fn new(
        slot: Slot,
        context: Context,
        identity: Identity,
        membership: Membership,
        memberships: MembershipStore,
        cloud: Cloud,
        db: GroupDb,
    ) -> Self {
        let ready = AtomicBool::new(membership.synchronized);
        let hub = Hub::for_path(db.path());
        hub.set_parts(|| OnlineParts {
            context,
            group: db.group_peer_name().clone(),
            identity: identity.clone(),
            memberships: memberships.clone(),
            cloud: cloud.clone(),
        });
        let group = Self { identity, membership, memberships, ready, cloud, db, hub, _slot: slot };
        group.stand_by_if_online();
        group
    }

    /// Another process holds the group's presence: this one stands by to take it over when
    /// that process goes (the group goes offline only with the host's last handle).
    fn stand_by_if_online(&self) {
        if status::presence_held(&status::lock_path(self.db.path())) {
            online::stand_by_unless_holder(&self.hub);
        }
    }

    /// The database, unless the group was deleted: its folder is renamed away at once by a
    /// delete in any process, so one `stat` tells, and a read on a deleted group fails as
    /// clearly as a write (`PEER_E_INVALID_GROUP`) instead of reading the unlinked file.
    pub(crate) fn db(&self) -> Result<&GroupDb> {
        if std::fs::symlink_metadata(self.db.path()).is_err() {
            return Err(peergroup_state::StateError::GroupDeleted { group: self.peer_name().to_string() }.into());
        }
        Ok(&self.db)
    }

    /// The database, for data that only the group holds: `PEER_E_GROUP_NOT_READY` until the
    /// group has been synchronised with a member since this identity joined, as in Windows.
    /// The creator's copy is always ready. The membership file is read again only while it is
    /// not ready, since synchronisation may happen in another process.
    fn ready_db(&self) -> Result<&GroupDb> {
        let db = self.db()?;
        if !self.ready.load(Ordering::Acquire) {
            self.memberships.get(self.identity.peer_name(), self.peer_name())?.ensure_ready()?;
            self.ready.store(true, Ordering::Release);
        }
        Ok(db)
    }

    /// The group's event fan-out and presence in this process.
    pub(crate) fn hub(&self) -> &Arc<Hub> {
        &self.hub
    }

    /// The group peer name.
    pub fn peer_name(&self) -> &PeerName {
        self.db.group_peer_name()
    }

    /// The identity this handle acts as.
    pub fn identity(&self) -> &Identity {
        &self.identity
    }

    /// The cloud the group was opened in.
    pub fn cloud(&self) -> &Cloud {
        &self.cloud
    }

    /// This identity's roles in the group, as its membership gave them when the handle was
    /// opened (credentials adopted later show in handles opened after).
    pub fn roles(&self) -> &[Role] {
        self.membership.roles()
    }

    /// The membership (certificate chain, cloud, whether synchronised).
    pub fn membership(&self) -> &Membership {
        &self.membership
    }

    /// Whether the group's data can be read: the creator's copy always, a joined member's once
    /// it has been synchronised with a member (until then reads are `PEER_E_GROUP_NOT_READY`).
    pub fn is_ready(&self) -> Result<bool> {
        match self.ready_db() {
            Ok(_) => Ok(true),
            Err(Error::Security(peergroup_security::SecurityError::GroupNotReady { .. })) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// The group properties (`PeerGroupGetProperties`).
    pub fn properties(&self) -> Result<GroupProperties> {
        Ok(self.ready_db()?.properties()?)
    }

    /// The policy's actor for this handle: its identity with its membership's roles.
    fn actor(&self) -> Actor<'_> {
        Actor { identity: self.identity.peer_name(), roles: self.roles() }
    }

    /// Asks the policy whether this handle's identity may do `action`
    /// (`PEER_E_NOT_AUTHORIZED` if not).
    fn authorize(&self, action: &Action<'_>) -> Result<()> {
        Ok(authorize(self.peer_name(), &self.actor(), action)?)
    }

    /// Changes the friendly name and comment (`PeerGroupSetProperties`; as the policy allows:
    /// administrators).
    pub fn set_properties(&self, friendly_name: &str, comment: &str) -> Result<GroupProperties> {
        self.authorize(&Action::SetProperties)?;
        let db = self.ready_db()?;
        let mut props = db.properties()?;
        props.friendly_name = friendly_name.to_owned();
        props.comment = comment.to_owned();
        Ok(db.set_properties(&self.identity, &props)?)
    }

    /// The status as every process on this host sees it (`PeerGroupGetStatus`).
    pub fn status(&self) -> Result<GroupStatus> {
        let status = status::read(self.db()?)?;
        if status.is_connected() {
            self.stand_by_if_online();
        }
        Ok(status)
    }

    /// What the group's presence publishes, as every process on this host sees it: the status,
    /// the port it listens on, its connections, and its last failure.
    pub fn network(&self) -> Result<NetView> {
        status::read_view(self.db()?)
    }

    /// Issues, renews or changes the roles of a member's membership certificate
    /// (`PeerGroupIssueCredentials`), as the policy allows: administrators, within their own
    /// role and validity. With [`CredentialRequest::store`] (`PEER_GROUP_STORE_CREDENTIALS`)
    /// the new chain replaces the subject's member entry, which replicates; the subject adopts
    /// it when its database receives it (at the latest on its next connect). Returns the
    /// invitation that carries the credentials, which the subject may also
    /// [`crate::Context::join`] with. See `docs/security.md`.
    pub fn issue_credentials(&self, subject: CredentialSubject<'_>, request: &CredentialRequest) -> Result<String> {
        Ok(self.db()?.issue_credentials(&self.identity, subject, request, std::time::SystemTime::now())?)
    }

    /// Goes online (`PeerGroupConnect`, asynchronous): the group's presence on this host (this
    /// process's, unless another process holds it) listens, registers the group's peer name in
    /// the group's cloud with its endpoints, resolves the name there for other members, links
    /// to a few, synchronises, and keeps replicating. Success shows as
    /// [`crate::Event::StatusChanged`]; a member that finds nobody within
    /// [`crate::CONNECT_TIMEOUT`] gets [`crate::Event::ConnectionFailed`] and keeps listening.
    pub fn connect(&self) -> Result<()> {
        online::connect(&self.hub, self.db()?, &Intent { addresses: Vec::new(), discover: true })
    }

    /// Goes online and links to the members at `addresses` (`PeerGroupConnectByAddress`),
    /// without looking in the cloud; links that drop are dialled again. An empty list only
    /// listens.
    pub fn connect_by_address(&self, addresses: &[SocketAddr]) -> Result<()> {
        if addresses.len() > MAX_CONNECT_ADDRESSES {
            return Err(Error::InvalidArgument {
                argument: "addresses",
                reason: format!("{} addresses; at most {MAX_CONNECT_ADDRESSES}", addresses.len()),
            });
        }
        if let Some(bad) = addresses.iter().find(|a| a.port() == 0 || a.ip().is_unspecified()) {
            return Err(Error::InvalidArgument { argument: "addresses", reason: format!("{bad} names no member") });
        }
        online::connect(&self.hub, self.db()?, &Intent { addresses: addresses.to_vec(), discover: false })
    }

    /// The group's connections on this host (`PeerGroupEnumConnections`): neighbours and direct
    /// connections ([`Connection::flags`]), whichever process holds the presence.
    pub fn connections(&self) -> Result<Vec<Connection>> {
        Ok(status::read_view(self.db()?)?.connections)
    }

    /// Records this process's network presence for the group, so every handle on this host
    /// reports it (and hears of it as [`crate::Event::StatusChanged`]) while this process holds
    /// it: until it publishes an offline status, its last handle of the group closes, or it
    /// dies. `status.presence_pid` is ignored (this process is the holder). `ERROR_BUSY` when
    /// another process holds the presence. Phase 2's connector calls this; exposed for tools
    /// and tests.
    #[doc(hidden)]
    pub fn publish_status(&self, status: &GroupStatus) -> Result<()> {
        status::write(self.db()?, status, &mut self.hub.presence())
    }

    /// The members this database knows (`PeerGroupEnumMembers`), each with
    /// [`PEER_MEMBER_PRESENT`] in its flags when it is connected: this identity while the group
    /// is online on this host, another member while this host has a connection to it.
    pub fn members(&self) -> Result<Vec<Member>> {
        let db = self.ready_db()?;
        let mut members = db.members()?;
        let view = status::read_view(db)?;
        for m in &mut members {
            let present = if m.peer_name == *self.identity.peer_name() {
                view.status.is_connected()
            } else {
                view.connections.iter().any(|c| c.peer == m.peer_name)
            };
            if present {
                m.flags |= PEER_MEMBER_PRESENT;
            } else {
                m.flags &= !PEER_MEMBER_PRESENT;
            }
        }
        Ok(members)
    }

    /// The members that are present (`PeerGroupEnumMembers` with `PEER_MEMBER_PRESENT`).
    pub fn present_members(&self) -> Result<Vec<Member>> {
        Ok(self.members()?.into_iter().filter(|m| m.flags & PEER_MEMBER_PRESENT != 0).collect())
    }

    /// Adds a record signed by this identity (`PeerGroupAddRecord`), as the policy allows.
    pub fn add_record(&self, record: NewRecord) -> Result<Record> {
        self.authorize(&Action::AddRecord { record_type: record.record_type })?;
        Ok(self.ready_db()?.add_record(&self.identity, record)?)
    }

    /// Updates a record's attributes, data and expiration (`PeerGroupUpdateRecord`), as the
    /// policy allows: its creator, or an administrator.
    pub fn update_record(&self, id: Uuid, update: RecordUpdate) -> Result<Record> {
        let db = self.ready_db()?;
        // A record's creator never changes, so asking before the update is exact.
        let current = db.record(id)?;
        self.authorize(&Action::UpdateRecord { record_type: current.record_type, creator: &current.creator })?;
        Ok(db.update_record(&self.identity, id, update)?)
    }

    /// Deletes a record, keeping its tombstone for replication (`PeerGroupDeleteRecord`), as
    /// the policy allows: its creator, or an administrator.
    pub fn delete_record(&self, id: Uuid) -> Result<()> {
        let db = self.ready_db()?;
        let current = db.record(id)?;
        self.authorize(&Action::DeleteRecord { record_type: current.record_type, creator: &current.creator })?;
        Ok(db.delete_record(&self.identity, id)?)
    }

    /// One record (`PeerGroupGetRecord`).
    pub fn record(&self, id: Uuid) -> Result<Record> {
        Ok(self.ready_db()?.record(id)?)
    }

    /// Every live record, or those of one type (`PeerGroupEnumRecords`).
    pub fn records(&self, record_type: Option<Uuid>) -> Result<Vec<Record>> {
        Ok(self.ready_db()?.records(record_type)?)
    }

    /// The records a `peersearch` query selects (`PeerGroupSearchRecords`).
    pub fn search(&self, query: &str) -> Result<Vec<Record>> {
        Ok(self.ready_db()?.search(query)?)
    }

    /// Writes the whole database to one file (`PeerGroupExportDatabase`).
    pub fn export_database(&self, path: &Path) -> Result<()> {
        Ok(self.ready_db()?.export(path)?)
    }

    /// This identity's membership of the group, with the group key when it owns the group,
    /// protected by `password` (`PeerGroupExportConfig`; at least
    /// [`peergroup_identity::MIN_PASSWORD_LEN`] characters). The identity itself moves with
    /// its own export; [`crate::Context::import_config`] reads this on the other machine.
    pub fn export_config(&self, password: &str) -> Result<String> {
        Ok(self.memberships.export_config(&self.identity, self.membership.group(), password)?)
    }

    /// Merges an exported database (`PeerGroupImportDatabase`): every member and record it
    /// holds passes the trust path first; one refusal refuses the file.
    pub fn import_database(&self, path: &Path) -> Result<ImportSummary> {
        Ok(self.db()?.import(path)?)
    }

    /// Registers for events of these types (all when empty): changes committed from now on,
    /// by any process (`PeerGroupRegisterEvent`). A registration is a queue on the group's
    /// one reader in this process (started by the first registration): no thread of its own.
    pub fn events(&self, types: &[EventType]) -> Result<EventStream> {
        self.events_with(EventFilter::of_types(types), None)
    }

    /// [`Self::events`] with a record-type filter, and a function the reader calls after
    /// queuing each event (the C ABI signals the caller's descriptor there).
    pub fn events_with(&self, filter: EventFilter, notify: Option<EventNotify>) -> Result<EventStream> {
        self.hub.register(self.db()?, filter, notify)
    }

    /// Closes the handle (`PeerGroupClose`); dropping it does the same. Other handles, here
    /// and in other processes, go on.
    pub fn close(self) {}
}
