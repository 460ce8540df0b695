"""The `oauth` layer, when the server demands sign-in: protected-resource metadata (RFC 9728), then the
authorization server's metadata (RFC 8414 / OpenID discovery) and its registration support. It only reads
metadata: it never registers a client and never starts a browser flow."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit

import httpx2

from mcpdiag.doctor.http import HttpFinding
from mcpdiag.doctor.netguard import AddressRefusedError
from mcpdiag.doctor.report import StepFailed
from mcpdiag.emitters import exception_chain

_RESOURCE_METADATA = re.compile(r'(?i)resource_metadata\s*=\s*"?([^",\s]+)"?')


def _well_known(url: str, name: str) -> list[str]:
    """RFC 8414 path insertion first (`/.well-known/<name>/path`), then the root form."""
    parts = urlsplit(url)
    origin = f"{parts.scheme}://{parts.netloc}"
    path = parts.path.rstrip("/")
    found = [f"{origin}/.well-known/{name}{path}"] if path else []
    return [*found, f"{origin}/.well-known/{name}"]


async def _first_json(client: httpx2.AsyncClient, urls: list[str], tried: list[str]) -> dict[str, Any] | None:
    for url in dict.fromkeys(urls):
        try:
            response = await client.get(url, headers={"Accept": "application/json"}, follow_redirects=True)
        except Exception as exc:
            refused = any(isinstance(e, AddressRefusedError) for e in exception_chain(exc))
            why = "refused (not a public address)" if refused else type(exc).__name__
            tried.append(f"GET {url} -> {why}")
            continue
        tried.append(f"GET {url} -> {response.status_code}")
        if response.status_code == 200:
            try:
                body = response.json()
            except ValueError:
                continue
            if isinstance(body, dict):
                return body
    return None


async def oauth_step(finding: HttpFinding, client: httpx2.AsyncClient) -> None:
    """Discover how to sign in; always raises: MCP_AUTH_REQUIRED naming the authorization server, or
    MCP_OAUTH_FAILED when discovery does not work."""
    tried: list[str] = [f"challenge: {finding.www_authenticate or '(no WWW-Authenticate header)'}"]
    hinted = _RESOURCE_METADATA.search(finding.www_authenticate or "")
    candidates = ([hinted.group(1)] if hinted else []) + _well_known(
        finding.final_url, "oauth-protected-resource"
    )
    resource = await _first_json(client, candidates, tried)
    if resource is None:
        raise StepFailed(
            "MCP_OAUTH_FAILED",
            "The server asks for sign-in but publishes no OAuth metadata, so apps cannot sign in to it.",
            "\n".join(tried),
        )
    servers = [s for s in resource.get("authorization_servers") or [] if isinstance(s, str)]
    if not servers:
        raise StepFailed(
            "MCP_OAUTH_FAILED",
            "The server's OAuth metadata names no authorization server.",
            "\n".join(tried),
        )
    issuer = servers[0]
    metadata = await _first_json(
        client,
        _well_known(issuer, "oauth-authorization-server") + _well_known(issuer, "openid-configuration"),
        tried,
    )
    if metadata is None:
        raise StepFailed(
            "MCP_OAUTH_FAILED",
            f"The authorization server {issuer} publishes no metadata, so sign-in cannot start.",
            "\n".join(tried),
        )
    registration = isinstance(metadata.get("registration_endpoint"), str)
    pkce = "S256" in (metadata.get("code_challenge_methods_supported") or [])
    tried += [
        f"resource: {resource.get('resource')}",
        f"authorization server: {issuer}",
        f"authorization_endpoint: {metadata.get('authorization_endpoint')}",
        f"token_endpoint: {metadata.get('token_endpoint')}",
        f"registration_endpoint: {metadata.get('registration_endpoint')}",
        f"PKCE S256: {'yes' if pkce else 'not advertised'}",
        f"scopes: {' '.join(resource.get('scopes_supported') or metadata.get('scopes_supported') or [])}",
    ]
    registers = (
        "it supports dynamic client registration"
        if registration
        else "it does not offer dynamic client registration, so an administrator must register the app"
    )
    raise StepFailed(
        "MCP_AUTH_REQUIRED",
        f"Sign-in required: the server uses the authorization server {issuer} ({registers}). "
        "Sign in from your app to connect.",
        "\n".join(tried),
        http_status=finding.status,
    )
