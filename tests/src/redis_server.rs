//! A Redis server of a test's own, for tests that stop it on purpose.

use std::process::{Child, Command, Stdio};

/// A `redis-server` child process on a free loopback port; killed on drop.
#[derive(Debug)]
pub struct OwnRedis {
    child: Child,
    pub port: u16,
}

impl OwnRedis {
    pub async fn start() -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("free port").port();
        Self::start_on(port).await
    }

    /// Starts a server on `port` (the same port again after [`OwnRedis::stop`]: a restart, empty).
    pub async fn start_on(port: u16) -> Self {
        Self::start_with(port, &["--port", &port.to_string()]).await
    }

    /// A server that speaks TLS only, with the server certificate of
    /// `files` (see [`crate::pki`]); with `client_certificates`, it admits
    /// only clients with a certificate of that CA (`tls-auth-clients yes`).
    pub async fn start_tls(files: &crate::pki::Files, client_certificates: bool) -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("free port").port();
        let path = |name: &str| files.path(name).display().to_string();
        let args = [
            "--port".to_owned(),
            "0".to_owned(),
            "--tls-port".to_owned(),
            port.to_string(),
            "--tls-cert-file".to_owned(),
            path("server.pem"),
            "--tls-key-file".to_owned(),
            path("server.key"),
            "--tls-ca-cert-file".to_owned(),
            path("ca.pem"),
            "--tls-auth-clients".to_owned(),
            if client_certificates { "yes" } else { "no" }.to_owned(),
        ];
        Self::start_with(port, &args.iter().map(String::as_str).collect::<Vec<_>>()).await
    }

    /// A replica of the server on `master_port`, on a port of its own.
    pub async fn start_replica_of(master_port: u16) -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("free port").port();
        let (port_text, master) = (port.to_string(), master_port.to_string());
        Self::start_with(port, &["--port", &port_text, "--replicaof", "127.0.0.1", &master]).await
    }

    /// A node of a Redis Cluster (`cluster-enabled`), its state file in `dir`;
    /// a node is declared failed after 1 s without an answer.
    pub async fn start_cluster_node(dir: &std::path::Path) -> Self {
        Self::start_cluster_node_with(dir, None).await
    }

    /// [`OwnRedis::start_cluster_node`], speaking TLS only (clients, the
    /// cluster bus, replication) with the certificates of `files` when given.
    async fn start_cluster_node_with(dir: &std::path::Path, files: Option<&crate::pki::Files>) -> Self {
        let port = cluster_port();
        let state = dir.join(format!("nodes-{port}.conf")).display().to_string();
        let dir = dir.display().to_string();
        let port_text = port.to_string();
        let path = |name: &str| files.map(|f| f.path(name).display().to_string()).unwrap_or_default();
        let (cert, key, ca) = (path("server.pem"), path("server.key"), path("ca.pem"));
        // The cluster bus and replication are mutual TLS: outgoing, a node
        // presents the client certificate (the server one is for servers only).
        let (client_cert, client_key) = (path("client.pem"), path("client.key"));
        let listen: Vec<&str> = match files {
            None => vec!["--port", &port_text],
            Some(_) => vec![
                "--port",
                "0",
                "--tls-port",
                &port_text,
                "--tls-cluster",
                "yes",
                "--tls-replication",
                "yes",
                "--tls-cert-file",
                &cert,
                "--tls-key-file",
                &key,
                "--tls-ca-cert-file",
                &ca,
                "--tls-auth-clients",
                "no",
                "--tls-client-cert-file",
                &client_cert,
                "--tls-client-key-file",
                &client_key,
            ],
        };
        let args = [
            "--cluster-enabled",
            "yes",
            "--cluster-config-file",
            &state,
            "--cluster-node-timeout",
            "1000",
            "--dir",
            &dir,
        ];
        Self::start_with(port, &[listen.as_slice(), &args].concat()).await
    }

    async fn start_with(port: u16, listen: &[&str]) -> Self {
        // Run from the temporary directory: a master's sync snapshot for a
        // replica (dump.rdb) lands there, never in the source tree.
        let mut child = Command::new("redis-server")
            .current_dir(std::env::temp_dir())
            .args(listen)
            .args(["--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start redis-server (tests/run.sh installs it): {e}"));
        // Readiness: poll until it accepts connections, bounded generously:
        // on a loaded 2-core machine a process start can take seconds.
        let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(20);
        while tokio::time::Instant::now() < deadline {
            if tokio::net::TcpStream::connect(("127.0.0.1", port)).await.is_ok() {
                return Self { child, port };
            }
            if let Ok(Some(status)) = child.try_wait() {
                panic!("redis-server on port {port} exited at start ({status})");
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        let _ = child.kill();
        let _ = child.wait();
        panic!("redis-server on port {port} did not start within 20 s");
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }

    /// The URL of a server started with [`OwnRedis::start_tls`].
    pub fn tls_url(&self) -> String {
        format!("rediss://localhost:{}/", self.port)
    }

    /// Freezes the server (SIGSTOP): connections stay open, nothing is
    /// answered, as with a hung process or a full network path.
    pub fn hang(&self) {
        self.signal("-STOP");
    }

    /// Lets a frozen server go on (SIGCONT), with all its data.
    pub fn resume(&self) {
        self.signal("-CONT");
    }

    fn signal(&self, signal: &str) {
        let status = Command::new("kill").args([signal, &self.child.id().to_string()]).status().expect("run kill");
        assert!(status.success(), "kill {signal} failed");
    }

    /// Deletes every key (`FLUSHALL`), as a failover to an empty replica would.
    pub async fn flush(&self) {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", self.port)).await.expect("connect to redis");
        stream.write_all(b"FLUSHALL\r\n").await.expect("send FLUSHALL");
        let mut reply = [0_u8; 5];
        stream.read_exact(&mut reply).await.expect("read the reply");
        assert_eq!(&reply, b"+OK\r\n");
    }

    /// Stops the server (SIGKILL: an outage, not a clean shutdown).
    pub fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for OwnRedis {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A port for a cluster node: it also listens on the port 10 000 above (the
/// cluster bus), so both must be free, and both below the ephemeral range
/// (where a `:0` bind of another test could take them first).
fn cluster_port() -> u16 {
    use std::hash::{BuildHasher, RandomState};
    let free = |port: u16| std::net::TcpListener::bind(("127.0.0.1", port)).is_ok();
    let mut seed = RandomState::new().hash_one(std::process::id());
    loop {
        seed = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
        let port = 10_000 + u16::try_from((seed >> 33) % 10_000).unwrap_or(0);
        if free(port) && free(port + 10_000) {
            return port;
        }
    }
}

/// What `redis-cli -p PORT ARGS…` prints, or "" when it cannot run.
fn cli(port: u16, args: &[&str]) -> String {
    cli_with(None, port, args)
}

/// [`cli`], over TLS trusting the CA file `tls` when given.
fn cli_with(tls: Option<&std::path::Path>, port: u16, args: &[&str]) -> String {
    let mut command = Command::new("redis-cli");
    if let Some(ca) = tls {
        command.arg("--tls").arg("--cacert").arg(ca);
    }
    command
        .args(["-p", &port.to_string()])
        .args(args)
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default()
}

/// A Redis Sentinel group of a test's own: a master, one replica, and three
/// sentinels (quorum 2) that declare the master down after 400 ms.
#[derive(Debug)]
pub struct SentinelGroup {
    pub master: OwnRedis,
    pub replica: OwnRedis,
    sentinels: Vec<(Child, u16)>,
    dir: std::path::PathBuf,
}

/// The master's name in the group's configuration.
pub const SENTINEL_MASTER: &str = "gatehouse";

impl SentinelGroup {
    /// Starts the group and returns once every sentinel knows the replica and the other two.
    pub async fn start() -> Self {
        let master = OwnRedis::start().await;
        let replica = OwnRedis::start_replica_of(master.port).await;
        let dir = std::env::temp_dir().join(format!("gatehouse-sentinel-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir).expect("a folder for the sentinels");
        let mut sentinels = Vec::new();
        for n in 0..3 {
            let port =
                std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("free port").port();
            let conf = dir.join(format!("sentinel-{n}.conf"));
            let text = format!(
                "port {port}\nbind 127.0.0.1\ndir {dir}\nsentinel monitor {SENTINEL_MASTER} 127.0.0.1 {master} 2\n\
                 sentinel down-after-milliseconds {SENTINEL_MASTER} 400\nsentinel failover-timeout {SENTINEL_MASTER} 3000\n",
                dir = dir.display(),
                master = master.port,
            );
            std::fs::write(&conf, text).expect("write a sentinel configuration");
            let child = Command::new("redis-server")
                .arg(&conf)
                .arg("--sentinel")
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("start a sentinel (redis-server --sentinel)");
            sentinels.push((child, port));
        }
        let group = Self { master, replica, sentinels, dir };
        let ports: Vec<u16> = group.sentinels.iter().map(|(_, port)| *port).collect();
        crate::until(std::time::Duration::from_secs(30), "every sentinel knows the replica and the others", || {
            let ports = ports.clone();
            async move {
                ports.iter().all(|port| {
                    let state = cli(*port, &["sentinel", "master", SENTINEL_MASTER]);
                    let field = |name: &str| {
                        let mut lines = state.lines();
                        lines.by_ref().find(|line| *line == name);
                        lines.next().unwrap_or_default().to_owned()
                    };
                    field("num-slaves") == "1" && field("num-other-sentinels") == "2"
                })
            }
        })
        .await;
        group
    }

    /// `redis+sentinel://` naming the three sentinels and the master.
    pub fn url(&self) -> String {
        let hosts: Vec<String> = self.sentinels.iter().map(|(_, port)| format!("127.0.0.1:{port}")).collect();
        format!("redis+sentinel://{}/{SENTINEL_MASTER}", hosts.join(","))
    }

    /// The role (`master`, `slave`) the server on `port` reports.
    pub fn role(port: u16) -> String {
        cli(port, &["role"]).lines().next().unwrap_or_default().to_owned()
    }
}

impl Drop for SentinelGroup {
    fn drop(&mut self) {
        for (child, _) in &mut self.sentinels {
            let _ = child.kill();
            let _ = child.wait();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A Redis Cluster of a test's own: three masters, each with one replica,
/// the slots spread evenly (`redis-cli --cluster create`).
#[derive(Debug)]
pub struct RedisCluster {
    /// The six nodes; which are masters changes with failovers ([`RedisCluster::master_of`]).
    pub nodes: Vec<OwnRedis>,
    dir: std::path::PathBuf,
    /// The CA file of a cluster that speaks TLS.
    tls: Option<std::path::PathBuf>,
}

impl RedisCluster {
    /// Starts the nodes, creates the cluster and returns once every node
    /// sees it whole (`cluster_state:ok`) and every replica has synced.
    pub async fn start() -> Self {
        Self::start_with(None).await
    }

    /// A cluster that speaks TLS only, with the certificates of `files`
    /// (see [`crate::pki`]): clients, the cluster bus and replication.
    pub async fn start_tls(files: &crate::pki::Files) -> Self {
        Self::start_with(Some(files)).await
    }

    async fn start_with(files: Option<&crate::pki::Files>) -> Self {
        let dir = std::env::temp_dir().join(format!("gatehouse-cluster-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir).expect("a folder for the cluster");
        let mut nodes = Vec::new();
        for _ in 0..6 {
            nodes.push(OwnRedis::start_cluster_node_with(&dir, files).await);
        }
        let tls = files.map(|f| f.path("ca.pem"));
        let addresses: Vec<String> = nodes.iter().map(|n| format!("127.0.0.1:{}", n.port)).collect();
        let mut create = Command::new("redis-cli");
        if let Some(ca) = &tls {
            create.arg("--tls").arg("--cacert").arg(ca);
        }
        let created = create
            .args(["--cluster", "create"])
            .args(&addresses)
            .args(["--cluster-replicas", "1", "--cluster-yes"])
            .output()
            .expect("run redis-cli --cluster create");
        assert!(created.status.success(), "redis-cli --cluster create: {}", String::from_utf8_lossy(&created.stdout));
        let cluster = Self { nodes, dir, tls };
        let ports = cluster.ports();
        crate::until(std::time::Duration::from_secs(30), "every node sees the whole cluster", || {
            let (ports, tls) = (ports.clone(), cluster.tls.clone());
            async move {
                let cli = |port: u16, args: &[&str]| cli_with(tls.as_deref(), port, args);
                ports.iter().all(|port| cli(*port, &["cluster", "info"]).contains("cluster_state:ok"))
                    && ports.iter().all(|port| {
                        let role = cli(*port, &["role"]);
                        role.starts_with("master") || role.lines().nth(3) == Some("connected")
                    })
            }
        })
        .await;
        cluster
    }

    fn cli(&self, port: u16, args: &[&str]) -> String {
        cli_with(self.tls.as_deref(), port, args)
    }

    fn ports(&self) -> Vec<u16> {
        self.nodes.iter().map(|n| n.port).collect()
    }

    /// `redis+cluster://` naming three of the nodes as seeds (`rediss+cluster://` over TLS).
    pub fn url(&self) -> String {
        let seeds: Vec<String> = self.nodes.iter().take(3).map(|n| format!("127.0.0.1:{}", n.port)).collect();
        let scheme = if self.tls.is_some() { "rediss" } else { "redis" };
        format!("{scheme}+cluster://{}", seeds.join(","))
    }

    /// The index in [`RedisCluster::nodes`] of the master serving `key`
    /// (`prefix` and `key` as the cache writes them), as a live node reports it.
    pub fn master_of(&self, key: &str) -> usize {
        let port = self.ports().into_iter().find(|p| !self.cli(*p, &["ping"]).is_empty()).expect("a live node");
        let slot: u16 = self.cli(port, &["cluster", "keyslot", key]).trim().parse().expect("a slot number");
        let slots = self.cli(port, &["cluster", "slots"]);
        // `CLUSTER SLOTS` lists, per range: start, end, then the master's ip, port, id, …
        let lines: Vec<&str> = slots.lines().collect();
        let mut i = 0;
        while i + 3 < lines.len() {
            if let (Ok(start), Ok(end)) = (lines[i].parse::<u16>(), lines[i + 1].parse::<u16>())
                && (start..=end).contains(&slot)
                && let Ok(master) = lines[i + 3].parse::<u16>()
            {
                return self.nodes.iter().position(|n| n.port == master).expect("the master is one of ours");
            }
            i += 1;
        }
        panic!("no master serves slot {slot}: {slots}");
    }

    /// The cluster node id of the node at `index`.
    pub fn id_of(&self, index: usize) -> String {
        self.cli(self.nodes[index].port, &["cluster", "myid"]).trim().to_owned()
    }

    /// Whether the node at `index` is a master now.
    pub fn is_master(&self, index: usize) -> bool {
        self.cli(self.nodes[index].port, &["role"]).starts_with("master")
    }

    /// Waits (bounded) until the replicas of the master at `index` have
    /// every write it took so far.
    pub async fn wait_replicated(&self, index: usize) {
        let info = |port: u16, field: &str| -> i64 {
            let text = self.cli(port, &["info", "replication"]);
            let prefix = format!("{field}:");
            text.lines().find_map(|l| l.strip_prefix(&prefix)).and_then(|v| v.trim().parse().ok()).unwrap_or(-1)
        };
        let master = self.nodes[index].port;
        let offset = info(master, "master_repl_offset");
        let replicas: Vec<u16> = self
            .nodes
            .iter()
            .map(|n| n.port)
            .filter(|p| self.cli(*p, &["role"]).lines().nth(2) == Some(&master.to_string()))
            .collect();
        assert!(!replicas.is_empty(), "the master on {master} has a replica");
        crate::until(std::time::Duration::from_secs(10), "the replicas caught up", || {
            let replicas = replicas.clone();
            async move { replicas.iter().all(|p| info(*p, "slave_repl_offset") >= offset) }
        })
        .await;
    }

    /// Moves `slots` slots from the master at `from` to the master at `to`
    /// with their keys (`redis-cli --cluster reshard`, `MIGRATE` under the
    /// hood): clients see `ASK` and then `MOVED` meanwhile. Blocking: run it
    /// on a thread of its own to load the cluster meanwhile.
    pub fn reshard(&self, from: usize, to: usize, slots: u32) -> impl FnOnce() + Send + 'static {
        let (from, to, port) = (self.id_of(from), self.id_of(to), self.nodes[to].port);
        move || {
            let moved = Command::new("redis-cli")
                .args(["--cluster", "reshard", &format!("127.0.0.1:{port}")])
                .args(["--cluster-from", &from, "--cluster-to", &to])
                .args(["--cluster-slots", &slots.to_string(), "--cluster-yes"])
                .output()
                .expect("run redis-cli --cluster reshard");
            assert!(moved.status.success(), "reshard: {}", String::from_utf8_lossy(&moved.stdout));
        }
    }
}

impl Drop for RedisCluster {
    fn drop(&mut self) {
        for node in &mut self.nodes {
            node.stop();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
