# Installs the test tools that are not Rust crates: Python grpcio (a gRPC
# client that is not ours). Idempotent and quiet when already present.
set -euo pipefail
if ! python3 -c "import grpc, grpc_tools, grpc_health" 2>/dev/null; then
  echo "installing grpcio and grpcio-tools from PyPI"
  python3 -m pip install --quiet --disable-pip-version-check grpcio grpcio-tools grpcio-health-checking
fi
