"""An MCP agent on the official Python SDK (`mcp` from PyPI, unchanged) against
an MCP server that Gatehouse protects, with nothing registered by hand: the
401 leads it to Gatehouse, it registers (client ID metadata document or
dynamic registration), the person approves (login and consent played by a
plain requests session, as in authlib_client.py), it exchanges the code with
PKCE and `resource`, calls a tool, and refreshes. Prints one JSON line of what
it saw, for tests/tests/mcp.rs.

Usage: mcp_agent.py MCP_URL MODE(cimd|dcr) USERNAME PASSWORD [CIMD_URL]
"""
import asyncio
import json
import sys
from urllib.parse import parse_qs, urlparse

import httpx2
from mcp import Client
from mcp.client.auth import OAuthClientProvider
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.auth import AuthorizationCodeResult, OAuthClientInformationFull, OAuthClientMetadata, OAuthToken

from authlib_client import user_approves

REDIRECT = "http://127.0.0.1:47321/callback"


class Memory:
    """The SDK's TokenStorage, in memory."""

    def __init__(self) -> None:
        self.tokens: OAuthToken | None = None
        self.client: OAuthClientInformationFull | None = None

    async def get_tokens(self):
        return self.tokens

    async def set_tokens(self, tokens):
        self.tokens = tokens

    async def get_client_info(self):
        return self.client

    async def set_client_info(self, client_info):
        self.client = client_info


async def main() -> None:
    mcp_url, mode, username, password = sys.argv[1:5]
    cimd_url = sys.argv[5] if len(sys.argv) > 5 and sys.argv[5] else None
    seen: dict = {"mode": mode}
    storage = Memory()
    callback: dict = {}

    async def redirect_handler(url: str) -> None:
        seen["authorizations"] = seen.get("authorizations", 0) + 1
        seen["authorization_url"] = url
        gateway = f"{urlparse(url).scheme}://{urlparse(url).netloc}"
        location = await asyncio.to_thread(user_approves, gateway, url, username, password)
        callback.update({k: v[0] for k, v in parse_qs(urlparse(location).query).items()})

    async def callback_handler() -> AuthorizationCodeResult:
        return AuthorizationCodeResult(code=callback["code"], state=callback.get("state"), iss=callback.get("iss"))

    metadata = OAuthClientMetadata(
        client_name="Gatehouse MCP Python agent",
        redirect_uris=[REDIRECT],
        grant_types=["authorization_code", "refresh_token"],
        response_types=["code"],
        token_endpoint_auth_method="none",
    )
    auth = OAuthClientProvider(
        server_url=mcp_url,
        client_metadata=metadata,
        storage=storage,
        redirect_handler=redirect_handler,
        callback_handler=callback_handler,
        client_metadata_url=cimd_url,
    )

    async def call(label: str) -> None:
        async with httpx2.AsyncClient(auth=auth, timeout=30) as http:
            # mode="legacy": the initialize handshake, which this example server speaks.
            async with Client(streamable_http_client(mcp_url, http_client=http), mode="legacy") as client:
                tools = await client.list_tools()
                seen["tools"] = [tool.name for tool in tools.tools]
                result = await client.call_tool("whoami", {})
                seen[label] = json.loads(result.content[0].text)

    await call("whoami")
    seen["client_id"] = storage.client.client_id
    seen["iss"] = callback.get("iss")
    seen["scope"] = storage.tokens.scope
    first = storage.tokens
    seen["had_refresh_token"] = bool(first.refresh_token)
    # A refresh: the test's Gatehouse issues access tokens for 3 seconds; once
    # this one has expired the SDK refreshes it before the next request (no
    # second authorization), sending `resource` again.
    await asyncio.sleep(max(0, (first.expires_in or 3)) + 0.5)
    await call("whoami_after_refresh")
    seen["refreshed"] = storage.tokens.access_token != first.access_token
    seen["refresh_rotated"] = storage.tokens.refresh_token != first.refresh_token
    print(json.dumps(seen))


if __name__ == "__main__":
    asyncio.run(main())
