//! A gRPC client that is not ours (Python grpcio, stubs compiled from
//! `proto/` at run time) calls the registry and its health service.
//! `tests/tools.sh` (run by the README's test command) installs grpcio.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::type_complexity)] // test code: a panic is the failure report

use std::process::Command;

use gatehouse_tests::TestEnv;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_grpcio_calls_the_registry() {
    let env = TestEnv::builder().start().await;
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let script = root.join("tests/python/registry_client.py");
    let proto = root.join("proto");
    let address = env.registry_addr.to_string();
    let operator = env.credentials.of(gatehouse_runtime::access::Role::Operator).unwrap().expose().to_owned();
    let token_part = env.credentials.of(gatehouse_runtime::access::Role::Token).unwrap().expose().to_owned();
    let output = tokio::task::spawn_blocking(move || {
        Command::new("python3").arg(script).arg(address).arg(proto).arg(operator).arg(token_part).output()
    })
    .await
    .unwrap()
    .expect("python3 runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "python client failed (is grpcio installed? run tests/tools.sh)\nstdout:\n{stdout}\nstderr:\n{stderr}"
    );
    assert!(stdout.contains("registry ok"), "{stdout}");
    // The python process starts long after the registry's first health check.
    assert!(stdout.contains("health SERVING"), "{stdout}");
}
