//! A real SMTP server for the tests: Python's aiosmtpd (installed by `tests/tools.sh`).

/// An SMTP server that is not ours (aiosmtpd, `tests/python/smtp_sink.py`),
/// keeping each message as a file.
#[derive(Debug)]
pub struct MailSink {
    child: std::process::Child,
    dir: std::path::PathBuf,
    port: u16,
}

impl MailSink {
    pub fn start() -> Self {
        use std::io::BufRead;
        let dir = std::env::temp_dir().join(format!("gatehouse-mail-{}", uuid::Uuid::new_v4().simple()));
        let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("python/smtp_sink.py");
        let mut child = std::process::Command::new("python3")
            .arg(script)
            .arg(&dir)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("python3 runs (tests/tools.sh installs aiosmtpd)");
        let mut line = String::new();
        let stdout = child.stdout.take().expect("the sink's standard output is piped");
        std::io::BufReader::new(stdout).read_line(&mut line).expect("the sink prints its port");
        let port = line.trim().parse().unwrap_or_else(|_| panic!("the SMTP sink did not start: {line:?}"));
        Self { child, dir, port }
    }

    /// The folder each message is written to (one `.eml` file per message).
    pub fn dir(&self) -> &std::path::Path {
        &self.dir
    }

    pub fn url(&self) -> String {
        format!("smtp://127.0.0.1:{}", self.port)
    }

    /// Every message received so far, oldest first.
    pub fn messages(&self) -> Vec<String> {
        let mut names: Vec<_> = std::fs::read_dir(&self.dir)
            .map(|entries| {
                entries
                    .filter_map(Result::ok)
                    .map(|e| e.path())
                    .filter(|p| p.extension().is_some_and(|x| x == "eml"))
                    .collect()
            })
            .unwrap_or_default();
        names.sort();
        names.iter().map(|p| std::fs::read_to_string(p).expect("a message the sink wrote")).collect()
    }

    /// Waits for the `count`th message and returns it.
    pub async fn nth(&self, count: usize) -> String {
        crate::until(std::time::Duration::from_secs(10), "the mail arrives", || async {
            self.messages().len() >= count
        })
        .await;
        self.messages().swap_remove(count - 1)
    }
}

impl Drop for MailSink {
    fn drop(&mut self) {
        drop(self.child.stdin.take());
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The link a mail carries to `path` (the token after `?token=`).
pub fn mailed_token(mail: &str, path: &str) -> String {
    // Quoted-printable may wrap long lines with `=` at the end.
    let text = mail.replace("=\r\n", "").replace("=\n", "").replace("=3D", "=");
    let start = text.find(&format!("{path}?token=")).unwrap_or_else(|| panic!("no {path} link in {text}"));
    let rest = &text[start + path.len() + 7..];
    rest.chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').collect()
}
