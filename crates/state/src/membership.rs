//! The persistent side of group security (its pure part is `peergroup-security`), on top of
//! the group database store
//! ([`crate::GroupStore`]): each group's folder holds, besides the database,
//!
//! ```text
//! <keystore root>/groups/<identity authority>/<group folder>/    0700  (see docs/storage.md)
//!     group.db ...                                                     the group database
//!     membership      0600  PEM "PEERGROUP MEMBERSHIP": chain, cloud, friendly name, synchronised
//!     group.key       0600  PKCS#8 DER of the group key, the owner's only
//! ```
//!
//! Creating or joining writes these inside the store's creation hook, so a group appears whole
//! or not at all, and deleting the group ([`crate::GroupStore::delete`]) removes them with the
//! database. The group key follows the identity keys' rules (`peergroup_identity::secure_fs`):
//! a file of mode 0600 in folders of mode 0700 owned by the user, never through a link;
//! anything else is `PEER_E_NO_KEY_ACCESS` naming the path.

use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use peergroup_identity::provider::Pkcs8Der;
use peergroup_identity::x509::to_pem;
use peergroup_identity::{Identity, IdentityInfo, Keystore, PeerName, SigningKey, load_signing_key, secure_fs};

use peergroup_security::config::{self, ImportedConfig, membership_from_pem, membership_to_pem};
use peergroup_security::invitation::{self, InvitationRequest};
use peergroup_security::{GroupProperties, Membership, NewGroup, SecurityError, ValidatedChain};

use crate::db::GroupDb;
use crate::error::{Result, StateError};
use crate::properties::Member;
use crate::store::{DB_FILE, GroupStore};

/// The membership file in a group's folder.
pub const MEMBERSHIP_FILE: &str = "membership";
/// The owner's group key file in a group's folder.
pub const GROUP_KEY_FILE: &str = "group.key";
/// The lock file in a group's folder that serialises changes of the membership file between
/// processes (marking it synchronised, adopting newer credentials).
pub const MEMBERSHIP_LOCK_FILE: &str = "membership.lock";

/// What `PeerGroupJoin` did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JoinOutcome {
    /// The identity is now a member (not synchronised yet).
    Joined(Membership),
    /// The identity was a member already; nothing changed (`PEER_S_ALREADY_A_MEMBER`, a success
    /// code). Carries the membership kept.
    AlreadyMember(Membership),
}

impl JoinOutcome {
    /// The membership, whichever the outcome.
    pub fn membership(&self) -> &Membership {
        match self {
            JoinOutcome::Joined(m) | JoinOutcome::AlreadyMember(m) => m,
        }
    }
}

/// Group security for every identity of one keystore: create, join, invite, export, import.
#[derive(Debug, Clone)]
pub struct MembershipStore {
    root: PathBuf,
}

/// The database member entry of a membership: the member's key, roles and chain (PEM, root
/// first).
fn member_entry(membership: &Membership) -> Member {
    member_entry_of(&membership.chain)
}

/// The database member entry of the holder of `chain` (no presence flags).
pub(crate) fn member_entry_of(chain: &ValidatedChain) -> Member {
    let leaf = chain.leaf();
    Member {
        peer_name: leaf.subject.clone(),
        friendly_name: leaf.friendly_name.clone(),
        public_key: leaf.public_key.clone(),
        certificate: chain
            .certificates()
            .iter()
            .map(|c| to_pem("CERTIFICATE", &c.der))
            .collect::<String>()
            .into_bytes(),
        roles: leaf.roles.iter().map(|r| r.guid()).collect(),
        flags: 0,
    }
}

/// Properties for a group joined or imported before any synchronisation: what the chain and the
/// invitation tell (names, cloud), Windows' defaults for the rest. They stand in until the
/// first synchronisation brings the group's own (`GroupNotReady` until then).
pub(crate) fn provisional_properties(membership: &Membership) -> GroupProperties {
    let group = membership.group().clone();
    let creator = membership.chain.certificates().get(1).map(|c| c.subject.clone()).unwrap_or_else(|| group.clone());
    let mut props = GroupProperties::new(group.clone(), creator, &membership.group_friendly_name);
    if props.friendly_name.is_empty() {
        props.friendly_name = group.classifier().to_owned();
    }
    props.cloud_name = membership.cloud.clone();
    props
}

impl MembershipStore {
    /// The store of `keystore`'s identities.
    pub fn for_keystore(keystore: &Keystore) -> Self {
        Self::open(keystore.root())
    }

    /// The store under a keystore root folder.
    pub fn open(keystore_root: impl AsRef<Path>) -> Self {
        MembershipStore { root: keystore_root.as_ref().to_owned() }
    }

    /// The group database store of `identity` (creates its private folder).
    pub fn groups(&self, identity: &PeerName) -> Result<GroupStore> {
        GroupStore::at_root(&self.root, identity)
    }

    /// The folder of `identity`'s membership of `group` (whether or not it exists). Only a
    /// path: reading a membership creates no folder.
    pub fn dir(&self, identity: &PeerName, group: &PeerName) -> PathBuf {
        crate::store::group_dir_in(&crate::store::identity_dir(&self.root, identity), group)
    }

    /// `PeerGroupCreate`: generates the group key pair with the creator's crypto provider, then
    /// [`Self::create_group_with_key`].
    pub fn create_group(&self, creator: &Identity, properties: &NewGroup) -> Result<GroupDb> {
        properties.validate()?;
        let key = creator.provider().generate_key()?;
        self.create_group_with_key(creator, properties, key, SystemTime::now())
    }

    /// `PeerGroupCreate` with a given group key (PKCS#8 DER): makes the GRC and the creator's
    /// administrator GMC, and creates the group database with the properties, the creator as
    /// member, the membership and the group key. Returns the open database.
    pub fn create_group_with_key(
        &self,
        creator: &Identity,
        properties: &NewGroup,
        group_key: Pkcs8Der,
        now: SystemTime,
    ) -> Result<GroupDb> {
        let created = properties.create_certificates(creator.info(), group_key, now)?;
        let membership = Membership {
            identity: creator.peer_name().clone(),
            group_friendly_name: properties.effective_friendly_name().to_owned(),
            cloud: properties.cloud_name().to_owned(),
            chain: created.chain,
            synchronized: true,
        };
        let props = properties.to_properties(&created.group, creator.peer_name());
        // A password group's creator (its first administrator) keeps the password's stretch,
        // written with the group's other files, so the group appears whole or not at all.
        let password_key = properties.password.as_ref().map(|p| p.key(&created.group)).transpose()?;
        self.install_with_password(&props, &membership, Some(&created.group_key), Some(creator), password_key.as_ref())
    }

    /// The membership of `identity` in `group` ([`StateError::GroupNotFound`] if none,
    /// [`StateError::CorruptMembership`] naming the file if it is damaged or missing beside a
    /// group database). Its chain is validated (not its times: an expired membership still
    /// opens, and fails to connect).
    pub fn get(&self, identity: &PeerName, group: &PeerName) -> Result<Membership> {
        read_membership(&self.dir(identity, group), identity, group)
    }

    /// The memberships of every group `identity` created, joined or imported (`PeerEnumGroups`),
    /// sorted by group peer name.
    pub fn list(&self, identity: &PeerName) -> Result<Vec<Membership>> {
        self.groups(identity)?.list()?.iter().map(|p| self.get(identity, &p.group_peer_name)).collect()
    }

    /// Checks that the owner's group key may be used (the file rules of
    /// [`peergroup_identity::secure_fs`]; `NoKeyAccess` naming the path, also when it is
    /// missing) without reading or decoding it: what `PeerGroupOpen` needs of the owner.
    pub fn check_group_key_access(&self, identity: &PeerName, group: &PeerName) -> Result<()> {
        Ok(secure_fs::check_private_file(&self.dir(identity, group).join(GROUP_KEY_FILE))?)
    }

    /// The group private key, for the owner only: checks the file rules
    /// ([`peergroup_identity::IdentityError::NoKeyAccess`] naming the path) and that the key is
    /// the group root's. [`SecurityError::NotAuthorized`] for a member that does not hold it.
    pub fn group_key(&self, identity: &PeerName, group: &PeerName) -> Result<Box<dyn SigningKey>> {
        let membership = self.get(identity, group)?;
        let path = self.dir(identity, group).join(GROUP_KEY_FILE);
        if std::fs::symlink_metadata(&path).is_err() && !membership.is_owner_chain() {
            return Err(SecurityError::NotAuthorized {
                identity: identity.to_string(),
                group: group.to_string(),
                reason: "only the group's creator holds the group key".into(),
            }
            .into());
        }
        let provider = peergroup_identity::default_provider();
        Ok(load_signing_key(&path, provider, &membership.chain.root().public_key)?)
    }

    /// `PeerGroupJoin`: checks the invitation against `identity` ([`invitation::accept`]) and
    /// the identity's key-file rules, then creates the group database (provisional
    /// properties, the identity as member) with the membership, not synchronised. Joining a
    /// group the identity is already in gives [`JoinOutcome::AlreadyMember`] and changes
    /// nothing, unless the invitation carries credentials that start later than the
    /// membership's (`PeerGroupIssueCredentials` without `PEER_GROUP_STORE_CREDENTIALS`): then
    /// the membership takes them, and its member entry too, which replicates.
    pub fn join(&self, identity: &Identity, invitation_text: &str, now: SystemTime) -> Result<JoinOutcome> {
        let info = invitation::accept(invitation_text, identity.info(), now)?;
        secure_fs::check_private_file(identity.key_path())?;
        match self.get(identity.peer_name(), &info.group) {
            Ok(_) => return self.renew(identity.peer_name(), &info.chain).map(JoinOutcome::AlreadyMember),
            Err(StateError::GroupNotFound { .. }) => {}
            Err(e) => return Err(e),
        }
        let membership = info.membership();
        match self.install(&provisional_properties(&membership), &membership, None, None) {
            Ok(_) => Ok(JoinOutcome::Joined(membership)),
            // Another process joined the same group at the same moment.
            Err(StateError::GroupExists { .. }) => {
                Ok(JoinOutcome::AlreadyMember(self.get(identity.peer_name(), &info.group)?))
            }
            Err(e) => Err(e),
        }
    }

    /// Creates the group database of a membership (created, joined or imported) with its
    /// membership file, its member entry and, for the owner, the group key: all appear at once.
    /// Creates the group database of `membership`, with the group key if given. The creator
    /// (`creator`, at `PeerGroupCreate` only) also signs the properties the group starts with,
    /// so that they replicate (version 1) and every member that synchronises holds the group's
    /// own properties instead of the provisional ones it joined or imported with.
    pub(crate) fn install(
        &self,
        props: &GroupProperties,
        membership: &Membership,
        group_key: Option<&[u8]>,
        creator: Option<&Identity>,
    ) -> Result<GroupDb> {
        self.install_with_password(props, membership, group_key, creator, None)
    }

    fn install_with_password(
        &self,
        props: &GroupProperties,
        membership: &Membership,
        group_key: Option<&[u8]>,
        creator: Option<&Identity>,
        password_key: Option<&peergroup_security::password::PasswordKey>,
    ) -> Result<GroupDb> {
        self.groups(&membership.identity)?.create(props, |db| {
            if let Some(key) = group_key {
                secure_fs::write_private_file(&db.dir().join(GROUP_KEY_FILE), key)?;
            }
            if let Some(key) = password_key {
                secure_fs::write_private_file(&db.dir().join(crate::PASSWORD_KEY_FILE), key.as_bytes())?;
            }
            if let Some(creator) = creator {
                db.sign_initial_properties(creator)?;
            }
            write_membership(db.dir(), membership)?;
            db.put_member(&member_entry(membership))
        })
    }

    /// Records that the group has been synchronised with a member (the sync layer calls this
    /// after its first synchronisation); from then on the group is ready.
    pub fn mark_synchronized(&self, identity: &PeerName, group: &PeerName) -> Result<Membership> {
        let (membership, _) = update_membership(&self.dir(identity, group), identity, group, mark_synchronized)?;
        Ok(membership)
    }

    /// Gives `identity`'s membership the credentials of `chain` (its own, validated) if they
    /// start later than the membership's and are for the same key, in the membership file and
    /// in the member entry; returns the membership kept.
    fn renew(&self, identity: &PeerName, chain: &ValidatedChain) -> Result<Membership> {
        let group = chain.group();
        let dir = self.dir(identity, group);
        let (membership, changed) = update_membership(&dir, identity, group, |m| adopt(m, chain))?;
        if changed {
            let db = self.groups(identity)?.open(group)?;
            let flags = db.member(identity).map_or(0, |m| m.flags);
            db.put_member(&Member { flags, ..member_entry_of(chain) })?;
        }
        Ok(membership)
    }

    /// `PeerGroupCreateInvitation` / `PeerGroupIssueCredentials` by `issuer` in `group`
    /// ([`invitation::create`], signed with the issuer's identity key).
    pub fn create_invitation(
        &self,
        issuer: &Identity,
        group: &PeerName,
        invitee: &IdentityInfo,
        request: &InvitationRequest,
        now: SystemTime,
    ) -> Result<String> {
        let membership = self.get(issuer.peer_name(), group)?;
        Ok(invitation::create(&membership, issuer.signing_key()?, invitee, request, now)?)
    }

    /// `PeerGroupExportConfig`: the membership of `identity` in `group`, with the group key if
    /// it holds it, protected by `password` ([`config::export`]).
    pub fn export_config(&self, identity: &Identity, group: &PeerName, password: &str) -> Result<String> {
        // As Windows' NO_KEY_ACCESS check: the identity's own key must be usable here.
        identity.signing_key()?;
        let membership = self.get(identity.peer_name(), group)?;
        let path = self.dir(identity.peer_name(), group).join(GROUP_KEY_FILE);
        let key =
            if std::fs::symlink_metadata(&path).is_ok() { Some(secure_fs::read_private_file(&path)?) } else { None };
        Ok(config::export(&membership, key.as_deref().map(|k| k.as_slice()), password)?)
    }

    /// `PeerGroupImportConfig`: reads an export ([`config::import`]) for `identity`, which must
    /// exist locally already and be the one the export is for ([`SecurityError::InvalidConfig`]
    /// otherwise); an existing membership is [`StateError::GroupExists`] unless `overwrite`
    /// (then the group is deleted first, database included). The group starts not
    /// synchronised, as after a join: the export carries no database. Returns the membership
    /// (identity and group peer name for `PeerGroupOpen`).
    pub fn import_config(
        &self,
        identity: &Identity,
        text: &str,
        password: &str,
        overwrite: bool,
    ) -> Result<Membership> {
        self.install_config(identity, config::import(text, password)?, overwrite)
    }

    /// [`Self::import_config`] for the identity the export names, which `find` loads (as
    /// `PeerGroupImportConfig`, which is given no identity): the file is decrypted once.
    pub fn import_config_for(
        &self,
        text: &str,
        password: &str,
        overwrite: bool,
        find: impl FnOnce(&PeerName) -> Result<Identity>,
    ) -> Result<Membership> {
        let imported = config::import(text, password)?;
        let identity = find(&imported.membership.identity)?;
        self.install_config(&identity, imported, overwrite)
    }

    fn install_config(&self, identity: &Identity, imported: ImportedConfig, overwrite: bool) -> Result<Membership> {
        let ImportedConfig { mut membership, group_key } = imported;
        if membership.identity != *identity.peer_name()
            || membership.chain.leaf().public_key.as_slice() != identity.public_key_der()
        {
            return Err(SecurityError::InvalidConfig {
                reason: format!(
                    "the configuration is for identity {}, not {}",
                    membership.identity,
                    identity.peer_name()
                ),
            }
            .into());
        }
        membership.synchronized = false;
        let groups = self.groups(identity.peer_name())?;
        let group = membership.group().clone();
        if groups.group_dir(&group).exists() {
            if !overwrite {
                return Err(StateError::GroupExists {
                    group: group.to_string(),
                    identity: identity.peer_name().to_string(),
                });
            }
            groups.delete(&group)?;
        }
        self.install(
            &provisional_properties(&membership),
            &membership,
            group_key.as_deref().map(|k| k.as_slice()),
            None,
        )?;
        Ok(membership)
    }
}

/// Whether `chain` (validated, its holder `membership`'s identity) replaces the chain of
/// `membership`: for the same key, starting strictly later (the order in which every store
/// keeps member entries). Replaces it if so.
pub(crate) fn adopt(membership: &mut Membership, chain: &ValidatedChain) -> bool {
    let (held, new) = (membership.chain.leaf(), chain.leaf());
    let newer = chain.group() == membership.group()
        && new.subject == held.subject
        && new.public_key == held.public_key
        && new.not_before > held.not_before;
    if newer {
        membership.chain = chain.clone();
    }
    newer
}

/// Marks `membership` synchronised; whether it was not.
fn mark_synchronized(membership: &mut Membership) -> bool {
    !std::mem::replace(&mut membership.synchronized, true)
}

/// Reads, changes with `change` (which says whether it changed anything) and writes back the
/// membership in `dir`, holding the folder's [`MEMBERSHIP_LOCK_FILE`] throughout, so that two
/// changes from different processes or threads (a synchronisation mark and new credentials)
/// never undo each other. The file is replaced atomically: a crash leaves the old membership
/// or the new one. Returns the membership and whether it changed.
pub(crate) fn update_membership(
    dir: &Path,
    identity: &PeerName,
    group: &PeerName,
    change: impl Fn(&mut Membership) -> bool,
) -> Result<(Membership, bool)> {
    let lock_path = dir.join(MEMBERSHIP_LOCK_FILE);
    let io = |source| StateError::Io { path: lock_path.clone(), source };
    // Nothing to change (the common case: marked already, nothing newer) takes no lock and
    // writes nothing; the membership must exist before a lock file is made beside it.
    let mut unlocked = read_membership(dir, identity, group)?;
    if !change(&mut unlocked) {
        return Ok((unlocked, false));
    }
    let lock = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .mode(0o600)
        .open(&lock_path)
        .map_err(io)?;
    lock.lock().map_err(io)?;
    // Read again under the lock: another process may have changed it meanwhile.
    let mut membership = read_membership(dir, identity, group)?;
    let changed = change(&mut membership);
    if changed {
        write_membership(dir, &membership)?;
    }
    // Dropping the file releases the lock.
    drop(lock);
    Ok((membership, changed))
}

fn write_membership(dir: &Path, membership: &Membership) -> Result<()> {
    secure_fs::replace_private_file(&dir.join(MEMBERSHIP_FILE), membership_to_pem(membership)?.as_bytes())?;
    Ok(())
}

/// The membership in the folder `dir` of `identity`'s membership of `group` (see
/// [`MembershipStore::get`]).
pub(crate) fn read_membership(dir: &Path, identity: &PeerName, group: &PeerName) -> Result<Membership> {
    let path = dir.join(MEMBERSHIP_FILE);
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            if dir.join(DB_FILE).exists() {
                return Err(StateError::CorruptMembership { path, reason: "missing beside the database".into() });
            }
            return Err(StateError::GroupNotFound { group: group.to_string(), identity: identity.to_string() });
        }
        Err(e) => return Err(StateError::Io { path, source: e }),
    };
    let membership =
        membership_from_pem(&text).map_err(|reason| StateError::CorruptMembership { path: path.clone(), reason })?;
    if membership.identity != *identity || membership.group() != group {
        return Err(StateError::CorruptMembership {
            path,
            reason: format!("holds {} in {}, not {identity} in {group}", membership.identity, membership.group()),
        });
    }
    Ok(membership)
}

impl GroupDb {
    /// Records that this group has been synchronised with a member: the replication layer
    /// calls it when its first synchronisation completes. The mark is the membership file's
    /// (`Membership::synchronized`, what the facade reports as ready), so every process sees
    /// it; it never goes back. Marking a group marked already changes nothing.
    pub fn mark_synchronized(&self) -> Result<()> {
        update_membership(self.dir(), self.identity(), self.group_peer_name(), mark_synchronized)?;
        Ok(())
    }

    /// Whether this group has been synchronised with a member since this identity joined (the
    /// creator's copy always has).
    pub fn is_synchronized(&self) -> Result<bool> {
        Ok(read_membership(self.dir(), self.identity(), self.group_peer_name())?.synchronized)
    }
}
