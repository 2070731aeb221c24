//! A real PostgreSQL cluster for tests: [`cluster`] starts one per test process
//! (initdb in a temporary folder, a free port on 127.0.0.1, its socket in that
//! folder) and [`Cluster::database`] gives each test a fresh database. A test
//! that stops and starts PostgreSQL ([`Cluster::stop`], [`Cluster::start`])
//! takes a cluster of its own ([`own`]), so the others' go on undisturbed.
//!
//! Nothing is mocked and nothing is skipped: when PostgreSQL's programs are
//! missing, the test fails and says how to install them (`./scripts/test`
//! does). Set `CAHIER_PG_BIN` to the folder holding `initdb` and `postgres`
//! to choose a version; by default the newest under `/usr/lib/postgresql`.
//!
//! initdb refuses to run as root (CI does), so as root the cluster runs as
//! the `postgres` system user. The cluster is stopped, and its folder
//! removed, when the test process exits, however it exits (or when an
//! [`own`] cluster is dropped): a small shell keeps it, reading the test
//! process's end of a pipe, and shuts it down when that pipe closes.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

/// How long the cluster may take to accept connections.
const START_TIMEOUT: Duration = Duration::from_secs(60);

pub struct Cluster {
    pub port: u16,
    /// The folder holding the data directory, the socket and the log.
    pub dir: PathBuf,
    bin: PathBuf,
    /// Whether its programs run as the `postgres` user (we are root).
    root: bool,
    /// The keeper shell; its stdin is our end of the pipe (never written).
    keeper: std::sync::Mutex<Child>,
}

/// The test process's cluster, started on first use.
pub fn cluster() -> &'static Cluster {
    static CLUSTER: OnceLock<Cluster> = OnceLock::new();
    CLUSTER.get_or_init(start)
}

/// A cluster of this caller's own, for a test that stops and starts it;
/// stopped and removed when dropped.
pub fn own() -> Cluster {
    start()
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let keeper = self.keeper.get_mut().unwrap_or_else(std::sync::PoisonError::into_inner);
        drop(keeper.stdin.take());
        let _ = keeper.wait();
    }
}

impl Cluster {
    /// Creates an empty database of its own and returns its URL
    /// (`postgres://postgres@127.0.0.1:PORT/NAME`).
    pub fn database(&self) -> String {
        static N: AtomicU32 = AtomicU32::new(0);
        let name = format!("t{}_{}", std::process::id(), N.fetch_add(1, Ordering::SeqCst));
        let out = Command::new(self.bin.join("createdb"))
            .args(["-h", "127.0.0.1", "-p", &self.port.to_string(), "-U", "postgres", &name])
            .output()
            .expect("run createdb");
        assert!(out.status.success(), "createdb {name} failed: {}", String::from_utf8_lossy(&out.stderr));
        self.url(&name)
    }

    pub fn url(&self, database: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{database}", self.port)
    }

    /// Runs SQL in `database` with psql, as the superuser; returns its
    /// unaligned output.
    pub fn sql(&self, database: &str, sql: &str) -> String {
        let out = Command::new(self.bin.join("psql"))
            .args(["-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-h", "127.0.0.1", "-p", &self.port.to_string()])
            .args(["-U", "postgres", "-d", database, "-c", sql])
            .output()
            .expect("run psql");
        assert!(out.status.success(), "psql {sql:?} failed: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    }

    /// Stops PostgreSQL (`pg_ctl stop -m MODE`: `fast` or `immediate`, which
    /// is a crash: recovery replays the log at the next start) and returns
    /// once it no longer runs.
    pub fn stop(&self, mode: &str) {
        let out = as_owner(self.root, path_str(&self.bin.join("pg_ctl")))
            .args(["-D", path_str(&self.dir.join("data")), "-m", mode, "-w", "-s", "stop"])
            .output()
            .expect("run pg_ctl stop");
        assert!(out.status.success(), "pg_ctl stop failed: {}{}", String::from_utf8_lossy(&out.stderr), self.log());
    }

    /// Starts PostgreSQL again on the same folder and port; returns once it
    /// accepts connections.
    pub fn start(&self) {
        let out = as_owner(self.root, path_str(&self.bin.join("pg_ctl")))
            .args(["-D", path_str(&self.dir.join("data")), "-l", path_str(&self.dir.join("log")), "-w", "-s", "-t", "60"])
            .args(["-o", &server_options(self.port, &self.dir), "start"])
            .stdout(Stdio::null())
            .output()
            .expect("run pg_ctl start");
        assert!(out.status.success(), "pg_ctl start failed: {}{}", String::from_utf8_lossy(&out.stderr), self.log());
    }

    /// The server's log so far, for failure messages.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("log")).unwrap_or_default()
    }
}

/// The database name in a URL [`Cluster::database`] gave.
pub fn database_name(url: &str) -> &str {
    url.rsplit('/').next().unwrap_or(url)
}

/// The folder of PostgreSQL's server programs.
fn bin_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("CAHIER_PG_BIN") {
        let dir = PathBuf::from(dir);
        assert!(dir.join("initdb").exists(), "CAHIER_PG_BIN is {}, which holds no initdb", dir.display());
        return dir;
    }
    let mut found: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let version = e.file_name().to_str()?.parse().ok()?;
            let bin = e.path().join("bin");
            bin.join("initdb").exists().then_some((version, bin))
        })
        .collect();
    found.sort();
    match found.pop() {
        Some((_, bin)) => bin,
        None => panic!(
            "PostgreSQL is not installed: no /usr/lib/postgresql/*/bin/initdb. These tests run against a real \
             PostgreSQL; install Debian's `postgresql` package (./scripts/test does), or set CAHIER_PG_BIN to \
             the folder holding initdb and postgres"
        ),
    }
}

fn is_root() -> bool {
    let out = Command::new("id").arg("-u").output().expect("run id -u");
    String::from_utf8_lossy(&out.stdout).trim() == "0"
}

/// `id -u postgres` and `id -g postgres`.
fn postgres_user() -> (u32, u32) {
    let id = |flag: &str| -> u32 {
        let out = Command::new("id").args([flag, "postgres"]).output().expect("run id");
        assert!(
            out.status.success(),
            "running as root, the test cluster needs the `postgres` system user (Debian's postgresql package makes it)"
        );
        String::from_utf8_lossy(&out.stdout).trim().parse().expect("a numeric id")
    };
    (id("-u"), id("-g"))
}

/// A command run as the cluster's owner: ourselves, or `postgres` when we are root.
fn as_owner(root: bool, program: &str) -> Command {
    if root {
        let mut c = Command::new("runuser");
        c.args(["-u", "postgres", "--", program]);
        c
    } else {
        Command::new(program)
    }
}

fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a free port");
    l.local_addr().expect("local address").port()
}

fn start() -> Cluster {
    let bin = bin_dir();
    let root = is_root();
    let dir = tempfile::Builder::new().prefix("cahier-pg-").tempdir().expect("temporary folder").keep();
    if root {
        let (uid, gid) = postgres_user();
        std::os::unix::fs::chown(&dir, Some(uid), Some(gid)).expect("give the cluster's folder to postgres");
    }
    let data = dir.join("data");
    let initdb = bin.join("initdb");
    let out = as_owner(root, path_str(&initdb))
        .args(["-D", path_str(&data), "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-locale", "--no-sync"])
        .output()
        .expect("run initdb");
    assert!(out.status.success(), "initdb failed: {}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));

    let port = free_port();
    // The keeper: starts the server, waits for its stdin to close (our
    // process ended, or the cluster was dropped), then stops the server
    // (whichever runs on the folder: a test may have restarted it) and
    // removes the folder.
    let script = r#"
        "$1/pg_ctl" -D "$2/data" -l "$2/log" -s -w -t 60 -o "$3" start >/dev/null || exit 1
        cat >/dev/null
        "$1/pg_ctl" -D "$2/data" -m fast -s -w stop
        rm -rf "$2"
    "#;
    let keeper = as_owner(root, "sh")
        .args(["-c", script, "keeper", path_str(&bin), path_str(&dir), &server_options(port, &dir)])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start the cluster's keeper");
    let mut cluster = Cluster { port, dir, bin, root, keeper: std::sync::Mutex::new(keeper) };
    wait_ready(&mut cluster);
    cluster
}

fn wait_ready(cluster: &mut Cluster) {
    let deadline = Instant::now() + START_TIMEOUT;
    loop {
        let ready = Command::new(cluster.bin.join("pg_isready"))
            .args(["-q", "-h", "127.0.0.1", "-p", &cluster.port.to_string()])
            .status()
            .is_ok_and(|s| s.success());
        if ready {
            return;
        }
        let exited = cluster.keeper.get_mut().map(|k| k.try_wait().ok().flatten().is_some()).unwrap_or(true);
        let log = || {
            let mut s = String::new();
            let _ = std::fs::File::open(cluster.dir.join("log")).and_then(|mut f| f.read_to_string(&mut s));
            s
        };
        assert!(!exited, "the test cluster stopped while starting:\n{}", log());
        assert!(Instant::now() < deadline, "the test cluster did not accept connections within {START_TIMEOUT:?}:\n{}", log());
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The server's options: its port, on loopback, its socket in `dir`.
fn server_options(port: u16, dir: &Path) -> String {
    format!("-p {port} -h 127.0.0.1 -k {} -c max_connections=200", path_str(dir))
}

fn path_str(p: &Path) -> &str {
    p.to_str().expect("a UTF-8 path")
}
