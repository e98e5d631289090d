"""Renders every Kustomize overlay in deploy/, validates the output against
the Kubernetes schemas offline (kubernetes-validate), and checks that what
the manifests name matches what the gatehouse binary really has: its
subcommands, its GATEHOUSE_* variables, its ports and health endpoints.

Usage: check_manifests.py REPO_ROOT
"""
import pathlib
import re
import subprocess
import sys
import tempfile

import yaml

K8S_VERSION = "1.30.0"
CUSTOM_KINDS = {"ServiceMonitor", "Certificate", "Cluster"}


def fail(message: str) -> None:
    raise SystemExit(f"manifest check failed: {message}")


def main() -> None:
    root = pathlib.Path(sys.argv[1])
    cli = (root / "services/gatehouse/src/cli.rs").read_text()
    variables = set(re.findall(r'env = "(GATEHOUSE_[A-Z_]+)"', cli))
    defaults = dict(re.findall(r'env = "(GATEHOUSE_[A-Z_]+)", default_value = "([^"]+)"', cli))
    targets = {"all", "registry", "authorization", "token", "gateway"}
    # The hand-written configuration notes (docs/operations.md) and the generated reference.
    readme = (root / "docs/operations.md").read_text() + (root / "docs/configuration.md").read_text()
    health_paths = {"/healthz", "/readyz"}
    overlays = sorted(p for p in (root / "deploy/kustomize/overlays").iterdir() if p.is_dir())
    if {p.name for p in overlays} < {"dev", "production"}:
        fail("the dev and production overlays must exist")
    for overlay in overlays:
        rendered = subprocess.run(["kubectl", "kustomize", str(overlay)], check=True, capture_output=True, text=True).stdout
        documents = [d for d in yaml.safe_load_all(rendered) if d]
        # Custom resources have no schema in kubernetes-validate: they are
        # checked below against what they refer to.
        custom = [d for d in documents if d["kind"] in CUSTOM_KINDS]
        with tempfile.NamedTemporaryFile("w", suffix=".yaml", delete=False) as out:
            yaml.safe_dump_all([d for d in documents if d["kind"] not in CUSTOM_KINDS], out)
        result = subprocess.run(
            [sys.executable, "-m", "kubernetes_validate", "--strict", "-k", K8S_VERSION, out.name],
            capture_output=True, text=True,
        )
        if result.returncode != 0:
            fail(f"{overlay.name} does not validate:\n{result.stdout}\n{result.stderr}")
        config = {}
        for doc in documents:
            if doc["kind"] == "ConfigMap" and doc["metadata"]["name"].startswith("gatehouse-clients"):
                # Clients as code: documents `gatehouse apply` reads, each naming its owner.
                for key, text in doc.get("data", {}).items():
                    for client_doc in yaml.safe_load_all(text):
                        if not isinstance(client_doc, dict) or not client_doc.get("owner"):
                            fail(f"{overlay.name}: {key} of {doc['metadata']['name']} has a document without an owner")
                continue
            if doc["kind"] in ("ConfigMap", "Secret"):
                for key in list(doc.get("data", {})) + list(doc.get("stringData", {})):
                    if key not in variables:
                        fail(f"{overlay.name}: {doc['kind']} sets {key}, which gatehouse does not read")
                    if key not in readme:
                        fail(f"{overlay.name}: {key} is not in docs/operations.md's configuration table")
                config.update(doc.get("data", {}))
        for doc in documents:
            if doc["kind"] not in ("Deployment", "Job", "CronJob"):
                continue
            template = doc["spec"]["jobTemplate"]["spec"] if doc["kind"] == "CronJob" else doc["spec"]
            spec = template["template"]["spec"]
            for container in spec["containers"]:
                if container.get("image", "").split(":")[0] != "gatehouse":
                    fail(f"{doc['metadata']['name']}: image {container.get('image')} is not the gatehouse image")
                args = container.get("args", [])
                if args[:1] == ["serve"]:
                    part = args[1]
                    if part not in targets:
                        fail(f"{doc['metadata']['name']}: gatehouse has no `serve {part}`")
                    listen = config.get(f"GATEHOUSE_{part.upper()}_LISTEN") or defaults.get(f"GATEHOUSE_{part.upper()}_LISTEN")
                    port = int(listen.rsplit(":", 1)[1])
                    declared = {p["containerPort"] for p in container.get("ports", [])}
                    if port not in declared:
                        fail(f"{doc['metadata']['name']}: listens on {port} but declares {declared}")
                    metrics = config.get("GATEHOUSE_METRICS_LISTEN") or defaults.get("GATEHOUSE_METRICS_LISTEN")
                    named = {p.get("name"): p["containerPort"] for p in container.get("ports", [])}
                    if named.get("metrics") != int(metrics.rsplit(":", 1)[1]):
                        fail(f"{doc['metadata']['name']}: metrics served on {metrics}, port 'metrics' is {named.get('metrics')}")
                    tls = "GATEHOUSE_TLS_CERT_FILE" in config and part != "gateway"
                    for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
                        p = container.get(probe)
                        if p is None:
                            fail(f"{doc['metadata']['name']}: no {probe}")
                        if "grpc" in p and p["grpc"]["port"] != port:
                            fail(f"{doc['metadata']['name']}: {probe} probes port {p['grpc']['port']}, not {port}")
                        if "grpc" in p and tls:
                            fail(f"{doc['metadata']['name']}: kubelet's gRPC {probe} cannot speak TLS; probe the metrics port")
                        if "httpGet" in p and p["httpGet"]["port"] not in named and p["httpGet"]["port"] not in named.values():
                            fail(f"{doc['metadata']['name']}: {probe} probes port {p['httpGet']['port']}, which is not declared")
                    mounts = [m["mountPath"] for m in container.get("volumeMounts", [])]
                    # Every file a setting names (a _FILE setting, the database's CA) must be mounted.
                    files = {k: v for k, v in config.items() if k.endswith("_FILE")}
                    for key in ("GATEHOUSE_TLS_CERT_FILE", "GATEHOUSE_TLS_KEY_FILE", "GATEHOUSE_TLS_CLIENT_CA_FILE", "GATEHOUSE_TLS_CA_FILE"):
                        if key in config:
                            files[key] = config[key]
                    root_cert = re.search(r"sslrootcert=([^&]+)", config.get("GATEHOUSE_DATABASE_URL", ""))
                    if root_cert:
                        files["sslrootcert of GATEHOUSE_DATABASE_URL"] = root_cert.group(1)
                    for key, path in files.items():
                        if not any(path.startswith(m.rstrip("/") + "/") for m in mounts):
                            fail(f"{doc['metadata']['name']}: {key}={path} is not under a mounted volume")
                        if "httpGet" in p and p["httpGet"]["path"] not in health_paths:
                            fail(f"{doc['metadata']['name']}: {probe} path {p['httpGet']['path']} does not exist")
                elif args[:2] == ["apply", "-f"]:
                    mounts = [m["mountPath"] for m in container.get("volumeMounts", [])]
                    if not any(args[2] == m or args[2].startswith(m.rstrip("/") + "/") for m in mounts):
                        fail(f"{doc['metadata']['name']}: applies {args[2]}, which is not a mounted volume")
                    if "fn apply(" not in (root / "services/gatehouse/src/apply.rs").read_text():
                        fail(f"{doc['metadata']['name']}: gatehouse has no `apply`")
                elif args != ["migrate"]:
                    fail(f"{doc['metadata']['name']}: unknown command {args}")
                security = container.get("securityContext", {})
                if security.get("readOnlyRootFilesystem") is not True or security.get("allowPrivilegeEscalation") is not False:
                    fail(f"{doc['metadata']['name']}: containers must be read-only and without privilege escalation")
            if spec.get("securityContext", {}).get("runAsNonRoot") is not True:
                fail(f"{doc['metadata']['name']}: pods must run as non-root")
        services = [d for d in documents if d["kind"] == "Service"]
        # Workload certificates: one per part, each secret mounted by its part, each with a SPIFFE ID
        # that GATEHOUSE_GRPC_PEERS lists.
        certificates = [d for d in custom if d["kind"] == "Certificate"]
        if certificates:
            peers = config.get("GATEHOUSE_GRPC_PEERS", "")
            mounted = {
                v["secret"]["secretName"]
                for d in documents if d["kind"] == "Deployment"
                for v in d["spec"]["template"]["spec"].get("volumes", []) if "secret" in v
            }
            for cert in certificates:
                if cert["apiVersion"] != "cert-manager.io/v1":
                    fail(f"{overlay.name}: {cert['kind']} has apiVersion {cert['apiVersion']}")
                if cert["spec"]["secretName"] not in mounted:
                    fail(f"{overlay.name}: no part mounts the certificate {cert['spec']['secretName']}")
                for uri in cert["spec"].get("uris", []):
                    if uri not in peers:
                        fail(f"{overlay.name}: {uri} is not in GATEHOUSE_GRPC_PEERS")
            if len({c["spec"]["secretName"] for c in certificates}) != 4:
                fail(f"{overlay.name}: each of the four parts needs its own certificate")
        # A CloudNativePG cluster: the URL names its read-write Service, and
        # every part mounts the Secrets the operator generates for it.
        for cluster in (d for d in custom if d["kind"] == "Cluster"):
            if cluster["apiVersion"] != "postgresql.cnpg.io/v1":
                fail(f"{overlay.name}: {cluster['kind']} has apiVersion {cluster['apiVersion']}")
            name = cluster["metadata"]["name"]
            if f"@{name}-rw:" not in config.get("GATEHOUSE_DATABASE_URL", ""):
                fail(f"{overlay.name}: GATEHOUSE_DATABASE_URL does not name the Service {name}-rw")
            for d in documents:
                if d["kind"] in ("Deployment", "Job"):
                    secrets = {v["secret"]["secretName"] for v in d["spec"]["template"]["spec"].get("volumes", []) if "secret" in v}
                    for wanted in (f"{name}-app", f"{name}-ca"):
                        if wanted not in secrets:
                            fail(f"{overlay.name}: {d['metadata']['name']} does not mount the Secret {wanted}")
        for monitor in (d for d in custom if d["kind"] == "ServiceMonitor"):
            if monitor["apiVersion"] != "monitoring.coreos.com/v1":
                fail(f"{overlay.name}: {monitor['kind']} has apiVersion {monitor['apiVersion']}")
            wanted = monitor["spec"]["selector"]["matchLabels"]
            selected = [s for s in services if wanted.items() <= s["metadata"].get("labels", {}).items()]
            if len(selected) < 4:
                fail(f"{overlay.name}: the ServiceMonitor selects {len(selected)} Services, not the four parts")
            for endpoint in monitor["spec"]["endpoints"]:
                if endpoint.get("path") != "/metrics":
                    fail(f"{overlay.name}: the ServiceMonitor scrapes {endpoint.get('path')}, not /metrics")
                for service in selected:
                    if endpoint["port"] not in {p.get("name") for p in service["spec"]["ports"]}:
                        fail(f"{overlay.name}: Service {service['metadata']['name']} has no port {endpoint['port']}")
        print(f"{overlay.name}: {len(documents)} objects valid")


if __name__ == "__main__":
    main()
