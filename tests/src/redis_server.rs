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

    async fn start_with(port: u16, listen: &[&str]) -> Self {
        let mut child = Command::new("redis-server")
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
