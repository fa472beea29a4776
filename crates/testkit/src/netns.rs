//! Network namespaces made for one test: a host whose interfaces the test chooses.

use std::ffi::OsStr;
use std::process::Command;

/// A network namespace made for one test, with `lo` up. Deleted, with its interfaces, when
/// dropped.
#[derive(Debug)]
pub struct Netns {
    name: String,
}

impl Netns {
    /// Creates a namespace named after `test` (a short label) and this process, with `lo` up.
    ///
    /// Where namespaces cannot be made (not root, no iproute2, an unprivileged user
    /// namespace), [`skip`](crate::skip)s the running test and returns `None`: outside CI the test
    /// prints `SKIPPED:` and returns (`let Some(ns) = Netns::create(..) else { return };`).
    ///
    /// # Panics
    /// Under CI when the namespace cannot be made, with the reason.
    #[track_caller]
    pub fn create(test: &str) -> Option<Self> {
        let name = format!("pg-{test}-{}", std::process::id());
        let why = match Command::new("ip").args(["netns", "add", &name]).output() {
            Ok(out) if out.status.success() => {
                let ns = Self { name };
                ns.ip(&["link", "set", "lo", "up"]);
                return Some(ns);
            }
            Ok(out) => format!("`ip netns add` failed ({})", String::from_utf8_lossy(&out.stderr).trim()),
            Err(e) => format!("cannot run `ip` ({e})"),
        };
        // The test harness names each test's thread after the test.
        let running = std::thread::current().name().unwrap_or("this test").to_owned();
        crate::skip(
            &format!("{running} (namespace {test})"),
            format_args!("{why}; network-namespace tests need root and iproute2"),
        );
        None
    }

    /// Runs `ip -n <namespace> <args>` and returns its standard output.
    ///
    /// # Panics
    /// If the command fails: a test cannot go on with a host other than the one it asked for.
    #[allow(clippy::expect_used)]
    pub fn ip(&self, args: &[&str]) -> String {
        let out = Command::new("ip").args(["-n", &self.name]).args(args).output().expect("run ip");
        assert!(out.status.success(), "ip {args:?}: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// A veth pair inside the namespace, both ends down, without automatic link-local
    /// addresses (so the addresses are exactly those the test adds).
    pub fn veth(&self, a: &str, b: &str) {
        self.ip(&["link", "add", a, "type", "veth", "peer", "name", b]);
        for end in [a, b] {
            self.ip(&["link", "set", "dev", end, "addrgenmode", "none"]);
        }
    }

    /// A veth pair between two namespaces, `a` in this one and `b` in `other`, both ends
    /// down and without automatic link-local addresses: a link between two hosts.
    pub fn veth_to(&self, other: &Netns, a: &str, b: &str) {
        self.veth(a, b);
        self.ip(&["link", "set", "dev", b, "netns", &other.name]);
        // Moving an interface resets its address generation mode.
        other.ip(&["link", "set", "dev", b, "addrgenmode", "none"]);
    }

    /// A bridge `name`, up, with no address: the switch of a link that several hosts share.
    /// Multicast snooping is off, so multicast DNS reaches every port without a querier.
    pub fn bridge(&self, name: &str) {
        self.ip(&["link", "add", name, "type", "bridge", "mcast_snooping", "0"]);
        self.ip(&["link", "set", "dev", name, "addrgenmode", "none"]);
        self.ip(&["link", "set", name, "up"]);
    }

    /// Plugs host `host` into bridge `bridge` of this namespace: a veth pair, `port` here on
    /// the bridge and `dev` in `host`, up with `addrs`. Returns nothing; [`Self::unplug`] and
    /// [`Self::plug`] partition the host and heal the partition without taking its interface
    /// down (its addresses and clouds stay; frames stop crossing the switch).
    pub fn attach(&self, bridge: &str, port: &str, host: &Netns, dev: &str, addrs: &[&str]) {
        self.veth_to(host, port, dev);
        self.plug(port, bridge);
        host.up_with(dev, addrs);
    }

    /// Puts `port` on `bridge` (up).
    pub fn plug(&self, port: &str, bridge: &str) {
        self.ip(&["link", "set", "dev", port, "master", bridge]);
        self.ip(&["link", "set", port, "up"]);
    }

    /// Takes `port` off its bridge: the host behind it is cut off, its carrier still up.
    pub fn unplug(&self, port: &str) {
        self.ip(&["link", "set", "dev", port, "nomaster"]);
    }

    /// Takes `dev` down.
    pub fn down(&self, dev: &str) {
        self.ip(&["link", "set", dev, "down"]);
    }

    /// Adds `addrs` (with `nodad`, usable at once) to `dev` and brings it up.
    pub fn up_with(&self, dev: &str, addrs: &[&str]) {
        for addr in addrs {
            self.ip(&["addr", "add", addr, "dev", dev, "nodad"]);
        }
        self.ip(&["link", "set", dev, "up"]);
    }

    /// A veth pair whose ends are both up with one link-local address each: a host with two
    /// link-local interfaces.
    pub fn link_locals(&self, a: &str, b: &str) {
        self.veth(a, b);
        self.up_with(a, &["fe80::a/64"]);
        self.up_with(b, &["fe80::b/64"]);
    }

    /// The interface index of `dev` in the namespace.
    ///
    /// # Panics
    /// If `ip` prints something else than an interface line.
    #[allow(clippy::expect_used)]
    pub fn index(&self, dev: &str) -> u64 {
        let line = self.ip(&["-o", "link", "show", "dev", dev]);
        line.split(':').next().and_then(|i| i.trim().parse().ok()).expect("interface index")
    }

    /// Moves the calling thread into the namespace: sockets it creates from now on belong to
    /// the namespace (and stay there, whichever thread uses them later). For a benchmark or a
    /// test that puts two endpoints of one process on two hosts; the thread should end after.
    ///
    /// # Errors
    /// When the namespace's file cannot be opened or `setns` refuses (not root).
    pub fn enter(&self) -> std::io::Result<()> {
        use std::os::fd::AsRawFd as _;
        let file = std::fs::File::open(format!("/var/run/netns/{}", self.name))?;
        // SAFETY: `setns` reads a file descriptor that `file` keeps open for the call, and
        // changes only this thread's network namespace.
        let done = unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) };
        if done == 0 { Ok(()) } else { Err(std::io::Error::last_os_error()) }
    }

    /// A command that runs `program` inside the namespace.
    pub fn command(&self, program: impl AsRef<OsStr>) -> Command {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", &self.name]).arg(program);
        c
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["netns", "del", &self.name]).status();
    }
}
