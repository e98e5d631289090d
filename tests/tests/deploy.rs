//! The Kubernetes manifests in `deploy/` render with `kubectl kustomize`,
//! validate offline against the Kubernetes schemas, and name only
//! subcommands, variables, ports and probes the binary really has
//! (`tests/python/check_manifests.py`; `tests/tools.sh` installs its tools).

use std::process::Command;

#[test]
fn every_overlay_renders_validates_and_matches_the_binary() {
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/..");
    let output = Command::new("python3")
        .arg(format!("{root}/tests/python/check_manifests.py"))
        .arg(root)
        .output()
        .unwrap_or_else(|e| panic!("python3 runs: {e}"));
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "manifests are not valid (run tests/tools.sh for kubectl and kubernetes-validate)\n{stdout}\n{stderr}"
    );
    assert!(stdout.contains("production:") && stdout.contains("dev:"), "{stdout}");
}
