//! Test support only (never a dependency of the binary): a throwaway PostgreSQL cluster that a
//! test owns — so it can stop, restart and crash it, read its data directory, or turn TLS on
//! — and a test certificate authority for the TLS tests.
//!
//! Everything here fails loudly: a test that cannot set up its cluster panics with the reason,
//! it never skips. PostgreSQL refuses to run as root, so when the tests run as root (CI) the
//! cluster runs as the `postgres` user through `runuser`; its directory is owned by that user.
//! Binaries come from `PG_BIN`, else the newest `/usr/lib/postgresql/*/bin`.
#![forbid(unsafe_code)]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// A PostgreSQL cluster in a temporary directory, listening on 127.0.0.1 and on a Unix socket
/// in its own directory, with `trust` authentication for the `postgres` role. Stopped
/// (immediately) and deleted on drop.
pub struct Cluster {
    root: tempfile::TempDir,
    port: u16,
    bin: PathBuf,
    as_postgres: bool,
}

/// TLS files for a cluster: a CA, and a server certificate it signed.
pub struct TestCa {
    /// The CA certificate (PEM): what a client trusts.
    pub ca_pem: String,
    /// The server certificate (PEM), valid for the names given to [`TestCa::new`].
    pub server_cert_pem: String,
    /// The server's private key (PEM).
    pub server_key_pem: String,
}

impl TestCa {
    /// A fresh CA and a server certificate for `names` (DNS names or IP addresses).
    pub fn new(names: &[&str]) -> Self {
        use rcgen::{
            BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair,
            KeyUsagePurpose,
        };
        let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        // A name of its own, as two real CAs have: a certificate of another CA is then an
        // unknown issuer, not a bad signature.
        static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let name = format!("Privet test CA {} {n}", std::process::id());
        ca.distinguished_name.push(DnType::CommonName, name);
        ca.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let ca = CertifiedIssuer::self_signed(ca, KeyPair::generate().unwrap()).unwrap();
        let names: Vec<String> = names.iter().map(|n| (*n).to_owned()).collect();
        let mut server = CertificateParams::new(names).unwrap();
        server
            .distinguished_name
            .push(DnType::CommonName, "privet test server");
        let key = KeyPair::generate().unwrap();
        let cert = server.signed_by(&key, &ca).unwrap();
        Self {
            ca_pem: ca.pem(),
            server_cert_pem: cert.pem(),
            server_key_pem: key.serialize_pem(),
        }
    }
}

impl Cluster {
    /// Creates and starts a cluster without TLS.
    pub fn start() -> Self {
        Self::create(None)
    }

    /// Creates and starts a cluster that accepts TCP connections only over TLS (with the
    /// server certificate of `ca`); plain TCP connections are rejected by `pg_hba.conf`.
    pub fn start_with_tls(ca: &TestCa) -> Self {
        Self::create(Some(ca))
    }

    fn create(tls: Option<&TestCa>) -> Self {
        let bin = pg_bin();
        let as_postgres = running_as_root();
        // As root, the cluster's user must be able to reach the directory: /tmp rather than a
        // $TMPDIR that may sit under root's home.
        let parent = if as_postgres {
            PathBuf::from("/tmp")
        } else {
            std::env::temp_dir()
        };
        let root = tempfile::Builder::new()
            .prefix("privet-pg-")
            .tempdir_in(parent)
            .unwrap();
        let port = free_port();
        let cluster = Self {
            root,
            port,
            bin,
            as_postgres,
        };
        std::fs::create_dir(cluster.socket_dir()).unwrap();
        cluster.chown(cluster.root.path());
        cluster.check(
            cluster.pg("initdb").args([
                "--no-sync",
                "--auth=trust",
                "--username=postgres",
                "--encoding=UTF8",
                "--locale=C",
                "-D",
            ]),
            "initdb",
        );
        let data = cluster.data_dir();
        let mut conf = format!(
            "\nlisten_addresses = '127.0.0.1'\nport = {port}\nunix_socket_directories = '{}'\n\
             max_connections = 60\nshared_buffers = 16MB\nfsync = off\nfull_page_writes = off\n",
            cluster.socket_dir().display()
        );
        let mut hba = String::from("local all all trust\n");
        if let Some(ca) = tls {
            write_private(&data.join("server.crt"), &ca.server_cert_pem);
            write_private(&data.join("server.key"), &ca.server_key_pem);
            cluster.chown(&data);
            conf.push_str("ssl = on\nssl_cert_file = 'server.crt'\nssl_key_file = 'server.key'\n");
            hba.push_str(
                "hostssl all all 127.0.0.1/32 trust\nhostnossl all all 127.0.0.1/32 reject\n",
            );
        } else {
            hba.push_str("host all all 127.0.0.1/32 trust\n");
        }
        append(&data.join("postgresql.conf"), &conf);
        std::fs::write(data.join("pg_hba.conf"), hba).unwrap();
        cluster.chown(&data);
        cluster.start_again();
        cluster
    }

    /// The data directory (owned by the cluster's user; readable by root).
    pub fn data_dir(&self) -> PathBuf {
        self.root.path().join("data")
    }

    /// The directory holding the cluster's Unix socket.
    pub fn socket_dir(&self) -> PathBuf {
        self.root.path().join("sock")
    }

    /// The TCP port on 127.0.0.1 (and the socket's port number).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// A libpq key=value connection string to database `db` over the Unix socket.
    pub fn socket_url(&self, db: &str) -> String {
        format!(
            "host={} port={} user=postgres dbname={db}",
            self.socket_dir().display(),
            self.port
        )
    }

    /// Creates database `name`.
    pub fn create_database(&self, name: &str) {
        self.psql("postgres", &format!("CREATE DATABASE {name}"));
    }

    /// Runs `sql` in database `db` as `postgres` over the Unix socket; returns the unaligned,
    /// tuples-only output. Panics with psql's error if it fails.
    pub fn psql(&self, db: &str, sql: &str) -> String {
        let out = Command::new(self.bin.join("psql"))
            .arg(self.socket_url(db))
            .args(["-XAtq", "-v", "ON_ERROR_STOP=1", "-c", sql])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "psql {sql}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    /// Stops the cluster: a clean ("fast") shutdown that disconnects every client.
    pub fn stop(&self) {
        self.pg_ctl(&["stop", "-m", "fast"]);
    }

    /// Stops the cluster like a crash ("immediate"): no checkpoint, recovery from the WAL at
    /// the next start.
    pub fn crash(&self) {
        self.pg_ctl(&["stop", "-m", "immediate"]);
    }

    /// Starts the (stopped) cluster and waits until it accepts connections.
    pub fn start_again(&self) {
        let log = self.root.path().join("postgres.log");
        let log = log.display().to_string();
        self.pg_ctl(&["start", "-w", "-t", "60", "-l", &log]);
    }

    /// The cluster's server log so far (for failure messages).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.root.path().join("postgres.log")).unwrap_or_default()
    }

    fn pg_ctl(&self, args: &[&str]) {
        let data = self.data_dir();
        let mut cmd = self.pg("pg_ctl");
        cmd.arg("-D").arg(&data).args(args);
        let out = cmd.output().unwrap();
        assert!(
            out.status.success(),
            "pg_ctl {args:?} failed: {}{}\nserver log:\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr),
            self.log()
        );
    }

    /// A command for PostgreSQL program `name`, run as `postgres` when we are root.
    fn pg(&self, name: &str) -> Command {
        let program = self.bin.join(name);
        if self.as_postgres {
            let mut cmd = Command::new("runuser");
            cmd.args(["-u", "postgres", "--"]).arg(program);
            // runuser keeps the working directory, which `postgres` may not be able to read.
            cmd.current_dir(self.root.path());
            cmd
        } else {
            Command::new(program)
        }
    }

    fn check(&self, cmd: &mut Command, what: &str) -> Output {
        let cmd = cmd.arg(self.data_dir());
        let out = cmd
            .output()
            .unwrap_or_else(|e| panic!("cannot run {what}: {e}"));
        assert!(
            out.status.success(),
            "{what} failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        out
    }

    fn chown(&self, path: &Path) {
        if self.as_postgres {
            let out = Command::new("chown")
                .args(["-R", "postgres:postgres"])
                .arg(path)
                .output()
                .unwrap();
            assert!(
                out.status.success(),
                "chown postgres {}: {}",
                path.display(),
                String::from_utf8_lossy(&out.stderr)
            );
        }
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let mut cmd = self.pg("pg_ctl");
        cmd.arg("-D")
            .arg(self.data_dir())
            .args(["stop", "-m", "immediate"]);
        let _ = cmd.output();
    }
}

/// The directory of the PostgreSQL binaries.
pub fn pg_bin() -> PathBuf {
    if let Some(dir) = std::env::var_os("PG_BIN") {
        return PathBuf::from(dir);
    }
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let v = e.file_name().to_str()?.parse::<u32>().ok()?;
            let bin = e.path().join("bin");
            bin.join("initdb").exists().then_some((v, bin))
        })
        .collect();
    versions.sort();
    versions.pop().map(|(_, b)| b).unwrap_or_else(|| {
        panic!(
            "no PostgreSQL server binaries in /usr/lib/postgresql/*/bin (apt-get install \
             postgresql-15) and PG_BIN is not set: these tests need a real PostgreSQL"
        )
    })
}

fn running_as_root() -> bool {
    let out = Command::new("id").arg("-u").output().unwrap();
    String::from_utf8_lossy(&out.stdout).trim() == "0"
}

/// A TCP port that was free a moment ago.
fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

fn write_private(path: &Path, text: &str) {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .truncate(true)
        .write(true)
        .mode(0o600)
        .open(path)
        .unwrap();
    f.write_all(text.as_bytes()).unwrap();
}

fn append(path: &Path, text: &str) {
    use std::io::Write;
    let mut f = std::fs::OpenOptions::new().append(true).open(path).unwrap();
    f.write_all(text.as_bytes()).unwrap();
}

/// Every file under `dir` whose bytes contain `needle`.
pub fn files_containing(dir: &Path, needle: &[u8]) -> Vec<PathBuf> {
    let finder = memchr::memmem::Finder::new(needle);
    let mut hits = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else if std::fs::read(&p)
                .map(|b| finder.find(&b).is_some())
                .unwrap_or(false)
            {
                hits.push(p);
            }
        }
    }
    hits
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cluster_starts_restarts_and_serves_tls() {
        let ca = TestCa::new(&["localhost", "127.0.0.1"]);
        let c = Cluster::start_with_tls(&ca);
        c.create_database("t");
        c.psql(
            "t",
            "CREATE TABLE x (v TEXT); INSERT INTO x VALUES ('kept')",
        );
        c.crash();
        c.start_again();
        assert_eq!(c.psql("t", "SELECT v FROM x").trim(), "kept");
        assert_eq!(c.psql("postgres", "SHOW ssl").trim(), "on");
        assert!(!files_containing(&c.data_dir(), b"kept").is_empty());
    }
}
