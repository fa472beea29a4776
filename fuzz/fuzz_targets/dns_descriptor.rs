//! The DNS descriptor parser over arbitrary SRV and TXT records: a cloud that keeps the
//! format's promises, "not offered", or a malformed error naming the record; never a panic.
//!
//! Input layout: owner length, owner bytes, SRV count, then per SRV priority/weight/port
//! (2 bytes each), target length and bytes; TXT count, then per TXT string count and, per
//! string, length and bytes. Missing bytes read as zero.
#![no_main]
use libfuzzer_sys::fuzz_target;
use peergroup_pnrp::{DnsAnswer, Scope, SrvRecord, parse_descriptor};

struct Input<'a>(&'a [u8]);

impl Input<'_> {
    fn byte(&mut self) -> u8 {
        let (first, rest) = self.0.split_first().map_or((0, &[][..]), |(f, r)| (*f, r));
        self.0 = rest;
        first
    }
    fn u16(&mut self) -> u16 {
        u16::from_be_bytes([self.byte(), self.byte()])
    }
    fn bytes(&mut self) -> Vec<u8> {
        let len = usize::from(self.byte()).min(self.0.len());
        let (taken, rest) = self.0.split_at(len);
        self.0 = rest;
        taken.to_vec()
    }
    fn text(&mut self) -> String {
        String::from_utf8_lossy(&self.bytes()).into_owned()
    }
}

fuzz_target!(|data: &[u8]| {
    let mut input = Input(data);
    let owner = match input.byte() % 4 {
        0 => "_peergroup._udp.corp.example.".to_owned(),
        _ => input.text(),
    };
    let srv: Vec<SrvRecord> = (0..input.byte() % 40)
        .map(|_| SrvRecord { priority: input.u16(), weight: input.u16(), port: input.u16(), target: input.text() })
        .collect();
    let txt: Vec<Vec<Vec<u8>>> =
        (0..input.byte() % 20).map(|_| (0..input.byte() % 4).map(|_| input.bytes()).collect()).collect();
    match parse_descriptor(&owner, &srv, &txt) {
        DnsAnswer::Found(cloud) => {
            assert!(!cloud.seeds.is_empty() && cloud.seeds.len() <= srv.len());
            assert!(cloud.seeds.iter().all(|s| s.port != 0 && s.target.ends_with('.')));
            assert!(cloud.name.is_absolute());
            assert_ne!(cloud.scope, Scope::LinkLocal);
        }
        DnsAnswer::NotOffered => assert_eq!(srv.len(), 1),
        DnsAnswer::Malformed { record, .. } => {
            assert!(record.starts_with(&owner) && (record.ends_with(" SRV") || record.ends_with(" TXT")));
        }
        other => panic!("the parser never says {other:?}"),
    }
});
