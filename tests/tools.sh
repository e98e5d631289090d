# Installs the test tools that are not Rust crates, when missing:
# - Python grpcio (a gRPC client that is not ours) and joserfc (the Shared Signals receiver's JOSE) from PyPI;
# - aiosmtpd from PyPI (an SMTP server that is not ours, for the mail tests);
# - the official MCP Python SDK (`mcp`) from PyPI (an MCP agent that is not ours);
# - Debian's Chromium and playwright-core from npm (the browser test);
# - openid-client from npm (a relying party that is not ours);
# - the official MCP TypeScript SDK from npm (an MCP agent that is not ours);
# - the MCP conformance suite from npm, with the Node 22 it needs (npm's `node` package);
# - Debian's libfaketime (the fault suite runs a replica with its clock moved).
# Idempotent and quiet when everything is present.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

if ! python3 -c "import grpc, grpc_tools, grpc_health, authlib, requests, joserfc" 2>/dev/null; then
  echo "installing grpcio, grpcio-tools, grpcio-health-checking, authlib, requests and joserfc from PyPI"
  python3 -m pip install --quiet --disable-pip-version-check --root-user-action=ignore \
    grpcio grpcio-tools grpcio-health-checking authlib requests joserfc
fi

if ! python3 -c "import aiosmtpd" 2>/dev/null; then
  echo "installing aiosmtpd from PyPI (the SMTP server the mail tests receive links with)"
  python3 -m pip install --quiet --disable-pip-version-check --root-user-action=ignore aiosmtpd
fi

if ! python3 -c "import mcp.client.auth" 2>/dev/null; then
  echo "installing mcp (the official MCP Python SDK) from PyPI"
  python3 -m pip install --quiet --disable-pip-version-check --root-user-action=ignore mcp
fi

if ! python3 -c "import kubernetes_validate, yaml" 2>/dev/null; then
  echo "installing kubernetes-validate from PyPI (offline Kubernetes schemas)"
  python3 -m pip install --quiet --disable-pip-version-check --root-user-action=ignore kubernetes-validate pyyaml
fi

if ! command -v kubectl >/dev/null; then
  echo "kubectl is missing: the manifest test renders deploy/ with kubectl kustomize" >&2
fi

if ! pkg-config --exists openssl 2>/dev/null; then
  echo "installing OpenSSL's headers from Debian's packages (the passkey library verifies with OpenSSL)"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends libssl-dev pkg-config >/dev/null
fi

if ! command -v chromium >/dev/null; then
  echo "installing chromium from Debian's packages"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends chromium >/dev/null
fi

if ! fc-list 2>/dev/null | grep -qi "zen hei"; then
  echo "installing a CJK font from Debian's packages (the Chinese pages' screenshots)"
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y -qq --no-install-recommends fonts-wqy-zenhei >/dev/null 2>&1 || {
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends fonts-wqy-zenhei >/dev/null
  }
fi

if [ ! -e /usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1 ] && [ ! -e /usr/lib/aarch64-linux-gnu/faketime/libfaketime.so.1 ]; then
  echo "installing libfaketime from Debian's packages (the fault suite moves a replica's clock)"
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y -qq --no-install-recommends libfaketime >/dev/null 2>&1 || {
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends libfaketime >/dev/null
  }
fi

if [ ! -d tests/browser/node_modules/playwright-core ]; then
  echo "installing playwright-core from npm (no browser download: it drives Debian's chromium)"
  (cd tests/browser && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund --silent)
fi

if [ ! -d tests/rp/node_modules/openid-client ]; then
  echo "installing openid-client from npm (an OpenID Connect relying party that is not ours)"
  (cd tests/rp && npm ci --no-audit --no-fund --silent)
fi

if [ ! -d tests/mcp/node_modules/@modelcontextprotocol/sdk ]; then
  echo "installing @modelcontextprotocol/sdk and playwright-core from npm (the MCP agent test)"
  (cd tests/mcp && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund --silent)
fi

if [ ! -x tests/mcp-conformance/node_modules/node/bin/node ] \
  || [ ! -d tests/mcp-conformance/node_modules/@modelcontextprotocol/conformance ]; then
  echo "installing @modelcontextprotocol/conformance and Node 22 (the npm 'node' package) from npm (the MCP conformance test)"
  (cd tests/mcp-conformance && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund --silent)
fi
