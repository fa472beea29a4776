//! The context: one keystore root, and every operation on its identities and groups.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::SystemTime;

use peergroup_identity::{Identity, IdentityInfo, Keystore, PeerName};
use peergroup_pnrp::{
    Cloud, CloudName, CloudResolver, DnsConfig, GlobalConfig, InterfaceSource, NameOrigin, WatchedInterfaces,
};
use peergroup_security::{GroupProperties, InvitationInfo, InvitationRequest, Membership, NewGroup};
use peergroup_state::{Durability, GroupStore, JoinOutcome, MembershipStore};

use crate::error::{Error, Result};
use crate::group::{Group, Slot};
use crate::net_config::NetConfig;

/// Where interfaces come from: the host's, or a fixed list for tests and simulators.
pub type SharedInterfaces = Arc<dyn InterfaceSource + Send + Sync>;

/// A peergroup context bound to one keystore root (the counterpart of `PeerGroupStartup`'s
/// session): identities, groups, clouds. Cheap to clone; clones share the DNS cache.
#[derive(Clone)]
pub struct Context {
    keystore: Keystore,
    memberships: MembershipStore,
    resolver: Arc<CloudResolver>,
    interfaces: SharedInterfaces,
    durability: Durability,
    /// The multicast DNS medium, started on the first registration or resolution in a link
    /// or site cloud and shared by later ones (its daemons' caches make resolutions quick).
    pub(crate) mdns: std::sync::OnceLock<Arc<peergroup_pnrp::MdnsMedium>>,
    /// How `Global_` reaches the Mainline DHT (`[global]` in `config.toml`).
    global: GlobalConfig,
    /// The DHT medium of `Global_`, made on first use; its node starts on the first
    /// registration or resolution there and serves the later ones.
    pub(crate) dht: std::sync::OnceLock<Arc<peergroup_pnrp::DhtMedium>>,
    /// The `[net]` settings of the presences.
    net: NetConfig,
    /// The group names members connected through this context may prove in clouds.
    group_signers: Arc<crate::pnrp::GroupSigners>,
}

impl std::fmt::Debug for Context {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Context").field("root", &self.keystore.root()).finish_non_exhaustive()
    }
}

/// What [`Context::join`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Joined {
    /// The identity is now a member.
    Joined(PeerName),
    /// The identity was a member already: nothing changed (`PEER_S_ALREADY_A_MEMBER`).
    AlreadyMember(PeerName),
}

impl Joined {
    /// The group peer name.
    pub fn group(&self) -> &PeerName {
        match self {
            Self::Joined(g) | Self::AlreadyMember(g) => g,
        }
    }
}

pub(crate) fn parse_name(argument: &'static str, value: &str) -> Result<PeerName> {
    if value.is_empty() {
        return Err(Error::InvalidArgument { argument, reason: "required, and empty".into() });
    }
    PeerName::parse(value).map_err(|e| Error::InvalidArgument { argument, reason: e.to_string() })
}

/// [`parse_name`] of a name written exactly as its canonical form (`PeerGroupOpen`'s rule).
fn parse_exact_name(argument: &'static str, value: &str) -> Result<PeerName> {
    let name = parse_name(argument, value)?;
    if name.to_string() != value {
        return Err(Error::InvalidArgument {
            argument,
            reason: format!("peer names are case-sensitive: the authority is 40 lowercase hex digits (`{name}`)"),
        });
    }
    Ok(name)
}

impl Context {
    /// A context on the keystore at `root` (created when missing), with the system's
    /// interfaces, the DNS settings of the system overridden by `<root>/config.toml`, and the
    /// `[global]` settings of that file (the Mainline DHT of `Global_`).
    /// The interface list is the process's [`WatchedInterfaces`]: read again only when the
    /// kernel reports a change of link or address.
    pub fn open(root: impl Into<PathBuf>) -> Result<Self> {
        let keystore = Keystore::open(root)?;
        let dns = DnsConfig::load(keystore.root())?;
        let global = GlobalConfig::load(keystore.root())?;
        let net = NetConfig::load(keystore.root())?;
        Ok(Self::with_parts(keystore, dns, WatchedInterfaces::shared()).with_global(global).with_net(net))
    }

    /// A context on the default root (`$PEERGROUP_HOME`, else `$XDG_DATA_HOME/peergroup`, else
    /// `~/.local/share/peergroup`).
    pub fn open_default() -> Result<Self> {
        Self::open(Keystore::default_root()?)
    }

    /// A context from its parts: tests and simulators give fixed interfaces and DNS settings.
    /// `Global_` is off until [`Self::with_global`] gives it a DHT to use: a context made of
    /// parts never reaches the public DHT by accident.
    pub fn with_parts(keystore: Keystore, dns: DnsConfig, interfaces: SharedInterfaces) -> Self {
        let memberships = MembershipStore::for_keystore(&keystore);
        Self {
            keystore,
            memberships,
            resolver: Arc::new(CloudResolver::new(dns)),
            interfaces,
            durability: Durability::default(),
            mdns: std::sync::OnceLock::new(),
            global: GlobalConfig { enabled: false, ..GlobalConfig::default() },
            dht: std::sync::OnceLock::new(),
            net: NetConfig::default(),
            group_signers: Arc::default(),
        }
    }

    /// The group names this context's members may prove in clouds (shared by its clones).
    pub(crate) fn group_signers(&self) -> Arc<crate::pnrp::GroupSigners> {
        Arc::clone(&self.group_signers)
    }

    /// The same context with these `[net]` settings (the presences' port and the addresses
    /// they register in clouds).
    pub fn with_net(mut self, net: NetConfig) -> Self {
        self.net = net;
        self
    }

    /// The `[net]` settings.
    pub fn net_config(&self) -> &NetConfig {
        &self.net
    }

    /// The UDP port presences listen on (`[net] port`; 0: a free one).
    pub(crate) fn net_port(&self) -> u16 {
        self.net.port
    }

    /// The endpoints a presence listening at `port` registers in `cloud`: `[net] advertise`
    /// when set, else this host's addresses there ([`Self::local_endpoints`]).
    pub(crate) async fn advertised_endpoints(&self, cloud: &str, port: u16) -> Result<Vec<std::net::SocketAddr>> {
        match &self.net.advertise {
            Some(list) => Ok(list.iter().map(|ip| std::net::SocketAddr::new(*ip, port)).collect()),
            None => self.local_endpoints(cloud, port).await,
        }
    }

    /// The same context with these `[global]` settings (which DHT `Global_` uses). Call it
    /// before the first registration or resolution in `Global_`.
    pub fn with_global(mut self, global: GlobalConfig) -> Self {
        self.global = global;
        self.dht = std::sync::OnceLock::new();
        self
    }

    /// The `[global]` settings.
    pub fn global_config(&self) -> &GlobalConfig {
        &self.global
    }

    /// Makes the groups this context opens from now on commit with `durability` (default
    /// [`Durability::Normal`]: a change that returned survives any crash of the process;
    /// [`Durability::Full`] also an operating-system crash or power loss, for one `fsync` per
    /// change). See `docs/storage.md`, "Crash guarantees".
    pub fn with_durability(mut self, durability: Durability) -> Self {
        self.durability = durability;
        self
    }

    /// The cloud resolver (and its DNS settings).
    pub(crate) fn resolver(&self) -> &CloudResolver {
        &self.resolver
    }

    /// The keystore root.
    pub fn root(&self) -> &Path {
        self.keystore.root()
    }

    /// The identities (create, list, get, delete, export, import: see [`Keystore`]).
    pub fn keystore(&self) -> &Keystore {
        &self.keystore
    }

    /// Looks an identity up by its peer name (text), checking its key access.
    pub fn identity(&self, name: &str) -> Result<Identity> {
        Ok(self.keystore.get(&parse_name("identity", name)?)?)
    }

    /// The memberships of this keystore's identities.
    pub(crate) fn memberships(&self) -> &MembershipStore {
        &self.memberships
    }

    /// The interface list this context reads.
    pub(crate) fn interfaces(&self) -> &SharedInterfaces {
        &self.interfaces
    }

    /// The clouds this host is in now (`PeerPnrpGetCloudInfo`).
    pub fn clouds(&self) -> Result<Vec<Cloud>> {
        Ok(peergroup_pnrp::discover(self.interfaces.as_ref())?)
    }

    /// Resolves a cloud name the caller gives (`None`: `Global_`) to exactly one cloud. The
    /// name is exact: `LinkLocal_eth9` on a host without `eth9` is `PEER_E_NO_CLOUD`, listing
    /// this host's clouds (only a name stored with a group falls back to its scope).
    pub async fn resolve_cloud(&self, name: Option<&str>) -> Result<Cloud> {
        self.resolve_cloud_as(name, NameOrigin::Caller).await
    }

    /// [`Self::resolve_cloud`] for synchronous callers.
    pub fn resolve_cloud_blocking(&self, name: Option<&str>) -> Result<Cloud> {
        self.resolve_cloud_blocking_as(name, NameOrigin::Caller)
    }

    async fn resolve_cloud_as(&self, name: Option<&str>, origin: NameOrigin) -> Result<Cloud> {
        Ok(self.resolver.resolve(name, origin, self.interfaces.as_ref()).await?)
    }

    fn resolve_cloud_blocking_as(&self, name: Option<&str>, origin: NameOrigin) -> Result<Cloud> {
        Ok(self.resolver.resolve_blocking(name, origin, self.interfaces.as_ref())?)
    }

    fn groups_of(&self, identity: &PeerName) -> Result<GroupStore> {
        Ok(self.memberships.groups(identity)?.with_durability(self.durability))
    }

    /// Creates a group (`PeerGroupCreate`): its key, root certificate and the creator's
    /// administrator certificate, its properties and its database, all appearing at once.
    /// Returns the group peer name.
    ///
    /// The cloud rule, the same for every front end: a cloud name the caller passes must
    /// name a cloud of this host now (`PEER_E_NO_CLOUD`, `PEER_E_CLOUD_NAME_AMBIGUOUS`), and
    /// the group keeps it exactly as given (`LinkLocal_` stays `LinkLocal_`, so that hosts
    /// whose link-local interface has another name open it by scope); no name is `Global_`.
    /// See `docs/open.md`.
    pub fn create_group(&self, identity: &str, group: &NewGroup) -> Result<PeerName> {
        let creator = self.identity(identity)?;
        if let Some(cloud) = &group.cloud {
            CloudName::parse(cloud).map_err(|e| Error::InvalidArgument { argument: "cloud", reason: e.to_string() })?;
            self.resolve_cloud_blocking(Some(cloud))?;
        }
        let db = self.memberships.create_group(&creator, group)?;
        Ok(db.group_peer_name().clone())
    }

    /// Issues an invitation (`PeerGroupCreateInvitation`) for the identity whose public info
    /// (`PeerIdentityGetXML` form) is `invitee_xml`. Returns the invitation text.
    pub fn invite(
        &self,
        identity: &str,
        group: &str,
        invitee_xml: &str,
        request: &InvitationRequest,
    ) -> Result<String> {
        let issuer = self.identity(identity)?;
        let group = parse_name("group", group)?;
        let invitee = IdentityInfo::from_xml(invitee_xml)?;
        Ok(self.memberships.create_invitation(&issuer, &group, &invitee, request, SystemTime::now())?)
    }

    /// Reads an invitation without joining (`PeerGroupParseInvitation`).
    pub fn parse_invitation(&self, text: &str) -> Result<InvitationInfo> {
        Ok(peergroup_security::invitation::parse(text)?)
    }

    /// Joins a group with an invitation issued to `identity` (`PeerGroupJoin`). Joining twice
    /// is harmless ([`Joined::AlreadyMember`]).
    pub fn join(&self, identity: &str, invitation: &str) -> Result<Joined> {
        let joiner = self.identity(identity)?;
        Ok(match self.memberships.join(&joiner, invitation, SystemTime::now())? {
            JoinOutcome::AlreadyMember(m) => Joined::AlreadyMember(m.group().clone()),
            JoinOutcome::Joined(m) => Joined::Joined(m.group().clone()),
        })
    }

    /// Installs a group configuration written by [`Group::export_config`]
    /// (`PeerGroupImportConfig`) for the identity it names, which must exist here already
    /// (import it first). An existing membership is `PEER_E_ALREADY_EXISTS` unless
    /// `overwrite`, which deletes that group first, database included. The group starts not
    /// synchronised, as after a join. Returns the identity and group peer names to open.
    pub fn import_config(&self, text: &str, password: &str, overwrite: bool) -> Result<(PeerName, PeerName)> {
        let membership =
            self.memberships.import_config_for(text, password, overwrite, |name| Ok(self.keystore.get(name)?))?;
        Ok((membership.identity.clone(), membership.group().clone()))
    }

    /// The groups `identity` created or joined (`PeerEnumGroups`).
    pub fn groups(&self, identity: &str) -> Result<Vec<GroupProperties>> {
        let identity = self.identity(identity)?;
        Ok(self.groups_of(identity.peer_name())?.list()?)
    }

    /// Deletes a group of `identity` (`PeerGroupDelete`): database, membership and keys.
    /// Handles open elsewhere receive a group-deleted event; their later calls fail.
    pub fn delete_group(&self, identity: &str, group: &str) -> Result<()> {
        let identity = parse_name("identity", identity)?;
        let group = parse_name("group", group)?;
        Ok(self.groups_of(&identity)?.delete(&group)?)
    }

    /// Opens a group that `identity` created or joined (`PeerGroupOpen`), in `cloud` or, when
    /// `None`, in the cloud of the group's properties. The steps and their errors are those of
    /// `docs/open.md`; the handle starts offline.
    pub async fn open_group(&self, identity: &str, group: &str, cloud: Option<&str>) -> Result<Group> {
        let prepared = self.prepare_open(identity, group, cloud)?;
        let (name, origin) = prepared.cloud_name(cloud);
        let cloud = self.resolve_cloud_as(name, origin).await?;
        prepared.finish(self, cloud)
    }

    /// [`Self::open_group`] for synchronous callers: local clouds need no runtime; a DNS cloud
    /// is looked up on a runtime made for the call.
    pub fn open_group_blocking(&self, identity: &str, group: &str, cloud: Option<&str>) -> Result<Group> {
        let prepared = self.prepare_open(identity, group, cloud)?;
        let (name, origin) = prepared.cloud_name(cloud);
        let cloud = self.resolve_cloud_blocking_as(name, origin)?;
        prepared.finish(self, cloud)
    }

    /// Steps 1 to 3 of `PeerGroupOpen`: arguments, identity and its keys, membership and the
    /// group's keys.
    fn prepare_open(&self, identity: &str, group: &str, cloud: Option<&str>) -> Result<PreparedOpen> {
        // 1. Arguments: secure peer names exactly as written, 40 lowercase hex digits (names
        // are case-sensitive in p2p.h; `PeerName::parse` would take an uppercase authority
        // for the same name).
        let identity_name = parse_exact_name("identity", identity)?;
        let group_name = parse_exact_name("group", group)?;
        if let Some(cloud) = cloud {
            CloudName::parse(cloud).map_err(|e| Error::InvalidArgument { argument: "cloud", reason: e.to_string() })?;
        }
        // 2. The identity exists and its keys may be used.
        let identity = self.keystore.get(&identity_name)?;
        // 3. The identity created or joined the group, and the group's keys may be used.
        let membership = self.memberships.get(&identity_name, &group_name)?;
        if membership.is_owner_chain() {
            self.memberships.check_group_key_access(&identity_name, &group_name)?;
        }
        Ok(PreparedOpen { identity, group: group_name, membership })
    }
}

struct PreparedOpen {
    identity: Identity,
    group: PeerName,
    membership: Membership,
}

impl PreparedOpen {
    /// Step 4's cloud name: the one given (exact), else the group's stored one (which may
    /// fall back to its scope: it may have been made on another host); empty means `Global_`.
    fn cloud_name<'a>(&'a self, given: Option<&'a str>) -> (Option<&'a str>, NameOrigin) {
        match given {
            Some(name) => (Some(name), NameOrigin::Caller),
            None => (Some(self.membership.cloud.as_str()).filter(|n| !n.is_empty()), NameOrigin::Stored),
        }
    }

    /// Step 5: the database opens; the handle starts offline.
    fn finish(self, context: &Context, cloud: Cloud) -> Result<Group> {
        // The handle's place first: out of places is E_OUTOFMEMORY before SQLite runs out of
        // file descriptors.
        let slot = Slot::take()?;
        let store = context.groups_of(self.identity.peer_name())?;
        let db = store.open(&self.group)?;
        // Credentials published for this identity and received while no presence ran here.
        let membership = db.adopt_published_membership()?.unwrap_or(self.membership);
        Ok(Group::new(slot, context.clone(), self.identity, membership, context.memberships.clone(), cloud, db))
    }
}
