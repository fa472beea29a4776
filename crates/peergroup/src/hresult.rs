//! HRESULT values of p2p.h: the code every error of this crate maps to, with its symbolic name.
//!
//! Values are those of Windows' `p2p.h` and `winerror.h`: `PEER_E_*` errors are
//! `MAKE_HRESULT(1, FACILITY_P2P = 99, code)`, `PEER_S_*` success codes the same with severity 0.

use std::fmt;

/// A Windows `HRESULT`: negative for errors, zero or positive for success.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Hresult(pub i32);

impl Hresult {
    /// The value as the unsigned 32 bits Windows prints (`0x80630203`).
    pub const fn bits(self) -> u32 {
        self.0 as u32
    }

    /// Whether this is a success code (`SUCCEEDED(hr)`).
    pub const fn is_success(self) -> bool {
        self.0 >= 0
    }

    /// The symbolic name (`PEER_E_NO_KEY_ACCESS`), or `None` for a value p2p.h does not name.
    pub fn name(self) -> Option<&'static str> {
        ALL.iter().find(|(_, hr)| *hr == self).map(|(name, _)| *name)
    }

    /// The code of a symbolic name.
    pub fn from_name(name: &str) -> Option<Self> {
        ALL.iter().find(|(n, _)| *n == name).map(|(_, hr)| *hr)
    }
}

impl fmt::Debug for Hresult {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(name) => write!(f, "{name} ({:#010x})", self.bits()),
            None => write!(f, "{:#010x}", self.bits()),
        }
    }
}

impl fmt::Display for Hresult {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:#010x}", self.bits())
    }
}

macro_rules! table {
    ($($(#[$doc:meta])* $name:ident = $value:literal,)*) => {
        $( $(#[$doc])* pub const $name: Hresult = Hresult({
            let bits: u32 = $value;
            bits as i32
        }); )*
        /// Every named code, in the order of the reference tables.
        pub const ALL: &[(&str, Hresult)] = &[$((stringify!($name), $name),)*];
    };
}

table! {
    /// Success.
    S_OK = 0x0000_0000,
    /// One of the arguments is not valid.
    E_INVALIDARG = 0x8007_0057,
    /// Not enough memory (or another bounded resource) for the operation.
    E_OUTOFMEMORY = 0x8007_000E,
    /// Access denied.
    E_ACCESSDENIED = 0x8007_0005,
    /// A handle that is closed, of another kind, or never was.
    E_HANDLE = 0x8007_0006,
    /// An unexpected failure (a caught panic at the C boundary).
    E_UNEXPECTED = 0x8000_FFFF,
    /// Unspecified failure.
    E_FAIL = 0x8000_4005,
    /// The operation cannot finish: the object is being deleted.
    ERROR_DELETE_PENDING = 0x8007_012F,
    /// Data that is not valid (`HRESULT_FROM_WIN32(ERROR_INVALID_DATA)`): a malformed cloud descriptor.
    ERROR_INVALID_DATA = 0x8007_000D,
    /// A configuration that is not valid (`HRESULT_FROM_WIN32(ERROR_BAD_CONFIGURATION)`).
    ERROR_BAD_CONFIGURATION = 0x8007_064A,
    /// The resource is busy (`HRESULT_FROM_WIN32(ERROR_BUSY)`).
    ERROR_BUSY = 0x8007_00AA,
    /// `PeerGroupStartup` has not been called.
    PEER_E_NOT_INITIALIZED = 0x8063_0002,
    /// The database is not valid (damaged, or not a peergroup database).
    PEER_E_INVALID_DATABASE = 0x8063_0016,
    /// A record has too many attributes.
    PEER_E_TOO_MANY_ATTRIBUTES = 0x8063_0017,
    /// A classifier longer than 149 UTF-16 code units.
    PEER_E_CLASSIFIER_TOO_LONG = 0x8063_0201,
    /// Too many identities.
    PEER_E_TOO_MANY_IDENTITIES = 0x8063_0202,
    /// The keys of the identity or of the group may not be used.
    PEER_E_NO_KEY_ACCESS = 0x8063_0203,
    /// The identity still has groups.
    PEER_E_GROUPS_EXIST = 0x8063_0204,
    /// No record with that id.
    PEER_E_RECORD_NOT_FOUND = 0x8063_0301,
    /// The database may not be written or read.
    PEER_E_DATABASE_ACCESSDENIED = 0x8063_0302,
    /// The database could not be initialised.
    PEER_E_DBINITIALIZATION_FAILED = 0x8063_0303,
    /// A record larger than the limit.
    PEER_E_MAX_RECORD_SIZE_EXCEEDED = 0x8063_0304,
    /// The database exists already.
    PEER_E_DATABASE_ALREADY_PRESENT = 0x8063_0305,
    /// The database does not exist.
    PEER_E_DATABASE_NOT_PRESENT = 0x8063_0306,
    /// No identity of that name.
    PEER_E_IDENTITY_NOT_FOUND = 0x8063_0401,
    /// No event registration with that handle.
    PEER_E_EVENT_HANDLE_NOT_FOUND = 0x8063_0501,
    /// A search query that is not valid.
    PEER_E_INVALID_SEARCH = 0x8063_0601,
    /// Record attributes that are not valid.
    PEER_E_INVALID_ATTRIBUTES = 0x8063_0602,
    /// An invitation that is not trusted.
    PEER_E_INVITATION_NOT_TRUSTED = 0x8063_0701,
    /// A certificate chain longer than 24.
    PEER_E_CHAIN_TOO_LONG = 0x8063_0703,
    /// A time outside a certificate's or invitation's validity.
    PEER_E_INVALID_TIME_PERIOD = 0x8063_0705,
    /// A certificate chain that loops.
    PEER_E_CIRCULAR_CHAIN_DETECTED = 0x8063_0706,
    /// Certificates that are damaged.
    PEER_E_CERT_STORE_CORRUPTED = 0x8063_0801,
    /// The cloud cannot be found.
    PEER_E_NO_CLOUD = 0x8063_1001,
    /// More than one cloud matches the name.
    PEER_E_CLOUD_NAME_AMBIGUOUS = 0x8063_1005,
    /// A record that is not valid.
    PEER_E_INVALID_RECORD = 0x8063_2010,
    /// The caller's role does not allow the operation.
    PEER_E_NOT_AUTHORIZED = 0x8063_2020,
    /// A password that does not meet the policy.
    PEER_E_PASSWORD_DOES_NOT_MEET_POLICY = 0x8063_2021,
    /// Group properties that are not valid.
    PEER_E_INVALID_GROUP_PROPERTIES = 0x8063_2040,
    /// A peer name that is not valid.
    PEER_E_INVALID_PEER_NAME = 0x8063_2050,
    /// A classifier that is not valid.
    PEER_E_INVALID_CLASSIFIER = 0x8063_2060,
    /// A friendly name that is not valid.
    PEER_E_INVALID_FRIENDLY_NAME = 0x8063_2070,
    /// A role that is not valid.
    PEER_E_INVALID_ROLE_PROPERTY = 0x8063_2071,
    /// A record expiration that is not valid.
    PEER_E_INVALID_RECORD_EXPIRATION = 0x8063_2080,
    /// Credential information that is not valid.
    PEER_E_INVALID_CREDENTIAL_INFO = 0x8063_2081,
    /// A credential that is not valid.
    PEER_E_INVALID_CREDENTIAL = 0x8063_2082,
    /// A record size that is not valid.
    PEER_E_INVALID_RECORD_SIZE = 0x8063_2083,
    /// A version this implementation does not support.
    PEER_E_UNSUPPORTED_VERSION = 0x8063_2090,
    /// The group has not been synchronised with a member yet.
    PEER_E_GROUP_NOT_READY = 0x8063_2091,
    /// The group is in use.
    PEER_E_GROUP_IN_USE = 0x8063_2092,
    /// A group handle that is not valid (closed, or its group deleted).
    PEER_E_INVALID_GROUP = 0x8063_2093,
    /// The identity was deleted.
    PEER_E_IDENTITY_DELETED = 0x8063_20A0,
    /// A service the operation needs is not available.
    PEER_E_SERVICE_NOT_AVAILABLE = 0x8063_20A1,
    /// A connection to another member failed (no answer, TLS, a protocol error).
    PEER_E_CONNECTION_FAILED = 0x8063_0109,
    /// A connection whose other side could not be authenticated as a member.
    PEER_E_CONNECTION_NOT_AUTHENTICATED = 0x8063_010A,
    /// The other member refused the connection.
    PEER_E_CONNECTION_REFUSED = 0x8063_010B,
    /// No connection has this id (closed, or never opened).
    PEER_E_CONNECTION_NOT_FOUND = 0x8063_0103,
    /// A direct connection to oneself.
    PEER_E_CONNECT_SELF = 0x8063_0106,
    /// No member of the group could be reached.
    PEER_E_NO_MEMBERS_FOUND = 0x8063_2094,
    /// No more items.
    PEER_E_NO_MORE = 0x8063_4003,
    /// Not found (`HRESULT_FROM_WIN32(ERROR_NOT_FOUND)`).
    PEER_E_NOT_FOUND = 0x8007_0490,
    /// The disk is full (`HRESULT_FROM_WIN32(ERROR_DISK_FULL)`).
    PEER_E_DISK_FULL = 0x8007_0070,
    /// It exists already (`HRESULT_FROM_WIN32(ERROR_ALREADY_EXISTS)`).
    PEER_E_ALREADY_EXISTS = 0x8007_00B7,
    /// An identity that is not valid.
    PEER_E_INVALID_IDENTITY = 0x8007_2CEF,
    /// No event data is waiting.
    PEER_S_NO_EVENT_DATA = 0x0063_0002,
    /// The group is offline: no connectivity.
    PEER_S_NO_CONNECTIVITY = 0x0063_0005,
    /// The identity is a member of the group already.
    PEER_S_ALREADY_A_MEMBER = 0x0063_0006,
    /// The group is connected already.
    PEER_S_ALREADY_CONNECTED = 0x0063_2000,
    /// A key that is not valid (crypto provider error, `NTE_BAD_KEY`).
    NTE_BAD_KEY = 0x8009_0003,
    /// A key set that is not valid or damaged (crypto provider error, `NTE_BAD_KEYSET`).
    NTE_BAD_KEYSET = 0x8009_0016,
    /// A signature that does not verify (crypto provider error, `NTE_BAD_SIGNATURE`).
    NTE_BAD_SIGNATURE = 0x8009_0006,
    /// The crypto provider failed (`NTE_FAIL`).
    NTE_FAIL = 0x8009_0020,
}

/// The errors `PeerGroupOpen` returns for arguments and state it is given (besides resource
/// and crypto failures): its documented outcomes, in the order it checks them.
pub const OPEN_ERRORS: &[Hresult] = &[
    E_INVALIDARG,
    PEER_E_IDENTITY_NOT_FOUND,
    PEER_E_NO_KEY_ACCESS,
    PEER_E_NOT_FOUND,
    PEER_E_NO_CLOUD,
    PEER_E_CLOUD_NAME_AMBIGUOUS,
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_the_documented_ones() {
        assert_eq!(PEER_E_NO_KEY_ACCESS.bits(), 0x8063_0203);
        assert_eq!(PEER_E_NO_CLOUD.bits(), 0x8063_1001);
        assert_eq!(PEER_E_CLOUD_NAME_AMBIGUOUS.bits(), 0x8063_1005);
        assert_eq!(E_INVALIDARG.bits(), 0x8007_0057);
        assert_eq!(format!("{PEER_E_NO_CLOUD}"), "0x80631001");
        assert_eq!(format!("{PEER_E_NO_CLOUD:?}"), "PEER_E_NO_CLOUD (0x80631001)");
        assert!(PEER_S_ALREADY_A_MEMBER.is_success() && !PEER_E_NOT_FOUND.is_success());
    }

    #[test]
    fn names_and_values_are_unique() {
        for (i, (name, hr)) in ALL.iter().enumerate() {
            assert_eq!(Hresult::from_name(name), Some(*hr));
            assert_eq!(hr.name(), Some(*name), "value {hr} named twice");
            assert!(ALL[i + 1..].iter().all(|(n, _)| n != name));
        }
    }
}

#[cfg(test)]
mod doc_tests {
    use super::*;

    /// `docs/errors.md` names only real codes, with their real values.
    #[test]
    fn errors_md_agrees_with_the_constants() {
        let doc = include_str!("../../../docs/errors.md");
        let mut checked = 0;
        for line in doc.lines().filter(|l| l.starts_with('|')) {
            let cells: Vec<&str> = line.split('|').map(str::trim).collect();
            let (Some(name), Some(value)) = (cells.get(cells.len().saturating_sub(3)), cells.get(cells.len() - 2))
            else {
                continue;
            };
            let name = name.trim_matches('`');
            let Some(hex) = value.strip_prefix("0x") else { continue };
            let hr = Hresult::from_name(name).unwrap_or_else(|| panic!("{name} is not a known code"));
            assert_eq!(format!("{:08X}", hr.bits()), hex.to_uppercase(), "{name}");
            checked += 1;
        }
        assert!(checked > 40, "only {checked} rows checked");
    }
}
