//! The command-line grammar.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// Named, secure peer groups that work offline: identities, clouds, groups and records.
#[derive(Debug, Parser)]
#[command(name = "peergroup", version, propagate_version = true)]
pub struct Cli {
    /// The peergroup home (keystore root); else $PEERGROUP_HOME, else the XDG data folder.
    #[arg(long, global = true, value_name = "DIR")]
    pub home: Option<PathBuf>,
    /// Print JSON instead of text.
    #[arg(long, global = true)]
    pub json: bool,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Peer identities: RSA keys with self-signed certificates.
    #[command(subcommand)]
    Identity(IdentityCommand),
    /// The clouds this host is in.
    #[command(subcommand)]
    Cloud(CloudCommand),
    /// Peer names in clouds: register and resolve (DNS clouds for now).
    #[command(subcommand)]
    Pnrp(PnrpCommand),
    /// Groups: create, invite, issue, join, open, watch, connect, status, members, delete.
    #[command(subcommand)]
    Group(GroupCommand),
    /// Records of a group.
    #[command(subcommand)]
    Record(RecordCommand),
    /// The whole flow in a temporary home: identities, a group, an invitation, a join, two
    /// processes exchanging records, and the documented errors.
    Demo,
}

#[derive(Debug, Subcommand)]
pub enum IdentityCommand {
    /// Creates an identity; prints its peer name first.
    Create {
        /// The classifier (the part after the dot).
        classifier: String,
        /// A friendly name (default: the classifier).
        #[arg(long)]
        friendly_name: Option<String>,
    },
    /// Lists identities.
    List,
    /// Shows one identity.
    Show { identity: String },
    /// Deletes an identity and its keys.
    Delete { identity: String },
    /// Exports an identity to a password-protected file (password from $PEERGROUP_PASSWORD or --password).
    Export {
        identity: String,
        /// The file to write.
        #[arg(long, value_name = "FILE")]
        out: PathBuf,
        /// The password (else $PEERGROUP_PASSWORD).
        #[arg(long)]
        password: Option<String>,
    },
    /// Imports an exported identity; prints its peer name first.
    Import {
        /// The export file.
        file: PathBuf,
        /// The password (else $PEERGROUP_PASSWORD).
        #[arg(long)]
        password: Option<String>,
    },
    /// Prints the public identity info an inviter needs (PeerIdentityGetXML).
    Info {
        identity: String,
        /// Write it to this file instead of standard output.
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
    },
}

#[derive(Debug, Subcommand)]
pub enum CloudCommand {
    /// Lists the clouds of this host.
    List,
}

#[derive(Debug, Subcommand)]
pub enum PnrpCommand {
    /// Registers a peer name with its endpoints; prints `registered <PEER-NAME>` once
    /// published, keeps it published until interrupted or `--for` ends, then withdraws it.
    Register {
        /// The cloud: a DNS cloud (`corp.example.`), an interface cloud (`LinkLocal_eth0`) or
        /// `Global_` (the Mainline DHT of `[global]` in config.toml).
        #[arg(long)]
        cloud: String,
        /// The peer name (a secure name needs its identity in this home).
        peer_name: String,
        /// An endpoint, `HOST:PORT` (IPv6 in brackets), at most 10; default: this host's
        /// addresses in the cloud at a UDP port the command holds.
        #[arg(long = "address", value_name = "HOST:PORT")]
        addresses: Vec<String>,
        /// A comment published with the name (at most 255 bytes).
        #[arg(long, default_value = "")]
        comment: String,
        /// How long to stay registered (`90s`, `5m`, `2h`); default: until interrupted.
        #[arg(long = "for", value_name = "DURATION")]
        duration: Option<String>,
    },
    /// Resolves a peer name: one endpoint per line (`--json`: objects with address, port, peer
    /// name, comment); exits 1 with PEER_E_NOT_FOUND when none was found.
    Resolve {
        /// The cloud: a DNS cloud (`corp.example.`), an interface cloud (`LinkLocal_eth0`) or
        /// `Global_`.
        #[arg(long)]
        cloud: String,
        /// The peer name.
        peer_name: String,
        /// The most registrations to return.
        #[arg(long, default_value_t = 10)]
        max: usize,
        /// How long to wait for answers (`5s`).
        #[arg(long, default_value = "5s", value_name = "DURATION")]
        timeout: String,
    },
    /// Runs a node of the Mainline DHT for a private network or an offline test: prints
    /// `listening <ADDRESS>` first, then serves until interrupted. Point `[global] bootstrap`
    /// in config.toml at it.
    DhtNode {
        /// Where to listen (IPv4 `ADDRESS:PORT`; port 0 picks a free one).
        #[arg(long, default_value = "0.0.0.0:6881", value_name = "ADDRESS:PORT")]
        listen: String,
        /// A node of the network to join, `HOST:PORT`; none starts a new network.
        #[arg(long = "bootstrap", value_name = "HOST:PORT")]
        bootstrap: Vec<String>,
    },
}

#[derive(Debug, Args)]
pub struct GroupRef {
    /// The identity (peer name).
    #[arg(long)]
    pub identity: String,
    /// The group (peer name).
    #[arg(long)]
    pub group: String,
    /// The cloud (default: the one in the group's properties).
    #[arg(long)]
    pub cloud: Option<String>,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum RoleArg {
    Member,
    Administrator,
}

#[derive(Debug, Subcommand)]
pub enum GroupCommand {
    /// Creates a group; prints its peer name first.
    Create {
        /// The creating identity.
        #[arg(long)]
        identity: String,
        /// The classifier of the group peer name.
        classifier: String,
        /// A friendly name (default: the classifier).
        #[arg(long)]
        friendly_name: Option<String>,
        /// The cloud (default: Global_).
        #[arg(long)]
        cloud: Option<String>,
        /// A group password (at least 8 characters): whoever holds a password invitation and
        /// knows it may join (`group join --password`). Only its stretch is kept, here.
        #[arg(long)]
        password: Option<String>,
        /// The role a password joiner receives.
        #[arg(long, value_enum, default_value = "member", requires = "password")]
        password_role: RoleArg,
    },
    /// Lists the groups of an identity.
    List {
        #[arg(long)]
        identity: String,
    },
    /// Issues an invitation for the identity whose info file is given.
    Invite {
        #[arg(long)]
        identity: String,
        #[arg(long)]
        group: String,
        /// The invitee's identity info (`peergroup identity info`).
        #[arg(long, value_name = "IDENTITY-INFO-FILE", required_unless_present = "password_invitation")]
        invitee: Option<PathBuf>,
        /// A password invitation instead: for anyone who knows the group's password (the role
        /// is the group's password role).
        #[arg(long, conflicts_with_all = ["invitee", "expires"])]
        password_invitation: bool,
        #[arg(long, value_enum, default_value = "member")]
        role: RoleArg,
        /// How long the membership lasts (`30d`, `12h`, `90m`, `45s`); default: the issuer's.
        #[arg(long, value_name = "DURATION")]
        expires: Option<String>,
        /// Write the invitation to this file instead of standard output.
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
    },
    /// Issues, renews or changes the roles of a member's credentials (administrators only);
    /// `--store` publishes them in the group database, where the member picks them up when it
    /// next connects; otherwise the member joins with the invitation printed.
    Issue {
        #[arg(long)]
        identity: String,
        #[arg(long)]
        group: String,
        /// The subject's identity info (`peergroup identity info`).
        #[arg(long, value_name = "IDENTITY-INFO-FILE")]
        subject: PathBuf,
        /// The role to grant; default: the one the subject holds (member for a new one).
        #[arg(long, value_enum)]
        role: Option<RoleArg>,
        /// How long the credentials last (`30d`, `12h`, `90m`, `45s`); default: the issuer's.
        #[arg(long, value_name = "DURATION")]
        expires: Option<String>,
        /// Publish the credentials in the group database (PEER_GROUP_STORE_CREDENTIALS).
        #[arg(long)]
        store: bool,
        /// Write the invitation carrying the credentials to this file.
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
    },
    /// Joins a group with an invitation; prints the group peer name first.
    Join {
        #[arg(long)]
        identity: String,
        #[arg(long, value_name = "FILE")]
        invitation: PathBuf,
        /// Open the group in this cloud once joined, to check it resolves.
        #[arg(long)]
        cloud: Option<String>,
        /// The group's password, for a password invitation: the join then links to a member
        /// (at --address, else found in the group's cloud) and proves it.
        #[arg(long)]
        password: Option<String>,
        /// A member's address, `HOST:PORT`, for a password join.
        #[arg(long = "address", value_name = "HOST:PORT", requires = "password")]
        addresses: Vec<String>,
    },
    /// Opens a group, prints its properties and status, and closes it.
    Open(GroupRef),
    /// Opens a group and prints each event until interrupted.
    Watch {
        #[command(flatten)]
        group: GroupRef,
        /// Stop after this many events (default: never).
        #[arg(long)]
        count: Option<usize>,
    },
    /// Goes online: prints `connecting <GROUP>`, `listening <PORT>`, then one line per event
    /// (one JSON object per line with --json); stays connected until interrupted or `--for`
    /// ends. Without --address, finds members in the group's cloud.
    Connect {
        #[command(flatten)]
        group: GroupRef,
        /// A member's address, `HOST:PORT` (IPv6 in brackets); skips the cloud.
        #[arg(long = "address", value_name = "HOST:PORT")]
        addresses: Vec<String>,
        /// How long to stay connected (`90s`, `5m`); default: until interrupted.
        #[arg(long = "for", value_name = "DURATION")]
        duration: Option<String>,
    },
    /// Sends data to a member over a direct connection: goes online unless the group is
    /// (by `--address`, else through the group's cloud), waits for a link to the member,
    /// opens a direct connection, sends, closes once delivered, and prints
    /// `sent <LENGTH> <MEMBER>` (or sends on `--connection`).
    Send {
        #[command(flatten)]
        group: GroupRef,
        /// The member (its identity peer name).
        #[arg(long, value_name = "MEMBER-PEER-NAME", required_unless_present = "connection")]
        to: Option<String>,
        /// Sends on this open connection instead (an id of `group connections`, a neighbour's
        /// or a direct one), without opening or closing one.
        #[arg(long, value_name = "ID", conflicts_with_all = ["to", "addresses"])]
        connection: Option<u64>,
        /// The data type (a UUID).
        #[arg(long = "type", value_name = "UUID")]
        data_type: String,
        /// The data, as text.
        #[arg(long, conflicts_with = "data_file", required_unless_present = "data_file")]
        data: Option<String>,
        /// The data, from a file.
        #[arg(long, value_name = "FILE")]
        data_file: Option<PathBuf>,
        /// The member's address, `HOST:PORT`, when the group is not online on this host.
        #[arg(long = "address", value_name = "HOST:PORT")]
        addresses: Vec<String>,
        /// How long to wait for the link, the connection and the delivery (default: 30s).
        #[arg(long, value_name = "DURATION")]
        timeout: Option<String>,
    },
    /// Prints whether the group is online on this host (`listening`, `connected` or
    /// `offline`), its connections, its port and whether it is ready.
    Status(GroupRef),
    /// Lists the members the group's database knows (`--present`: the connected ones).
    Members {
        #[command(flatten)]
        group: GroupRef,
        /// Only the members present (connected).
        #[arg(long)]
        present: bool,
    },
    /// Lists the group's connections on this host.
    Connections(GroupRef),
    /// Prints the properties of a group.
    Properties(GroupRef),
    /// Deletes a group of an identity.
    Delete(GroupRef),
}

#[derive(Debug, Subcommand)]
pub enum RecordCommand {
    /// Adds a record; prints its id first.
    Add {
        #[command(flatten)]
        group: GroupRef,
        /// The record type (UUID).
        #[arg(long = "type", value_name = "UUID")]
        record_type: String,
        /// An attribute `NAME=VALUE` (string), `NAME:int=N` or `NAME:date=W3C-TIME`.
        #[arg(long = "attr", value_name = "NAME=VALUE")]
        attrs: Vec<String>,
        /// The data, as text.
        #[arg(long, conflicts_with = "data_file")]
        data: Option<String>,
        /// The data, from a file.
        #[arg(long, value_name = "FILE")]
        data_file: Option<PathBuf>,
        /// How long the record lives (default 1 day).
        #[arg(long, value_name = "DURATION", default_value = "1d")]
        expires: String,
    },
    /// Prints one record.
    Get {
        #[command(flatten)]
        group: GroupRef,
        #[arg(long, value_name = "UUID")]
        id: String,
    },
    /// Lists records.
    List {
        #[command(flatten)]
        group: GroupRef,
        #[arg(long = "type", value_name = "UUID")]
        record_type: Option<String>,
    },
    /// Updates a record's attributes, data and expiration.
    Update {
        #[command(flatten)]
        group: GroupRef,
        #[arg(long, value_name = "UUID")]
        id: String,
        #[arg(long = "attr", value_name = "NAME=VALUE")]
        attrs: Vec<String>,
        #[arg(long, conflicts_with = "data_file")]
        data: Option<String>,
        #[arg(long, value_name = "FILE")]
        data_file: Option<PathBuf>,
        /// New lifetime from now (never earlier than the current expiration).
        #[arg(long, value_name = "DURATION")]
        expires: Option<String>,
    },
    /// Deletes a record.
    Delete {
        #[command(flatten)]
        group: GroupRef,
        #[arg(long, value_name = "UUID")]
        id: String,
    },
    /// Searches records with a peersearch XML query.
    Search {
        #[command(flatten)]
        group: GroupRef,
        #[arg(long, value_name = "PEERSEARCH-XML")]
        query: String,
    },
}
