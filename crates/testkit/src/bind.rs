//! A BIND 9 primary (`named` from Debian's `bind9`) started for one test: one zone on
//! 127.0.0.1 at a free port, a TSIG key from `tsig-keygen`, and `update-policy { grant KEY
//! zonesub ANY; }`. Ready when `named -g` logs `running` (no fixed sleep); killed when dropped.

use std::io::{BufRead, BufReader};
use std::net::{SocketAddr, TcpListener, UdpSocket};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// How long `named` may take to load its zone and say `running`.
const START_TIMEOUT: Duration = Duration::from_secs(30);

/// The name of the TSIG key every [`Bind`] grants updates to.
pub const BIND_KEY_NAME: &str = "pg-update";

/// A running `named` serving one zone. Killed, and its folder removed, when dropped.
#[derive(Debug)]
pub struct Bind {
    child: Child,
    dir: PathBuf,
    addr: SocketAddr,
    zone: String,
    secret: String,
    log: Arc<Mutex<Vec<String>>>,
}

/// Whether `named`, `tsig-keygen` and `dig` are installed (`apt-get install bind9 bind9-dnsutils`).
pub fn has_bind() -> bool {
    which("named") && which("tsig-keygen") && crate::has_tool("dig", "-v")
}

fn which(program: &str) -> bool {
    std::env::var_os("PATH").is_some_and(|path| std::env::split_paths(&path).any(|dir| dir.join(program).is_file()))
        || ["/usr/sbin", "/sbin"].iter().any(|d| std::path::Path::new(d).join(program).is_file())
}

/// A port free on 127.0.0.1 for both UDP and TCP (free when asked: `named` binds it next).
fn free_port() -> std::io::Result<u16> {
    for _ in 0..20 {
        let udp = UdpSocket::bind("127.0.0.1:0")?;
        let port = udp.local_addr()?.port();
        if TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return Ok(port);
        }
    }
    Err(std::io::Error::other("no port free for both UDP and TCP"))
}

fn generate_secret() -> std::io::Result<String> {
    let out = Command::new("tsig-keygen").args(["-a", "hmac-sha256", BIND_KEY_NAME]).output()?;
    if !out.status.success() {
        return Err(std::io::Error::other(format!("tsig-keygen: {}", String::from_utf8_lossy(&out.stderr))));
    }
    let text = String::from_utf8_lossy(&out.stdout);
    text.lines()
        .find_map(|l| l.trim().strip_prefix("secret \"").and_then(|s| s.strip_suffix("\";")).map(str::to_owned))
        .ok_or_else(|| std::io::Error::other(format!("no secret in tsig-keygen's output: {text}")))
}

impl Bind {
    /// Starts `named` for `zone` (for example `corp.example`) with an SOA and NS, and waits
    /// until it runs. Errors say what failed, with named's log.
    pub fn start(zone: &str) -> std::io::Result<Self> {
        let dir = std::env::temp_dir().join(format!("pg-bind-{}-{}", std::process::id(), unique()));
        std::fs::create_dir_all(&dir)?;
        let secret = generate_secret()?;
        let zone_file = dir.join("zone.db");
        std::fs::write(
            &zone_file,
            format!(
                "$TTL 300\n@ IN SOA ns.{zone}. admin.{zone}. 1 3600 600 86400 60\n@ IN NS ns.{zone}.\nns IN A 127.0.0.1\n"
            ),
        )?;
        let mut last = None;
        // The port is free when asked; another process may take it first: try a few.
        for _ in 0..3 {
            let port = free_port()?;
            let conf = dir.join("named.conf");
            let d = dir.display();
            std::fs::write(
                &conf,
                format!(
                    "options {{\n  directory \"{d}\";\n  pid-file \"{d}/named.pid\";\n  session-keyfile \"{d}/session.key\";\n  \
                     managed-keys-directory \"{d}\";\n  listen-on port {port} {{ 127.0.0.1; }};\n  listen-on-v6 {{ none; }};\n  \
                     recursion no;\n  dnssec-validation no;\n  notify no;\n  allow-query {{ any; }};\n}};\n\
                     controls {{ }};\n\
                     key \"{BIND_KEY_NAME}\" {{ algorithm hmac-sha256; secret \"{secret}\"; }};\n\
                     zone \"{zone}\" {{ type primary; file \"{}\"; update-policy {{ grant {BIND_KEY_NAME} zonesub ANY; }}; }};\n",
                    zone_file.display()
                ),
            )?;
            match Self::spawn(&dir, &conf) {
                Ok((child, log)) => {
                    return Ok(Self {
                        child,
                        dir,
                        addr: SocketAddr::from(([127, 0, 0, 1], port)),
                        zone: zone.to_owned(),
                        secret,
                        log,
                    });
                }
                Err(e) => last = Some(e),
            }
        }
        let _ = std::fs::remove_dir_all(&dir);
        Err(last.unwrap_or_else(|| std::io::Error::other("named did not start")))
    }

    fn spawn(dir: &std::path::Path, conf: &std::path::Path) -> std::io::Result<(Child, Arc<Mutex<Vec<String>>>)> {
        let mut child = Command::new(named_path())
            .arg("-g")
            .arg("-c")
            .arg(conf)
            .current_dir(dir)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()?;
        let log = Arc::new(Mutex::new(Vec::new()));
        let (tx, rx) = mpsc::channel();
        let stderr = child.stderr.take().ok_or_else(|| std::io::Error::other("no stderr"))?;
        let lines = log.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if line.ends_with(" running") {
                    let _ = tx.send(true);
                }
                if line.contains("exiting (due to fatal error)") {
                    let _ = tx.send(false);
                }
                lines.lock().unwrap_or_else(std::sync::PoisonError::into_inner).push(line);
            }
            let _ = tx.send(false);
        });
        match rx.recv_timeout(START_TIMEOUT) {
            Ok(true) => Ok((child, log)),
            other => {
                let _ = child.kill();
                let _ = child.wait();
                let text = log.lock().unwrap_or_else(std::sync::PoisonError::into_inner).join("\n");
                let why = if other.is_err() { "did not say running in time" } else { "stopped" };
                Err(std::io::Error::other(format!("named {why}:\n{text}")))
            }
        }
    }

    /// Its address (UDP and TCP).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The zone it serves, without a final dot.
    pub fn zone(&self) -> &str {
        &self.zone
    }

    /// The key's secret, base64, as in `named.conf`.
    pub fn secret(&self) -> &str {
        &self.secret
    }

    /// What `named` logged so far.
    pub fn log(&self) -> String {
        self.log.lock().unwrap_or_else(std::sync::PoisonError::into_inner).join("\n")
    }

    /// Runs `script` through `nsupdate`, signed with this server's key. Panics when nsupdate
    /// cannot run or refuses the update: the test cannot go on without it.
    #[allow(clippy::expect_used)]
    pub fn nsupdate(&self, script: &str) {
        use std::io::Write as _;
        let mut child = Command::new("nsupdate")
            .args(["-y", &format!("hmac-sha256:{BIND_KEY_NAME}:{}", self.secret)])
            .stdin(std::process::Stdio::piped())
            .spawn()
            .expect("run nsupdate");
        let mut stdin = child.stdin.take().expect("nsupdate's standard input");
        stdin.write_all(script.as_bytes()).expect("write to nsupdate");
        drop(stdin);
        assert!(child.wait().expect("wait for nsupdate").success(), "nsupdate refused:\n{script}");
    }

    /// Publishes the descriptor of the cloud named by the zone (its `_peergroup._udp` SRV
    /// record), so that the zone's name resolves to one cloud.
    pub fn add_cloud_descriptor(&self) {
        let zone = &self.zone;
        self.nsupdate(&format!(
            "server 127.0.0.1 {}\nzone {zone}\nupdate add _peergroup._udp.{zone}. 300 SRV 0 0 3587 seed.{zone}.\nsend\n",
            self.addr.port()
        ));
    }

    /// `dig +short <name> <type>` against this server (TCP, so answers are never cut), its
    /// lines sorted. Panics when dig cannot run: the test cannot check anything without it.
    #[allow(clippy::expect_used)]
    pub fn dig(&self, name: &str, rtype: &str) -> Vec<String> {
        let out = Command::new("dig")
            .args([
                "+short",
                "+tcp",
                "+time=2",
                "+tries=1",
                "-p",
                &self.addr.port().to_string(),
                "@127.0.0.1",
                name,
                rtype,
            ])
            .output()
            .expect("run dig");
        assert!(out.status.success(), "dig {name} {rtype}: {}", String::from_utf8_lossy(&out.stderr));
        let mut lines: Vec<String> = String::from_utf8_lossy(&out.stdout).lines().map(str::to_owned).collect();
        lines.sort();
        lines
    }
}

/// `named` on the PATH, else in `/usr/sbin` (not on a normal user's PATH).
fn named_path() -> PathBuf {
    let on_path = std::env::var_os("PATH")
        .and_then(|path| std::env::split_paths(&path).map(|d| d.join("named")).find(|p| p.is_file()));
    on_path.unwrap_or_else(|| PathBuf::from("/usr/sbin/named"))
}

fn unique() -> u64 {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
}

impl Drop for Bind {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
