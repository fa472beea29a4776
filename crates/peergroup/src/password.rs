//! Password groups in the facade (`PeerGroupCreatePasswordInvitation`, `PeerGroupPasswordJoin`):
//! the invitation an administrator hands out, and the join, which is the joiner's first
//! connection: it finds a member of the group (at the addresses given, else in the group's
//! cloud), proves the password to it without sending it (`docs/security.md`, "Password
//! groups") and keeps the membership that member issues.

use std::net::SocketAddr;
use std::time::{Duration, SystemTime};

use peergroup_net::NetError;
use peergroup_net::password::{PasswordVerifier, password_join};
use peergroup_security::password::GroupPassword;
use peergroup_security::password_invitation;
use peergroup_state::{GroupDb, JoinOutcome, MembershipStore};

use crate::context::{Context, Joined};
use crate::error::{Error, Result};
use crate::group::Group;
use crate::{PeerName, Role};

/// How long a password join looks for members in the group's cloud.
pub const PASSWORD_JOIN_RESOLVE: Duration = Duration::from_secs(2);
/// The most members a password join tries, one after another.
const MAX_TRIED: usize = 8;

impl Group {
    /// A password invitation to this group (`PeerGroupCreatePasswordInvitation`): whoever holds
    /// it and knows the password joins with [`Context::password_join`] and receives the
    /// group's password role. `PEER_E_NOT_AUTHORIZED` for a member (only administrators
    /// invite), `PEER_E_GROUP_NOT_READY` before the first synchronisation; a group created
    /// without a password is refused ([`peergroup_security::SecurityError::NoGroupPassword`]).
    pub fn create_password_invitation(&self) -> Result<String> {
        let role = self.db()?.properties()?.password_role.and_then(Role::from_guid);
        let key = self.identity().signing_key()?;
        Ok(password_invitation::create(self.membership(), key, role, SystemTime::now())?)
    }
}

/// The verifier of the group's presence on this host: the password's stretch (kept at the
/// creator's host) and the group's password role; `None` for a group without a password or a
/// host that does not keep the stretch.
pub(crate) fn verifier(
    memberships: &MembershipStore,
    identity: &PeerName,
    db: &GroupDb,
) -> Result<Option<PasswordVerifier>> {
    let Some(role) = db.properties()?.password_role.and_then(Role::from_guid) else { return Ok(None) };
    let Some(key) = memberships.password_key(identity, db.group_peer_name())? else { return Ok(None) };
    Ok(Some(PasswordVerifier { key, role }))
}

impl Context {
    /// Joins a password group (`PeerGroupPasswordJoin`) as `identity` with a password
    /// invitation and the group's password: links to a member (at `addresses`, else found in
    /// the group's cloud, or `cloud` when given), proves the password (neither it nor anything
    /// to test guesses against travels), and keeps the membership the member issues, with the
    /// group's password role. The group is then joined and not synchronised yet, as after
    /// [`Context::join`]; open it and connect. Joining again is [`Joined::AlreadyMember`]
    /// without any network.
    ///
    /// A wrong password is `PEER_E_NOT_AUTHORIZED` (`NetError::PasswordRejected`) and stores
    /// nothing; the member counts it, and refuses an address after 3 wrong passwords in 10
    /// minutes. No member reachable is `PEER_E_NO_MEMBERS_FOUND`.
    pub async fn password_join(
        &self,
        identity: &str,
        invitation: &str,
        password: &str,
        cloud: Option<&str>,
        addresses: &[SocketAddr],
    ) -> Result<Joined> {
        let joiner = self.identity(identity)?;
        let info = password_invitation::parse(invitation)?;
        let group = info.group.clone();
        match self.memberships().get(joiner.peer_name(), &group) {
            Ok(_) => return Ok(Joined::AlreadyMember(group)),
            Err(peergroup_state::StateError::GroupNotFound { .. }) => {}
            Err(e) => return Err(e.into()),
        }
        let password = GroupPassword::new(password.to_owned());
        let key = password.key(&group)?;
        let cloud = cloud.unwrap_or(&info.cloud).to_owned();
        let targets = if addresses.is_empty() {
            let found = self.pnrp_resolve(&group.to_string(), &cloud, MAX_TRIED, PASSWORD_JOIN_RESOLVE).await;
            found.map(|f| f.into_iter().flat_map(|e| e.addresses).collect::<Vec<_>>()).unwrap_or_default()
        } else {
            addresses.to_vec()
        };
        let place = if addresses.is_empty() { cloud.clone() } else { "the addresses given".to_owned() };
        let mut last = None;
        for addr in targets.into_iter().take(MAX_TRIED) {
            match password_join(&joiner, &group, &key, addr).await {
                Ok(chain) => {
                    let outcome = self.memberships().join_issued(&joiner, chain, &info.group_friendly_name, &cloud)?;
                    return Ok(match outcome {
                        JoinOutcome::Joined(m) => Joined::Joined(m.group().clone()),
                        JoinOutcome::AlreadyMember(m) => Joined::AlreadyMember(m.group().clone()),
                    });
                }
                // The member said no: another would say the same, and each try counts.
                Err(e @ NetError::PasswordRejected { .. }) => return Err(e.into()),
                Err(e) => last = Some(e.to_string()),
            }
        }
        Err(Error::NoMembersFound { group: group.to_string(), cloud: place, last })
    }

    /// [`Self::password_join`] for synchronous callers, on a runtime made for the call.
    pub fn password_join_blocking(
        &self,
        identity: &str,
        invitation: &str,
        password: &str,
        cloud: Option<&str>,
        addresses: &[SocketAddr],
    ) -> Result<Joined> {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().map_err(Error::Runtime)?;
        rt.block_on(self.password_join(identity, invitation, password, cloud, addresses))
    }
}
