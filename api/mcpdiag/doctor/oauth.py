"""The `oauth` layer, when the server demands sign-in: protected-resource metadata (RFC 9728), then the
authorization server's metadata (RFC 8414 / OpenID discovery) and its registration support. It only reads
metadata: it never registers a client and never starts a browser flow."""

from __future__ import annotations

import json
import re
from typing import Any
from urllib.parse import urlsplit

import httpx2

from mcpdiag.doctor.bounded import BodyTooLargeError, shown
from mcpdiag.doctor.http import HttpFinding
from mcpdiag.doctor.netguard import AddressRefusedError
from mcpdiag.doctor.report import StepFailed
from mcpdiag.emitters import exception_chain

_RESOURCE_METADATA = re.compile(r'(?i)resource_metadata\s*=\s*"?([^",\s]+)"?')
MAX_METADATA_BYTES = 256 * 1024
"""OAuth metadata documents are a few KiB; a bigger one is not read (and discovery fails on it)."""
_URL_CHARS = 512


def _well_known(url: str, name: str) -> list[str]:
    """RFC 8414 path insertion first (`/.well-known/<name>/path`), then the root form."""
    parts = urlsplit(url)
    origin = f"{parts.scheme}://{parts.netloc}"
    path = parts.path.rstrip("/")
    found = [f"{origin}/.well-known/{name}{path}"] if path else []
    return [*found, f"{origin}/.well-known/{name}"]


class _TooLarge(Exception):
    """A metadata document past `MAX_METADATA_BYTES`."""


async def _read(response: httpx2.Response) -> bytes:
    chunks, size = [], 0
    async for chunk in response.aiter_bytes():
        size += len(chunk)
        if size > MAX_METADATA_BYTES:
            raise _TooLarge
        chunks.append(chunk)
    return b"".join(chunks)


async def _first_json(client: httpx2.AsyncClient, urls: list[str], tried: list[str]) -> dict[str, Any] | None:
    """The first of `urls` answering 200 with a JSON object; a document past the bounds fails the step."""
    for url in dict.fromkeys(urls):
        if len(url) > _URL_CHARS:
            tried.append(f"not tried: {shown(url, _URL_CHARS)}")
            continue
        try:
            async with client.stream("GET", url, headers={"Accept": "application/json"}) as response:
                tried.append(f"GET {url} -> {response.status_code}")
                if response.status_code != 200:
                    continue
                text = await _read(response)
        except (_TooLarge, BodyTooLargeError) as exc:
            raise StepFailed(
                "MCP_OAUTH_FAILED",
                f"The OAuth metadata at {url} is larger than {MAX_METADATA_BYTES // 1024} KiB: "
                "the test stopped reading it, and apps will not be able to sign in with it.",
                "\n".join([*tried, f"GET {url}: stopped after {MAX_METADATA_BYTES // 1024} KiB"]),
            ) from exc
        except Exception as exc:
            refused = any(isinstance(e, AddressRefusedError) for e in exception_chain(exc))
            why = "refused (not a public address)" if refused else type(exc).__name__
            tried.append(f"GET {url} -> {why}")
            continue
        try:
            body = json.loads(text)
        except (ValueError, RecursionError):
            continue
        if isinstance(body, dict):
            return body
    return None


def _text(value: object) -> str:
    """A metadata value as the report shows it, bounded."""
    return shown(value if isinstance(value, str) else json.dumps(value)[: _URL_CHARS + 1], _URL_CHARS)


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
    listed = resource.get("authorization_servers")
    servers = [s for s in listed if isinstance(s, str)] if isinstance(listed, list) else []
    if not servers:
        raise StepFailed(
            "MCP_OAUTH_FAILED",
            "The server's OAuth metadata names no authorization server.",
            "\n".join(tried),
        )
    issuer = shown(servers[0], _URL_CHARS)
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
    methods = metadata.get("code_challenge_methods_supported")
    pkce = isinstance(methods, list) and "S256" in methods
    scopes = resource.get("scopes_supported") or metadata.get("scopes_supported") or []
    tried += [
        f"resource: {_text(resource.get('resource'))}",
        f"authorization server: {issuer}",
        f"authorization_endpoint: {_text(metadata.get('authorization_endpoint'))}",
        f"token_endpoint: {_text(metadata.get('token_endpoint'))}",
        f"registration_endpoint: {_text(metadata.get('registration_endpoint'))}",
        f"PKCE S256: {'yes' if pkce else 'not advertised'}",
        f"scopes: {' '.join(_text(s) for s in scopes[:50]) if isinstance(scopes, list) else _text(scopes)}",
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
