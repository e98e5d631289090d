//! A PostgreSQL server of a test's own, for tests that stop it on purpose
//! (the suite's shared server must stay up for every other test).

use std::path::PathBuf;
use std::process::Command;

/// A PostgreSQL cluster in a temporary folder on a free loopback port.
#[derive(Debug)]
pub struct OwnPostgres {
    bin: PathBuf,
    dir: PathBuf,
    pub port: u16,
    /// Server settings beyond the defaults (TLS).
    settings: String,
}

fn pg_bin() -> PathBuf {
    let mut versions: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .expect("PostgreSQL server binaries under /usr/lib/postgresql (tests/services.sh installs them)")
        .filter_map(|entry| Some(entry.ok()?.path().join("bin")))
        .filter(|bin| bin.join("initdb").exists())
        .collect();
    versions.sort();
    versions.pop().expect("an initdb under /usr/lib/postgresql/*/bin")
}

/// Runs a PostgreSQL tool as the `postgres` user when this is root (initdb
/// refuses root), as this user otherwise.
fn as_postgres(tool: &std::path::Path) -> Command {
    let root = Command::new("id").arg("-u").output().is_ok_and(|o| o.stdout.starts_with(b"0"));
    if root {
        let mut command = Command::new("runuser");
        command.args(["-u", "postgres", "--"]).arg(tool);
        command
    } else {
        Command::new(tool)
    }
}

/// A copy of `primary`'s data in `data`, set up to stream from it as a
/// standby (`pg_basebackup -R`, with a fast checkpoint).
fn base_backup(bin: &std::path::Path, primary: &OwnPostgres, data: &std::path::Path) {
    let port = primary.port.to_string();
    let backup = as_postgres(&bin.join("pg_basebackup"))
        .arg("-D")
        .arg(data)
        .args(["-h", "127.0.0.1", "-p", &port, "-U", "postgres", "-R", "-X", "stream", "-c", "fast"])
        .output()
        .expect("run pg_basebackup");
    assert!(backup.status.success(), "pg_basebackup failed: {}", String::from_utf8_lossy(&backup.stderr));
}

impl OwnPostgres {
    pub fn start() -> Self {
        let server = Self::init();
        server.resume();
        server
    }

    /// A server that admits TLS connections only (`hostssl` in
    /// `pg_hba.conf`), with the server certificate of `files` (see
    /// [`crate::pki`]).
    pub fn start_tls(files: &crate::pki::Files) -> Self {
        let mut server = Self::init();
        let data = server.dir.join("data");
        for (from, to) in [("server.pem", "server.crt"), ("server.key", "server.key")] {
            std::fs::copy(files.path(from), data.join(to)).expect("copy the server certificate");
        }
        std::fs::write(data.join("pg_hba.conf"), "local all all trust\nhostssl all all 127.0.0.1/32 trust\n")
            .expect("write pg_hba.conf");
        let _ = Command::new("chown").args(["-R", "postgres:postgres"]).arg(&data).status();
        let _ = Command::new("chmod").arg("600").arg(data.join("server.key")).status();
        server.settings = "-c ssl=on -c ssl_cert_file=server.crt -c ssl_key_file=server.key".to_owned();
        server.resume();
        server
    }

    /// A streaming standby of `primary` (`pg_basebackup -R`), read-only until promoted.
    pub fn start_standby_of(primary: &OwnPostgres) -> Self {
        let bin = pg_bin();
        let dir = std::env::temp_dir().join(format!("gatehouse-pg-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir).expect("create the cluster folder");
        let _ = Command::new("chown").args(["postgres:postgres"]).arg(&dir).status();
        let port = std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("free port").port();
        base_backup(&bin, primary, &dir.join("data"));
        let server = Self { bin, dir, port, settings: String::new() };
        server.resume();
        server
    }

    /// Promotes a standby to primary (`pg_ctl promote`, waiting until it accepts writes).
    pub fn promote(&self) {
        let promote = as_postgres(&self.bin.join("pg_ctl"))
            .arg("-D")
            .arg(self.dir.join("data"))
            .args(["-w", "-t", "30", "promote"])
            .output()
            .expect("run pg_ctl promote");
        assert!(promote.status.success(), "pg_ctl promote failed: {}", String::from_utf8_lossy(&promote.stderr));
    }

    /// A server that asks TCP clients for a password (`scram-sha-256`);
    /// `postgres`'s is `password` until [`OwnPostgres::sql`] changes it.
    pub fn start_with_passwords() -> Self {
        let server = Self::init();
        let data = server.dir.join("data");
        std::fs::write(data.join("pg_hba.conf"), "local all all trust\nhost all all 127.0.0.1/32 scram-sha-256\n")
            .expect("write pg_hba.conf");
        server.resume();
        server.sql("ALTER ROLE postgres PASSWORD 'password'");
        server
    }

    /// Runs `statement` as `postgres` over the server's Unix socket (trusted, no password).
    pub fn sql(&self, statement: &str) -> String {
        let run = as_postgres(&self.bin.join("psql"))
            .arg("-h")
            .arg(&self.dir)
            .args(["-p", &self.port.to_string(), "-U", "postgres", "-v", "ON_ERROR_STOP=1", "-Atc", statement])
            .output()
            .expect("run psql");
        assert!(run.status.success(), "psql {statement:?}: {}", String::from_utf8_lossy(&run.stderr));
        String::from_utf8_lossy(&run.stdout).into_owned()
    }

    /// Makes every commit wait until a standby has it (`synchronous_standby_names = '*'`):
    /// what a failover that loses no acknowledged commit needs.
    pub fn require_sync_standby(&self) {
        self.sql("ALTER SYSTEM SET synchronous_standby_names = '*'");
        self.sql("SELECT pg_reload_conf()");
    }

    /// A primary that was failed over comes back as a standby of `primary`,
    /// on its old port: its data replaced by a fresh copy (`pg_basebackup
    /// -R`), as an operator does when the old timeline cannot be rewound.
    pub fn rejoin_as_standby_of(&self, primary: &OwnPostgres) {
        self.stop_hard();
        let data = self.dir.join("data");
        std::fs::remove_dir_all(&data).expect("remove the old data");
        base_backup(&self.bin, primary, &data);
        self.resume();
    }

    /// A verify-full URL of a server started with [`OwnPostgres::start_tls`], trusting `ca`.
    pub fn tls_url(&self, ca: &std::path::Path) -> String {
        format!("{}?sslmode=verify-full&sslrootcert={}", self.url(), ca.display())
    }

    fn init() -> Self {
        let bin = pg_bin();
        let dir = std::env::temp_dir().join(format!("gatehouse-pg-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir).expect("create the cluster folder");
        let _ = Command::new("chown").args(["postgres:postgres"]).arg(&dir).status();
        let port = std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("free port").port();
        let init = as_postgres(&bin.join("initdb"))
            .arg("-D")
            .arg(dir.join("data"))
            .args(["-U", "postgres", "--auth=trust", "--no-sync", "-E", "UTF8", "--locale=C.UTF-8"])
            .output()
            .expect("run initdb");
        assert!(init.status.success(), "initdb failed: {}", String::from_utf8_lossy(&init.stderr));
        Self { bin, dir, port, settings: String::new() }
    }

    pub fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    /// Starts (or restarts) the server and waits until it accepts connections.
    pub fn resume(&self) {
        // Commits are synchronous (unlike the suite's shared server): a hard
        // stop must not lose what a client was told is stored.
        let options = format!(
            "-c listen_addresses=127.0.0.1 -p {} -k {} -c fsync=off -c max_connections=200 {}",
            self.port,
            self.dir.display(),
            self.settings
        );
        let start = as_postgres(&self.bin.join("pg_ctl"))
            .arg("-D")
            .arg(self.dir.join("data"))
            .arg("-l")
            .arg(self.dir.join("log"))
            .args(["-w", "-t", "30", "-o", &options, "start"])
            .output()
            .expect("run pg_ctl start");
        assert!(start.status.success(), "pg_ctl start failed: {}", String::from_utf8_lossy(&start.stderr));
    }

    /// Stops the server hard (`-m immediate`: no checkpoint, connections cut),
    /// as a crash or a lost node would.
    pub fn stop_hard(&self) {
        let _ = as_postgres(&self.bin.join("pg_ctl"))
            .arg("-D")
            .arg(self.dir.join("data"))
            .args(["-m", "immediate", "-w", "stop"])
            .output();
    }
}

impl Drop for OwnPostgres {
    fn drop(&mut self) {
        self.stop_hard();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
