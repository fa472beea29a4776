//! Events between processes: a status written by another process, and that process's death,
//! reach every handle as `STATUS_CHANGED`; a process that fell behind the pruned change feed
//! gets a resync. The other processes are this test binary run again on `child_process`
//! (ignored in a normal run: it is no test of its own).

#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests fail loudly on any unexpected error.

use std::io::{BufRead, BufReader, Lines};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdout, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use peergroup::DnsConfig;
use peergroup::testing::host_with_link_locals;
use peergroup::{
    Attributes, Context, Event, EventStream, EventType, GroupStatus, NewGroup, NewRecord, PEER_GROUP_STATUS_LISTENING,
    Timestamp, testing_key,
};

const WAIT: Duration = Duration::from_secs(20);
const CHILD_ENV: &str = "PEERGROUP_TEST_EVENTS_CHILD";

fn context(root: &Path) -> Context {
    Context::with_parts(
        peergroup::Keystore::open(root).unwrap(),
        DnsConfig::default(),
        Arc::new(host_with_link_locals(1)),
    )
}

struct World {
    _tmp: tempfile::TempDir,
    root: PathBuf,
    ctx: Context,
    alice: String,
    group: String,
}

impl World {
    fn new() -> Self {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().join("home");
        let ctx = context(&root);
        let alice = ctx.keystore().create_with_key("alice", Some("Alice"), &testing_key(0)).unwrap();
        let alice = alice.peer_name().to_string();
        let group = ctx.create_group(&alice, &NewGroup::new("chat", "Chat")).unwrap().to_string();
        Self { _tmp: tmp, root, ctx, alice, group }
    }

    fn open(&self) -> peergroup::Group {
        self.ctx.open_group_blocking(&self.alice, &self.group, None).unwrap()
    }

    /// This binary again, running [`child_process`] in `mode` on this world's group.
    fn spawn(&self, mode: &str) -> (Child, Lines<BufReader<ChildStdout>>) {
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args(["--exact", "child_process", "--ignored", "--nocapture", "--test-threads=1"])
            .env(CHILD_ENV, format!("{mode}|{}|{}|{}", self.root.display(), self.alice, self.group))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        assert_eq!(next_line(&mut lines), "ready");
        (child, lines)
    }
}

/// The child's next line of its own (the test harness prints text of its own too, and its
/// `test child_process ... ` shares a line with the child's first).
fn next_line(lines: &mut Lines<BufReader<ChildStdout>>) -> String {
    for line in lines.by_ref() {
        if let Some((_, mine)) = line.unwrap().split_once("child: ") {
            return mine.to_owned();
        }
    }
    panic!("the child ended without saying more");
}

fn record(text: &str) -> NewRecord {
    NewRecord {
        record_type: uuid::Uuid::from_u128(42),
        attributes: Attributes::empty(),
        expires: Timestamp::now().saturating_add(Duration::from_secs(600)),
        data: text.as_bytes().to_vec(),
    }
}

fn signal(child: &Child, signal: libc::c_int) {
    let pid = libc::pid_t::try_from(child.id()).unwrap();
    // SAFETY: sends a signal to our own child.
    assert_eq!(unsafe { libc::kill(pid, signal) }, 0);
}

#[track_caller]
fn expect_event(stream: &mut EventStream, want: &Event) {
    match stream.recv_timeout(WAIT).unwrap() {
        Some(got) => assert_eq!(&got, want),
        None => panic!("no {want:?} within {WAIT:?}"),
    }
}

/// Not a test: the other process of the tests below, started by them with [`CHILD_ENV`] set.
/// `presence`: takes the group's presence and waits to be killed. `follower`: registers for
/// every event and prints each one.
#[test]
#[ignore = "the child process of the tests in this file, run by them"]
fn child_process() {
    let spec = std::env::var(CHILD_ENV).expect("run by the tests of this file only, with PEERGROUP_TEST_EVENTS_CHILD");
    let parts: Vec<&str> = spec.split('|').collect();
    let [mode, root, alice, group] = parts[..] else { panic!("bad spec {spec}") };
    let ctx = context(Path::new(root));
    let g = ctx.open_group_blocking(alice, group, None).unwrap();
    match mode {
        "presence" => {
            g.publish_status(&GroupStatus { listening: true, connections: 0, presence_pid: None }).unwrap();
            println!("child: ready");
            // Holds the presence until killed (or until the parent closes our input).
            let _ = std::io::stdin().read_line(&mut String::new());
        }
        "follower" => {
            let mut events = g.events(&[]).unwrap();
            println!("child: ready");
            while let Some(event) = events.recv_timeout(WAIT).unwrap() {
                let text = match event {
                    Event::Resync => "resync".to_owned(),
                    Event::RecordChanged { .. } => "record".to_owned(),
                    other => format!("other {other:?}"),
                };
                println!("child: {text}");
            }
        }
        other => panic!("unknown mode {other}"),
    }
}

#[test]
fn a_status_written_by_another_process_and_its_death_reach_every_handle() {
    let w = World::new();
    let handles: Vec<_> = (0..3).map(|_| w.open()).collect();
    let mut streams: Vec<EventStream> =
        handles.iter().flat_map(|h| [h.events(&[EventType::StatusChanged]).unwrap(), h.events(&[]).unwrap()]).collect();
    let (mut child, _lines) = w.spawn("presence");
    let online = Event::StatusChanged { status: PEER_GROUP_STATUS_LISTENING, deleted: false };
    for stream in &mut streams {
        expect_event(stream, &online);
    }
    for h in &handles {
        let status = h.status().unwrap();
        assert!(status.listening);
        assert_eq!(status.presence_pid, Some(child.id()));
    }
    // Killed outright: nothing is written, the kernel drops its lock.
    signal(&child, libc::SIGKILL);
    child.wait().unwrap();
    let offline = Event::StatusChanged { status: 0, deleted: false };
    for stream in &mut streams {
        expect_event(stream, &offline);
    }
    for h in &handles {
        assert_eq!(h.status().unwrap(), GroupStatus::OFFLINE);
    }
    // And this process may take the presence now.
    handles[0].publish_status(&GroupStatus { listening: true, connections: 0, presence_pid: None }).unwrap();
    for stream in &mut streams {
        expect_event(stream, &online);
    }
}

#[test]
fn a_process_that_fell_behind_the_pruned_feed_gets_a_resync() {
    let w = World::new();
    let (mut child, mut lines) = w.spawn("follower");
    // Stopped: its reader cannot read while we write and prune.
    signal(&child, libc::SIGSTOP);
    let pid = libc::pid_t::try_from(child.id()).unwrap();
    let mut wstatus = 0;
    // SAFETY: waits for our own child to report that it stopped.
    assert_eq!(unsafe { libc::waitpid(pid, &mut wstatus, libc::WUNTRACED) }, pid);
    assert!(libc::WIFSTOPPED(wstatus));
    let g = w.open();
    for i in 0..5 {
        g.add_record(record(&format!("while stopped {i}"))).unwrap();
    }
    let keystore = peergroup::Keystore::open(&w.root).unwrap();
    let alice = peergroup::PeerName::parse(&w.alice).unwrap();
    let store = peergroup_state::MembershipStore::for_keystore(&keystore).groups(&alice).unwrap();
    store.open(&peergroup::PeerName::parse(&w.group).unwrap()).unwrap().prune_feed(1).unwrap();
    signal(&child, libc::SIGCONT);
    assert_eq!(next_line(&mut lines), "resync", "four changes were pruned before the follower read them");
    assert_eq!(next_line(&mut lines), "record", "then the change that was kept");
    g.add_record(record("after")).unwrap();
    assert_eq!(next_line(&mut lines), "record", "and it follows on as usual");
    signal(&child, libc::SIGKILL);
    child.wait().unwrap();
}

#[test]
fn closing_the_last_handle_ends_the_registrations_and_a_new_handle_starts_again() {
    let w = World::new();
    let a = w.open();
    let b = w.open();
    let mut on_a = a.events(&[]).unwrap();
    drop(a);
    b.add_record(record("b still open")).unwrap();
    assert!(matches!(on_a.recv_timeout(WAIT).unwrap(), Some(Event::RecordChanged { .. })));
    drop(b);
    assert_eq!(on_a.recv_timeout(WAIT).unwrap(), None);
    assert!(on_a.is_ended());
    let c = w.open();
    let mut on_c = c.events(&[EventType::RecordChanged]).unwrap();
    let added = c.add_record(record("c")).unwrap();
    match on_c.recv_timeout(WAIT).unwrap() {
        Some(Event::RecordChanged { id, .. }) => assert_eq!(id, added.id),
        other => panic!("{other:?}"),
    }
}
