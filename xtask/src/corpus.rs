//! `cargo xtask corpus`: the seed corpora of the fuzz targets, `fuzz/corpus/<target>/seed-*`.
//!
//! Each seed is a valid object in exactly the form its target reads its input (a chain as
//! length-prefixed certificates, an invitation as text and as DER, ...), so that fuzzing starts
//! past the first parse instead of spending millions of runs finding the outer framing. The
//! objects are made through the public APIs, with the shared testing keys, in a temporary
//! keystore, and each is checked with the parser its target calls before it is written.
//!
//! RSA keys, serial numbers, salts and times are fresh on every run: rerunning writes other
//! bytes of the same valid objects (commit them only when a format changes). Only `seed-*`
//! files are committed (`.gitignore`); `cargo xtask fuzz` runs on a scratch copy, so fuzzing
//! never grows the committed corpus.

use std::collections::BTreeMap;
use std::fmt::Display;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
// Every object comes through these public APIs (the security types move to their own crate
// in issue 15: only these imports change then).
use peergroup::testing::host_with_link_locals;
use peergroup::{
    Attribute, Attributes, Context, Group, Identity, InvitationRequest, Keystore, NewGroup, NewRecord, Record,
    RecordUpdate, Role, Timestamp, testing_key,
};
use peergroup_identity::x509::to_pem;
use peergroup_identity::{IdentityInfo, PeerName};
use peergroup_pnrp::{Announcement, CloudName, DnsAnswer, DnsConfig, SrvRecord, parse_descriptor};
use peergroup_security::validate_chain;
use peergroup_state::MembershipStore;
use peergroup_state::SearchQuery;
use peergroup_sync::reconcile::{self, SetIndex};
use peergroup_sync::wire::{self, Message, StampEntry};
use peergroup_sync::{Item, ItemKind};

use crate::util::{Result, root};

/// The password the `keystore_files` target imports export files with.
const FUZZ_PASSWORD: &str = "fuzz password";

/// The seeds of each target: file name (without the `seed-` prefix) and bytes.
type Corpus = BTreeMap<&'static str, Vec<(String, Vec<u8>)>>;

trait Context2<T> {
    /// The error as text, prefixed with what was being done.
    fn ctx(self, what: &str) -> Result<T>;
}

impl<T, E: Display> Context2<T> for std::result::Result<T, E> {
    fn ctx(self, what: &str) -> Result<T> {
        self.map_err(|e| format!("{what}: {e}"))
    }
}

/// `cargo xtask corpus [--check]`.
pub fn command(args: &[String]) -> Result {
    let dir = root().join("fuzz/corpus");
    match args.first().map(String::as_str) {
        None => write(&dir, &make()?),
        Some("--check") => {
            let n = check(&dir)?;
            println!("{n} committed seeds, each valid for its target");
            Ok(())
        }
        Some(a) => Err(format!("corpus: unknown argument {a} (only --check)")),
    }
}

/// Checks that every committed seed is still a valid object for its target (formats change;
/// a seed that no longer parses only costs coverage, silently). Returns how many were checked.
pub fn check(dir: &Path) -> Result<usize> {
    let mut n = 0;
    let mut targets: Vec<_> = std::fs::read_dir(dir).ctx(&format!("read {}", dir.display()))?.flatten().collect();
    targets.sort_by_key(std::fs::DirEntry::file_name);
    for target in targets {
        let target_name = target.file_name().to_string_lossy().into_owned();
        let mut seeds: Vec<_> = std::fs::read_dir(target.path()).ctx("read a target folder")?.flatten().collect();
        seeds.sort_by_key(std::fs::DirEntry::file_name);
        let mut found = 0;
        for seed in seeds {
            let file = seed.file_name().to_string_lossy().into_owned();
            if !file.starts_with("seed-") {
                continue;
            }
            let bytes = std::fs::read(seed.path()).ctx(&format!("read {}", seed.path().display()))?;
            check_one(&target_name, &file, &bytes).map_err(|e| format!("fuzz/corpus/{target_name}/{file}: {e}"))?;
            found += 1;
        }
        if found == 0 {
            return Err(format!("fuzz/corpus/{target_name} holds no seed"));
        }
        n += found;
    }
    Ok(n)
}

/// Parses `bytes` as `target` does and says why it is not valid.
fn check_one(target: &str, file: &str, bytes: &[u8]) -> Result {
    let text = || std::str::from_utf8(bytes).ctx("not UTF-8");
    match target {
        "chain_validate" => {
            let mut certs = Vec::new();
            let mut rest = bytes;
            while rest.len() >= 2 {
                let len = usize::from(u16::from_be_bytes([rest[0], rest[1]]));
                let cert = rest.get(2..2 + len).ok_or("a certificate is cut short")?;
                certs.push(cert);
                rest = &rest[2 + len..];
            }
            validate_chain(&certs, None, None).ctx("chain").map(drop)
        }
        "invitation" if file.ends_with(".der") => {
            peergroup_security::invitation::parse_der(bytes).ctx("invitation").map(drop)
        }
        "invitation" => peergroup_security::invitation::parse(text()?).ctx("invitation").map(drop),
        "record_decode" if file.ends_with("-body") => {
            Record::decode(&[&b"PGREC\x01"[..], bytes].concat()).ctx("record").map(drop)
        }
        "record_decode" => Record::decode(bytes).ctx("record").map(drop),
        "attribute_xml" => Attributes::from_xml(text()?).ctx("attributes").map(drop),
        "search_query" => SearchQuery::parse(text()?).ctx("query").map(drop),
        "peer_name" => peergroup_identity::PeerName::parse(text()?).ctx("peer name").map(drop),
        "cloud_name" => CloudName::parse(text()?).ctx("cloud name").map(drop),
        "keystore_files" => match file.rsplit_once('.').map(|(_, ext)| ext) {
            Some("txt") => {
                let tmp = tempfile::tempdir().ctx("temporary folder")?;
                let keystore = Keystore::open(tmp.path().join("home")).ctx("keystore")?;
                keystore.import(text()?, FUZZ_PASSWORD).ctx("identity export").map(drop)
            }
            Some("xml") => IdentityInfo::from_xml(text()?).ctx("identity XML").map(drop),
            _ if file.contains("private-key") => {
                peergroup_identity::default_provider().signing_key(bytes).ctx("private key").map(drop)
            }
            _ if file.contains("public-key") => {
                peergroup_identity::default_provider().verifying_key(bytes).ctx("public key").map(drop)
            }
            _ => IdentityInfo::from_certificate(bytes).ctx("certificate").map(drop),
        },
        "sync_reconcile" | "sync_stamps" | "sync_items" | "sync_done" => {
            wire::decode(bytes).ctx("sync message").map(drop)
        }
        // Its layout is read by the target alone; `cargo xtask corpus` checked what it wrote.
        "dns_descriptor" => Ok(()),
        "pnrp_announcement" => {
            let mut strings = Vec::new();
            let mut rest = bytes;
            while let Some((&len, tail)) = rest.split_first() {
                let s = tail.get(..usize::from(len)).ok_or("a string is cut short")?;
                strings.push(s.to_vec());
                rest = &tail[s.len()..];
            }
            Announcement::parse_txt("seed TXT", &strings).ctx("announcement").map(drop)
        }
        "net_proof" => {
            let proof = peergroup_net::MembershipProof::decode(bytes)?;
            let group = PeerName::parse(&proof.group).ctx("group peer name")?;
            validate_chain(&proof.chain, Some(&group), None).ctx("proof chain").map(drop)
        }
        "mdns_answer" => {
            let id = bytes.first_chunk::<2>().map(|b| u16::from_be_bytes(*b)).ok_or("shorter than a DNS header")?;
            let txts = peergroup_pnrp::mdns_answer_txts(bytes, id);
            let (instance, strings) = txts.first().ok_or("no TXT record of an instance")?;
            Announcement::parse_txt(instance, strings).ctx("announcement").map(drop)
        }
        "flood_decode" => peergroup_sync::flood::Message::decode(bytes).ctx("flood message").map(drop),
        "signed_properties" if file.ends_with("-data") => {
            peergroup_state::decode_signed_properties(&properties_frame(bytes)?).ctx("signed properties").map(drop)
        }
        "signed_properties" => peergroup_state::decode_signed_properties(bytes).ctx("signed properties").map(drop),
        // Seeds recorded from a real exchange (`crates/security/src/password.rs` tests).
        "password_pake" => peergroup_security::password::PakeMessage::decode(bytes).ctx("password message").map(drop),
        other => Err(format!("no check for the target {other}")),
    }
}

/// Replaces the `seed-*` files of each target folder with `corpus` (other files, such as
/// inputs a local `cargo fuzz run` added, are left alone).
fn write(dir: &Path, corpus: &Corpus) -> Result {
    for (target, seeds) in corpus {
        let folder = dir.join(target);
        std::fs::create_dir_all(&folder).ctx(&format!("create {}", folder.display()))?;
        for entry in std::fs::read_dir(&folder).ctx(&format!("read {}", folder.display()))? {
            let path = entry.ctx("read a folder entry")?.path();
            if path.file_name().is_some_and(|n| n.to_string_lossy().starts_with("seed-")) {
                std::fs::remove_file(&path).ctx(&format!("remove {}", path.display()))?;
            }
        }
        let mut total = 0;
        for (name, bytes) in seeds {
            let path = folder.join(format!("seed-{name}"));
            std::fs::write(&path, bytes).ctx(&format!("write {}", path.display()))?;
            total += bytes.len();
        }
        println!("fuzz/corpus/{target}: {} seeds, {total} bytes", seeds.len());
    }
    Ok(())
}

/// A group with three generations of members, and what they produced.
struct World {
    _tmp: tempfile::TempDir,
    ctx: Context,
    alice: Identity,
    bob: Identity,
    group: String,
    /// Invitations: Bob (member, from Alice), Carol (administrator, from Alice), Dave (member,
    /// from Carol: a chain of four).
    invitations: Vec<(&'static str, String)>,
}

fn name(identity: &Identity) -> String {
    identity.peer_name().to_string()
}

impl World {
    fn new() -> Result<Self> {
        let tmp = tempfile::tempdir().ctx("temporary folder")?;
        let keystore = Keystore::open(tmp.path().join("home")).ctx("keystore")?;
        let ctx = Context::with_parts(keystore, DnsConfig::default(), Arc::new(host_with_link_locals(1)));
        let create = |classifier: &str, friendly: &str, key: usize| {
            ctx.keystore().create_with_key(classifier, Some(friendly), &testing_key(key)).ctx("identity")
        };
        let (alice, bob, carol, dave) = (
            create("alice", "Alice", 0)?,
            create("bob", "Bob", 1)?,
            create("carol", "Carol", 2)?,
            create("dave", "Dave", 3)?,
        );
        let group = ctx.create_group(&name(&alice), &NewGroup::new("chat", "Chat")).ctx("create group")?.to_string();
        let memberships = MembershipStore::open(ctx.root());
        let invite = |issuer: &Identity, invitee: &Identity, role: Role| {
            let request = InvitationRequest { roles: vec![role], expiration: None };
            ctx.invite(&name(issuer), &group, &invitee.info().to_xml(), &request).ctx("invite")
        };
        let join = |joiner: &Identity, invitation: &str| -> Result {
            ctx.join(&name(joiner), invitation).ctx("join")?;
            // As if synchronised with a member (phase 2 does that): ready to write and invite.
            let group = group.parse().ctx("group peer name")?;
            memberships.mark_synchronized(joiner.peer_name(), &group).ctx("mark synchronised")?;
            Ok(())
        };
        let to_bob = invite(&alice, &bob, Role::Member)?;
        join(&bob, &to_bob)?;
        let to_carol = invite(&alice, &carol, Role::Administrator)?;
        join(&carol, &to_carol)?;
        let to_dave = invite(&carol, &dave, Role::Member)?;
        let invitations = vec![("member", to_bob), ("admin", to_carol), ("member-of-admin", to_dave)];
        Ok(Self { _tmp: tmp, ctx, alice, bob, group, invitations })
    }

    fn open(&self, identity: &Identity) -> Result<Group> {
        self.ctx.open_group_blocking(&name(identity), &self.group, None).ctx("open group")
    }
}

fn make() -> Result<Corpus> {
    let w = World::new()?;
    let mut corpus = Corpus::new();
    let chains = chains(&w)?;
    corpus.insert("net_proof", proofs(&chains)?);
    corpus.insert("chain_validate", chains);
    corpus.insert("invitation", invitations(&w)?);
    let (records, attributes, queries) = records(&w)?;
    corpus.insert("record_decode", records);
    corpus.insert("attribute_xml", attributes);
    corpus.insert("search_query", queries);
    corpus.insert("keystore_files", keystore_files(&w)?);
    corpus.insert("peer_name", peer_names(&w));
    corpus.insert("cloud_name", cloud_names()?);
    corpus.insert("dns_descriptor", dns_descriptors()?);
    let announcements = announcements(&w)?;
    corpus.insert("mdns_answer", mdns_answers(&announcements)?);
    corpus.insert("pnrp_announcement", announcements);
    corpus.insert("flood_decode", flood_messages());
    let (reconciles, stamps, items, done) = sync_messages()?;
    corpus.insert("sync_reconcile", reconciles);
    corpus.insert("sync_stamps", stamps);
    corpus.insert("sync_items", items);
    corpus.insert("sync_done", done);
    corpus.insert("signed_properties", signed_properties(&w)?);
    Ok(corpus)
}

/// The record the `signed_properties` target wraps its input in when it tries it as the data
/// of a Security Properties record (keep the two the same).
fn properties_frame(data: &[u8]) -> Result<Vec<u8>> {
    let creator = peergroup_identity::PeerName::parse("0.fuzz").ctx("peer name")?;
    Ok(Record {
        record_type: peergroup_state::SECURITY_PROPERTIES_TYPE,
        id: uuid::Uuid::nil(),
        version: 2,
        flags: 0,
        creator: creator.clone(),
        modifier: creator,
        attributes: Attributes::empty(),
        created: Timestamp::EPOCH,
        modified: Timestamp::EPOCH,
        expires: Timestamp::MAX,
        data: data.to_vec(),
        signature: Vec::new(),
    }
    .encode())
}

/// `signed_properties`: the group's properties as the creator signed them, and after a change,
/// each whole and as its record's data alone (which the target frames).
fn signed_properties(w: &World) -> Result<Seeds> {
    use peergroup_state::SyncKind;
    let group: peergroup_identity::PeerName = w.group.parse().ctx("group peer name")?;
    let db = MembershipStore::open(w.ctx.root())
        .groups(w.alice.peer_name())
        .ctx("groups")?
        .open(&group)
        .ctx("open the group database")?;
    let signed = || -> Result<Vec<u8>> {
        let items = db.sync_items(&[(SyncKind::Properties, Vec::new())]).ctx("properties item")?;
        items.into_iter().next().map(|i| i.body).ok_or_else(|| "no signed properties".to_owned())
    };
    let created = signed()?;
    w.open(&w.alice)?.set_properties("Chat room", "about things").ctx("set properties")?;
    let changed = signed()?;
    let mut seeds = Seeds::new();
    for (name, body) in [("created", created), ("changed", changed)] {
        let (record, _) = peergroup_state::decode_signed_properties(&body).ctx("signed properties")?;
        seeds.push((format!("{name}-data"), record.data));
        seeds.push((name.to_owned(), body));
    }
    Ok(seeds)
}

/// `flood_decode`: one flood message of each type, the push carrying a record-sized item.
fn flood_messages() -> Seeds {
    use peergroup_security::{VersionStamp, body_digest};
    use peergroup_sync::flood::{Announcement, Message};
    use peergroup_sync::{Item, ItemKind};
    let body = vec![0x5a; 300];
    let item = Item {
        kind: ItemKind::Record,
        id: uuid::Uuid::new_v4().as_bytes().to_vec(),
        stamp: VersionStamp {
            deleted: false,
            version: 2,
            modified_micros: 1_764_000_000_000_000,
            modifier: b"0123456789abcdef0123456789abcdef01234567.alice".to_vec(),
            digest: body_digest(&body),
        },
        body,
    };
    let announcements = (0..3).map(|hops| Announcement { entry: item.entry(), hops }).collect();
    vec![
        ("push".into(), Message::Push { item: item.clone(), hops: 2 }.encode()),
        ("ihave".into(), Message::IHave(announcements).encode()),
        ("graft".into(), Message::Graft(vec![item.entry()]).encode()),
        ("prune".into(), Message::Prune.encode()),
    ]
}

/// `chain_validate`: certificates, each behind its 16-bit big-endian length. Every chain
/// prefix of Dave's invitation: the root alone, root and administrator, ..., four certificates.
fn chains(w: &World) -> Result<Vec<(String, Vec<u8>)>> {
    let (_, to_dave) = &w.invitations[2];
    let der = w.ctx.parse_invitation(to_dave).ctx("parse invitation")?.chain.to_der();
    let labels = ["root", "root-admin", "root-admin-admin", "root-admin-admin-member"];
    let mut seeds = Vec::new();
    for (len, label) in (1..=der.len()).zip(labels) {
        let certs = &der[..len];
        validate_chain(certs, None, None).ctx("validate chain")?;
        let mut bytes = Vec::new();
        for cert in certs {
            let n = u16::try_from(cert.len()).ctx("certificate length")?;
            bytes.extend_from_slice(&n.to_be_bytes());
            bytes.extend_from_slice(cert);
        }
        seeds.push((label.to_owned(), bytes));
    }
    Ok(seeds)
}

/// `net_proof`: the membership proofs a member sends on a link, one per chain seed (the chain
/// seeds' layout, `(u16 length, DER)*`, is the proof's own after its header).
fn proofs(chains: &Seeds) -> Result<Seeds> {
    let mut seeds = Vec::new();
    for (label, bytes) in chains {
        let mut certs = Vec::new();
        let mut rest = bytes.as_slice();
        while let Some((len, tail)) = rest.split_first_chunk::<2>() {
            let cert = tail.get(..usize::from(u16::from_be_bytes(*len))).ok_or("a certificate is cut short")?;
            certs.push(cert.to_vec());
            rest = &tail[cert.len()..];
        }
        let group = validate_chain(&certs, None, None).ctx("validate chain")?.group().to_string();
        let proof = peergroup_net::MembershipProof { group, chain: certs };
        seeds.push((label.clone(), proof.encode().ok_or("a proof too large")?));
    }
    Ok(seeds)
}

/// `invitation`: each invitation as its text and as the DER inside the armor.
fn invitations(w: &World) -> Result<Vec<(String, Vec<u8>)>> {
    let mut seeds = Vec::new();
    for (label, text) in &w.invitations {
        w.ctx.parse_invitation(text).ctx("parse invitation")?;
        let base64: String = text.lines().filter(|l| !l.starts_with("-----")).collect();
        let der = base64::engine::general_purpose::STANDARD.decode(base64.trim()).ctx("invitation base64")?;
        peergroup_security::invitation::parse_der(&der).ctx("parse invitation DER")?;
        seeds.push((format!("{label}.txt"), text.clone().into_bytes()));
        seeds.push((format!("{label}.der"), der));
    }
    Ok(seeds)
}

type Seeds = Vec<(String, Vec<u8>)>;

/// `record_decode` (each record whole, and without its 6-byte header, which the target adds),
/// `attribute_xml` (their attributes as XML) and `search_query` (queries that find them).
fn records(w: &World) -> Result<(Seeds, Seeds, Seeds)> {
    let alice = w.open(&w.alice)?;
    let bob = w.open(&w.bob)?;
    let kind = uuid::Uuid::from_u128(0x5eed_0000_0000_4000_8000_0000_0000_0001);
    let expires = Timestamp::now().saturating_add(Duration::from_secs(3600));
    let when = Timestamp::from_micros(1_700_000_000_123_456);
    let attrs = |list: Vec<Attribute>| Attributes::new(list).ctx("attributes");
    let new =
        |attributes: Attributes, data: &[u8]| NewRecord { record_type: kind, attributes, expires, data: data.to_vec() };
    let full = attrs(vec![
        Attribute::string("title", "hello"),
        Attribute::int("size", 42),
        Attribute::date("when", when),
        Attribute::string("tags", "a <b> & \"c\""),
    ])?;
    let unicode = attrs(vec![Attribute::string("author", "Bøb – ünïcødé ✓"), Attribute::int("n", -7)])?;
    let mut made: Vec<(&str, Record)> = vec![
        ("typed-attributes", alice.add_record(new(full.clone(), b"hello, group")).ctx("add record")?),
        ("no-attributes", alice.add_record(new(Attributes::empty(), &[0xa5; 300])).ctx("add record")?),
        ("by-member", bob.add_record(new(unicode.clone(), "données".as_bytes())).ctx("add record")?),
    ];
    let update = RecordUpdate { attributes: attrs(vec![Attribute::int("size", 43)])?, expires, data: b"v2".to_vec() };
    made.push(("updated", alice.update_record(made[0].1.id, update).ctx("update record")?));

    let mut records = Vec::new();
    for (label, record) in &made {
        let bytes = record.encode();
        if Record::decode(&bytes).ctx("decode record")? != *record {
            return Err(format!("record {label} does not decode to itself"));
        }
        records.push((label.to_string(), bytes.clone()));
        records.push((format!("{label}-body"), bytes[6..].to_vec()));
    }

    let mut attributes = Vec::new();
    for (label, set) in [("typed", &full), ("unicode", &unicode)] {
        let xml = set.to_xml();
        if Attributes::from_xml(&xml).ctx("attribute XML")? != *set {
            return Err(format!("attributes {label} do not read back"));
        }
        attributes.push((format!("{label}.xml"), xml.into_bytes()));
    }

    let creator = name(&w.alice);
    let queries = [
        (
            "string-wildcard",
            r#"<peersearch><clause attrib="title" type="string" compare="equal">h?l*</clause></peersearch>"#.to_owned(),
        ),
        (
            "and-or",
            r#"<peersearch>
  <and>
    <clause attrib="author" type="string" compare="notequal">J*n\*</clause>
    <or>
      <clause attrib="size" type="int" compare="greater">10</clause>
      <clause attrib="when" type="date" compare="lessorequal">2024-01-01T00:00:00Z</clause>
    </or>
  </and>
</peersearch>
"#
            .to_owned(),
        ),
        (
            "reserved",
            format!(
                r#"<peersearch><or><clause attrib="peercreatorid" type="string">{creator}</clause><clause attrib="peercreationtime" type="date" compare="greaterorequal">2020-01-01</clause></or></peersearch>"#
            ),
        ),
    ];
    let mut searches = Vec::new();
    for (label, query) in queries {
        SearchQuery::parse(&query).ctx(&format!("search query {label}"))?;
        alice.search(&query).ctx(&format!("search {label}"))?;
        searches.push((format!("{label}.xml"), query.into_bytes()));
    }
    Ok((records, attributes, searches))
}

/// `keystore_files`: an identity certificate (DER), its identity XML, a private key (PKCS#8
/// DER), a public key (SPKI DER), and an identity export protected by the target's password.
///
/// The export's key block uses scrypt with N = 2 instead of the 2^17 `Keystore::export` writes
/// (the parameters are part of the file, and the importer takes them from it): the same format,
/// but each run through the key derivation costs microseconds instead of 128 MiB and a
/// noticeable fraction of a second, so fuzzing goes on at full speed past the decryption.
fn keystore_files(w: &World) -> Result<Seeds> {
    use pkcs8::der::Decode;
    use pkcs8::pkcs5::{pbes2, scrypt};

    let alice = &w.alice;
    let key = pkcs8::PrivateKeyInfoOwned::from_der(&testing_key(0)).ctx("test key")?;
    let cheap = scrypt::Params::new(1, 8, 1).ctx("scrypt parameters")?;
    let params = pbes2::Parameters::generate_scrypt_aes256cbc(cheap, &[7; 16], [9; 16]).ctx("PBES2 parameters")?;
    let encrypted = key.encrypt_with_params(params, FUZZ_PASSWORD).ctx("encrypt the key")?;
    let export = format!(
        "peergroup identity export v1\n{}{}",
        to_pem("CERTIFICATE", alice.certificate_der()),
        to_pem("ENCRYPTED PRIVATE KEY", encrypted.as_bytes())
    );
    let other = tempfile::tempdir().ctx("temporary folder")?;
    Keystore::open(other.path().join("home"))
        .ctx("keystore")?
        .import(&export, FUZZ_PASSWORD)
        .ctx("import the export")?;
    IdentityInfo::from_xml(&alice.info().to_xml()).ctx("identity XML")?;
    Ok(vec![
        ("certificate.der".into(), alice.certificate_der().to_vec()),
        ("identity.xml".into(), alice.info().to_xml().into_bytes()),
        ("private-key.der".into(), testing_key(0).to_vec()),
        ("public-key.der".into(), alice.public_key_der().to_vec()),
        ("export.txt".into(), export.into_bytes()),
    ])
}

/// `peer_name`: secure names of an identity and a group, and an unsecured name.
fn peer_names(w: &World) -> Seeds {
    vec![
        ("identity".into(), name(&w.alice).into_bytes()),
        ("group".into(), w.group.clone().into_bytes()),
        ("unsecured".into(), b"0.Unsecured Name".to_vec()),
    ]
}

/// `cloud_name`: the names of each scope, of an interface, and of DNS clouds.
fn cloud_names() -> Result<Seeds> {
    let names = [
        "Global_",
        "LinkLocal_",
        "SiteLocal_",
        "LinkLocal_eth0",
        "SiteLocal_wlan0",
        "corp.example.com",
        "chat.corp.example.",
    ];
    let mut seeds = Vec::new();
    for (i, text) in names.iter().enumerate() {
        CloudName::parse(text).ctx(&format!("cloud name {text}"))?;
        seeds.push((format!("{i}"), text.as_bytes().to_vec()));
    }
    Ok(seeds)
}

/// `pnrp_announcement`: registration TXT records (each string as a length byte and its bytes):
/// unsecured names with and without a comment, a secure name with a long proof (its strings
/// continue one another), and an unknown key.
fn announcements(w: &World) -> Result<Seeds> {
    let secure = name(&w.alice);
    let base = |peer_name: &str, comment: &str, endpoints: &[&str], proof: Vec<u8>| -> Result<Announcement> {
        Ok(Announcement {
            peer_name: peer_name.to_owned(),
            endpoints: endpoints.iter().map(|e| e.parse()).collect::<std::result::Result<_, _>>().ctx("endpoint")?,
            comment: comment.to_owned(),
            expires: 1_800_000_000,
            proof,
        })
    };
    let items = [
        ("unsecured-one-endpoint", base("0.open-name", "", &["192.0.2.10:3587"], vec![])?, None),
        (
            "unsecured-comment-two-endpoints",
            base("0.JohnDoe.Games", "hello from a", &["192.0.2.10:3587", "[2001:db8::10]:3588"], vec![])?,
            None,
        ),
        ("secure-with-proof", base(&secure, "hé", &["[2001:db8::1]:3587"], vec![7; 768])?, None),
        ("unknown-key", base("0.a", "", &["192.0.2.1:1"], vec![])?, Some("future=1")),
    ];
    let mut seeds = Vec::new();
    for (label, a, extra) in items {
        let mut strings = a.to_txt();
        strings.extend(extra.map(str::to_owned));
        let raw: Vec<Vec<u8>> = strings.iter().map(|s| s.as_bytes().to_vec()).collect();
        Announcement::parse_txt("seed TXT", &raw).ctx(&format!("announcement {label}"))?;
        let mut bytes = Vec::new();
        for s in raw {
            bytes.push(u8::try_from(s.len()).ctx("string length")?);
            bytes.extend_from_slice(&s);
        }
        seeds.push((label.to_owned(), bytes));
    }
    Ok(seeds)
}

/// `mdns_answer`: legacy unicast answers (RFC 6762 §6.7) carrying each announcement seed's
/// TXT record as the instance of one registration, the query id in the first two bytes.
fn mdns_answers(announcements: &Seeds) -> Result<Seeds> {
    const INSTANCE: &str = "pg-0123456789abcdef0123-0123456789ab._peergroup._udp.local.";
    let mut seeds = Vec::new();
    for (n, (label, bytes)) in announcements.iter().enumerate() {
        let mut strings = Vec::new();
        let mut rest = bytes.as_slice();
        while let Some((&len, tail)) = rest.split_first() {
            let s = tail.get(..usize::from(len)).ok_or("a string is cut short")?;
            strings.push(s.to_vec());
            rest = &tail[s.len()..];
        }
        let id = u16::try_from(n + 1).ctx("seed count")?;
        let answer = peergroup_pnrp::testing::legacy_answer(id, &[(INSTANCE, strings)]).ok_or("an answer")?;
        seeds.push((label.clone(), answer));
    }
    Ok(seeds)
}

/// A replicated item for the sync seeds: record `n` in version `version`.
fn sync_item(n: u32, version: u32, deleted: bool) -> Item {
    let mut body = b"PGREC\x01".to_vec();
    body.extend_from_slice(&n.to_be_bytes());
    body.extend_from_slice(&version.to_be_bytes());
    let stamp = peergroup_security::VersionStamp {
        deleted,
        version,
        modified_micros: 1_764_000_000_000_000 + i64::from(version),
        modifier: b"0123456789abcdef0123456789abcdef01234567.alice".to_vec(),
        digest: peergroup_security::body_digest(&body),
    };
    let mut id = [0u8; 16];
    id[..4].copy_from_slice(&n.to_be_bytes());
    Item { kind: ItemKind::Record, id: id.to_vec(), stamp, body }
}

/// `sync_*`: whole messages (header included; each target also tries its input behind its
/// header). `sync_reconcile`: every reconciliation message between two members holding 300
/// records with 40 differences, and between 10 and none; `sync_stamps`, `sync_items`: the
/// versions and the items of some differences; `sync_done`: the one `Done`.
fn sync_messages() -> Result<(Seeds, Seeds, Seeds, Seeds)> {
    let checked = |label: String, m: &Message| -> Result<(String, Vec<u8>)> {
        let bytes = wire::encode(m);
        wire::decode(&bytes).ctx(&format!("sync message {label}"))?;
        Ok((label, bytes))
    };
    let mut reconciles = Vec::new();
    let pairs = [
        (
            SetIndex::from_entries((0..300).map(|n| sync_item(n, 1, false).entry())),
            SetIndex::from_entries((20..320).map(|n| sync_item(n, if n % 50 == 0 { 2 } else { 1 }, false).entry())),
        ),
        (SetIndex::from_entries((0..10).map(|n| sync_item(n, 1, false).entry())), SetIndex::new()),
    ];
    for (p, (a, b)) in pairs.iter().enumerate() {
        let mut msg = reconcile::initial(a);
        let mut side_b = true;
        for step in 0.. {
            reconciles.push(checked(format!("{p}-{step}"), &Message::Reconcile(msg.clone()))?);
            match reconcile::answer(if side_b { b } else { a }, &msg).0 {
                Some(next) => msg = next,
                None => break,
            }
            side_b = !side_b;
        }
    }
    let items: Vec<Item> = vec![sync_item(1, 1, false), sync_item(2, 7, false), sync_item(3, 2, true)];
    let mut stamps: Vec<StampEntry> =
        items.iter().map(|i| StampEntry { key: i.key(), stamp: Some(i.stamp.clone()) }).collect();
    stamps.push(StampEntry { key: sync_item(4, 1, false).key(), stamp: None });
    stamps.sort_by_key(|s| s.key);
    let stamps = vec![checked("versions".into(), &Message::Stamps(stamps))?];
    let items = vec![
        checked("one".into(), &Message::Items(items[..1].to_vec()))?,
        checked("three".into(), &Message::Items(items))?,
    ];
    let done = vec![checked("done".into(), &Message::Done)?];
    Ok((reconciles, stamps, items, done))
}

/// `dns_descriptor`: descriptors in the target's byte layout (see its doc): owner selector
/// (0: `_peergroup._udp.corp.example.`; else a length-prefixed owner follows), SRV count and
/// records, TXT count and records.
fn dns_descriptors() -> Result<Seeds> {
    struct Descriptor<'a> {
        owner: Option<&'a str>,
        srv: Vec<(u16, u16, u16, &'a str)>,
        txt: Vec<Vec<&'a str>>,
        expect_found: bool,
    }
    let descriptors = [
        (
            "two-seeds-site-local",
            Descriptor {
                owner: None,
                srv: vec![(10, 60, 3587, "seed1.corp.example."), (20, 40, 3588, "seed2.corp.example.")],
                txt: vec![vec!["v=peergroup1 scope=site-local"], vec!["unrelated=text"]],
                expect_found: true,
            },
        ),
        (
            "one-seed-global",
            Descriptor {
                owner: Some("_peergroup._udp.example.org."),
                srv: vec![(0, 0, 443, "peers.example.org.")],
                txt: vec![vec!["v=peergroup1", " scope=global future=1"]],
                expect_found: true,
            },
        ),
        ("not-offered", Descriptor { owner: None, srv: vec![(0, 0, 0, ".")], txt: vec![], expect_found: false }),
    ];
    let mut seeds = Vec::new();
    for (label, d) in descriptors {
        let mut bytes = Vec::new();
        let short = |s: &str| -> Result<Vec<u8>> {
            let len = u8::try_from(s.len()).ctx("string length")?;
            Ok([&[len][..], s.as_bytes()].concat())
        };
        let count = |n: usize| u8::try_from(n).ctx("count");
        match d.owner {
            None => bytes.push(0),
            Some(owner) => {
                bytes.push(1);
                bytes.extend(short(owner)?);
            }
        }
        bytes.push(count(d.srv.len())?);
        for (priority, weight, port, target) in &d.srv {
            for n in [priority, weight, port] {
                bytes.extend_from_slice(&n.to_be_bytes());
            }
            bytes.extend(short(target)?);
        }
        bytes.push(count(d.txt.len())?);
        for strings in &d.txt {
            bytes.push(count(strings.len())?);
            for s in strings {
                bytes.extend(short(s)?);
            }
        }
        // The same check the target's parser call makes.
        let owner = d.owner.unwrap_or("_peergroup._udp.corp.example.");
        let srv: Vec<SrvRecord> = d
            .srv
            .iter()
            .map(|(priority, weight, port, target)| SrvRecord {
                priority: *priority,
                weight: *weight,
                port: *port,
                target: (*target).to_owned(),
            })
            .collect();
        let txt: Vec<Vec<Vec<u8>>> =
            d.txt.iter().map(|strings| strings.iter().map(|s| s.as_bytes().to_vec()).collect()).collect();
        match (parse_descriptor(owner, &srv, &txt), d.expect_found) {
            (DnsAnswer::Found(_), true) | (DnsAnswer::NotOffered, false) => {}
            (other, _) => return Err(format!("descriptor {label}: {other:?}")),
        }
        seeds.push((label.to_owned(), bytes));
    }
    Ok(seeds)
}

#[cfg(test)]
mod tests {
    /// The committed seeds still parse: a format change that makes them invalid shows here,
    /// and `cargo xtask corpus` writes new ones.
    #[test]
    fn committed_seeds_are_valid() {
        let n = super::check(&crate::util::root().join("fuzz/corpus")).unwrap_or_else(|e| panic!("{e}"));
        assert!(n >= 30, "only {n} seeds");
    }
}
