//! Export and import of the whole database (the file side is `crate::export`).

use std::path::Path;
use std::time::SystemTime;

use peergroup_identity::PeerName;

use super::members::{put_member_tx, read_member_tx};
use super::records::{Applied, apply_verified};
use super::{GroupDb, ImportSummary};
use crate::changes::Origin;
use crate::error::{Result, StateError};

impl GroupDb {
    /// Writes the whole database (properties, members, records and tombstones; not the
    /// security layer's blobs, not the change feed) to one new file at `dest`
    /// (`PeerGroupExportDatabase`). The file is created with mode 0600 and must not exist.
    pub fn export(&self, dest: &Path) -> Result<()> {
        crate::export::export(self, dest)
    }

    /// Merges a file written by [`Self::export`] into this database
    /// (`PeerGroupImportDatabase`). The file is outside input: every member it declares and
    /// every record it holds passes the trust path first (see `export.rs`); one refusal
    /// refuses the whole file and nothing of it is stored.
    pub fn import(&self, src: &Path) -> Result<ImportSummary> {
        let known = |name: &PeerName| match self.member(name) {
            Ok(m) => Ok(Some(m)),
            Err(StateError::MemberNotFound { .. }) => Ok(None),
            Err(e) => Err(e),
        };
        let (members, records) = crate::export::read_verified(src, &self.group, known, SystemTime::now())?;
        let path = &self.path;
        self.write(|tx| {
            let mut summary = ImportSummary::default();
            for member in &members {
                let existing = read_member_tx(tx, path, &member.peer_name)?;
                if existing.as_ref() != Some(member) {
                    put_member_tx(tx, path, member)?;
                    summary.members_applied += 1;
                }
            }
            for record in &records {
                match apply_verified(tx, path, record, &Origin::Local)? {
                    Applied::Stored => summary.records_applied += 1,
                    Applied::Stale => summary.records_skipped += 1,
                    // One refusal refuses the whole file.
                    Applied::Refused(e) => return Err(e),
                }
            }
            Ok(summary)
        })
    }
}
