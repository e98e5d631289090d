//! The one fixture that runs the `gatehouse` binary: `gatehouse serve
//! <part>` started with the caller's settings, and the addresses it prints
//! once each listener is bound ("<name> listening on <url> ...") read back,
//! so that tests and the benchmark wait on the process saying it is ready,
//! never on a fixed delay.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

/// A started `gatehouse serve` and the addresses it printed, by name
/// (`registry`, `authorization`, `token`, `gateway`, `metrics`).
#[derive(Debug)]
pub struct Serving {
    pub child: Child,
    pub urls: BTreeMap<String, String>,
}

/// Runs `command` (a `gatehouse serve ...` the caller configured) with its
/// stdout piped, and returns once it printed where each of `expect` listens.
/// Panics when the process exits first: a test cannot go on without it.
pub fn serve(mut command: Command, expect: &[&str]) -> Serving {
    let mut child = command.stdout(Stdio::piped()).spawn().expect("start gatehouse");
    let stdout = child.stdout.take().expect("stdout");
    let mut lines = BufReader::new(stdout).lines();
    let mut urls = BTreeMap::new();
    while !expect.iter().all(|name| urls.contains_key(*name)) {
        let Some(Ok(line)) = lines.next() else {
            let status = child.wait().map(|s| s.to_string()).unwrap_or_default();
            panic!("gatehouse exited ({status}) before listening on {expect:?}; it printed {urls:?}");
        };
        if let Some((name, rest)) = line.split_once(" listening on ") {
            urls.insert(name.to_owned(), rest.split(' ').next().unwrap_or_default().to_owned());
        }
    }
    // Keep draining, so that the process never blocks on a full pipe.
    std::thread::spawn(move || for _ in lines {});
    Serving { child, urls }
}
