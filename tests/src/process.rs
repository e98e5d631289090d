//! The one fixture that runs the `gatehouse` binary: `gatehouse serve
//! <part>` started with the caller's settings, and the addresses it logs
//! once each listener is bound ("<name> listening on <url> ...", in either
//! log format) read back, so that tests and the benchmark wait on the
//! process saying it is ready, never on a fixed delay.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

/// A started `gatehouse serve` and the addresses it logged, by name
/// (`registry`, `authorization`, `token`, `gateway`, `metrics`).
#[derive(Debug)]
pub struct Serving {
    pub child: Child,
    pub urls: BTreeMap<String, String>,
}

/// Where the process's log (its standard error) goes once read.
#[derive(Debug, Clone)]
pub enum Logs {
    /// Nowhere, unless `GATEHOUSE_TEST_LOGS` is set: then to this test's stderr.
    Quiet,
    /// Into this file, every line.
    File(PathBuf),
}

/// Runs `command` (a `gatehouse serve ...` the caller configured) with its
/// standard error piped, and returns once it logged where each of `expect`
/// listens. Panics when the process exits first: a test cannot go on without it.
pub fn serve(mut command: Command, expect: &[&str], logs: Logs) -> Serving {
    let mut child = command.stderr(Stdio::piped()).spawn().expect("start gatehouse");
    let stderr = child.stderr.take().expect("stderr");
    let mut sink: Box<dyn Write + Send> = match logs {
        Logs::File(path) => Box::new(std::fs::File::create(path).expect("the log file")),
        Logs::Quiet if std::env::var_os("GATEHOUSE_TEST_LOGS").is_some() => Box::new(std::io::stderr()),
        Logs::Quiet => Box::new(std::io::sink()),
    };
    let (found, listening) = std::sync::mpsc::channel();
    // Every line goes to the sink, for the life of the process (so that it
    // never blocks on a full pipe); the listening lines also come back here.
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = writeln!(sink, "{line}");
            if let Some(address) = gatehouse_runtime::telemetry::parse_listening(&line) {
                let _ = found.send(address);
            }
        }
    });
    let mut urls = BTreeMap::new();
    while !expect.iter().all(|name| urls.contains_key(*name)) {
        let Ok((name, url)) = listening.recv() else {
            let status = child.wait().map(|s| s.to_string()).unwrap_or_default();
            panic!("gatehouse exited ({status}) before listening on {expect:?}; it logged {urls:?}");
        };
        urls.insert(name, url);
    }
    Serving { child, urls }
}
