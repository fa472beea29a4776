//! Password groups in the state layer: the password's stretch at administrators' hosts (the
//! verifier file, under the group key's file rules) and the membership a password joiner
//! receives after the exchange (`docs/security.md`, "Password groups").

use peergroup_identity::{Identity, PeerName, secure_fs};
use peergroup_security::password::PasswordKey;
use peergroup_security::{Membership, ValidatedChain};

use crate::error::{Result, StateError};
use crate::membership::{JoinOutcome, MembershipStore, provisional_properties};

/// The password's stretch in a group's folder (0600, administrators' hosts only): 32 bytes.
pub const PASSWORD_KEY_FILE: &str = "password.key";

impl MembershipStore {
    /// Keeps the password's stretch of `group` for `identity` (an administrator of a password
    /// group, which serves password joiners), replacing any older one atomically.
    pub fn store_password_key(&self, identity: &PeerName, group: &PeerName, key: &PasswordKey) -> Result<()> {
        self.get(identity, group)?;
        secure_fs::replace_private_file(&self.dir(identity, group).join(PASSWORD_KEY_FILE), key.as_bytes())?;
        Ok(())
    }

    /// The password's stretch this host keeps for `identity` in `group`, if any; a file that
    /// breaks the private-file rules is `NoKeyAccess`, one of another length
    /// `CorruptMembership`.
    pub fn password_key(&self, identity: &PeerName, group: &PeerName) -> Result<Option<PasswordKey>> {
        let path = self.dir(identity, group).join(PASSWORD_KEY_FILE);
        if std::fs::symlink_metadata(&path).is_err() {
            return Ok(None);
        }
        let bytes = secure_fs::read_private_file(&path)?;
        let bytes: [u8; 32] = bytes.as_slice().try_into().map_err(|_| StateError::CorruptMembership {
            path: path.clone(),
            reason: format!("a password key of {} bytes, 32 expected", bytes.len()),
        })?;
        Ok(Some(PasswordKey::from_bytes(bytes)))
    }

    /// Records the membership a member issued `identity` after a password exchange (`chain`,
    /// validated, its leaf `identity`'s), not synchronised, as [`MembershipStore::join`] does
    /// for an invitation; a member already gets [`JoinOutcome::AlreadyMember`].
    pub fn join_issued(
        &self,
        identity: &Identity,
        chain: ValidatedChain,
        group_friendly_name: &str,
        cloud: &str,
    ) -> Result<JoinOutcome> {
        secure_fs::check_private_file(identity.key_path())?;
        let group = chain.group().clone();
        match self.get(identity.peer_name(), &group) {
            Ok(m) => return Ok(JoinOutcome::AlreadyMember(m)),
            Err(StateError::GroupNotFound { .. }) => {}
            Err(e) => return Err(e),
        }
        let membership = Membership {
            identity: identity.peer_name().clone(),
            group_friendly_name: group_friendly_name.to_owned(),
            cloud: cloud.to_owned(),
            chain,
            synchronized: false,
        };
        match self.install(&provisional_properties(&membership), &membership, None, None) {
            Ok(_) => Ok(JoinOutcome::Joined(membership)),
            Err(StateError::GroupExists { .. }) => {
                Ok(JoinOutcome::AlreadyMember(self.get(identity.peer_name(), &group)?))
            }
            Err(e) => Err(e),
        }
    }
}
