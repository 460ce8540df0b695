"""A small OAuth authorization server and the bearer-protected MCP server it guards, on one loopback app;
and the host's side of a sign-in (token storage, a browser that may never come back).

Every path carries a mode, so one server plays every scenario: `/m/<mode>/mcp` is the MCP endpoint,
`/as/<mode>` the authorization server's issuer. Modes: `ok` (a working flow), `bad-grant` (the token
endpoint answers 400 `invalid_grant`, echoing the client secret like a careless server), `prm-500` (the
protected-resource metadata endpoint fails), and the hard failures the 2026 SDKs added: `issuer-mismatch`
(the metadata names another issuer), `iss-mismatch` (the authorization response's RFC 9207 `iss` is
another server's), `denied` (the user refuses consent: `error=access_denied`), `offline-refused` (the
server advertises `offline_access` but refuses to grant it: `error=invalid_scope`).
"""

from __future__ import annotations

import base64
import hashlib
import secrets
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import anyio
import httpx
from mcp.client.auth import OAuthClientProvider
from mcp.shared.auth import OAuthClientInformationFull, OAuthClientMetadata, OAuthToken
from pydantic import AnyUrl
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from mcpdiag.emitters.mcp.sdk import SDK_LINE
from tests.e2e.servers import zoo_server
from tests.waiting import HTTP_PATIENCE


@dataclass
class _Grant:
    client_id: str
    challenge: str
    redirect_uri: str


@dataclass
class AuthState:
    """What the authorization server issued, so the MCP endpoint can check bearer tokens."""

    clients: dict[str, str] = field(default_factory=dict)
    codes: dict[str, _Grant] = field(default_factory=dict)
    tokens: set[str] = field(default_factory=set)
    issued: list[str] = field(default_factory=list)
    """Every secret it ever handed out: client secrets, codes, tokens."""


def _base(request: Request) -> str:
    return str(request.base_url).rstrip("/")


def _issuer(request: Request) -> str:
    return f"{_base(request)}/as/{request.path_params['mode']}"


async def _resource_metadata(request: Request) -> Response:
    mode = request.path_params["mode"]
    if mode == "prm-500":
        return Response("metadata store unavailable", 500)
    resource = f"{_base(request)}/m/{mode}/mcp"
    metadata: dict[str, Any] = {"resource": resource, "authorization_servers": [_issuer(request)]}
    if mode == "offline-refused":
        metadata["scopes_supported"] = ["mcp"]
    return JSONResponse(metadata)


async def _server_metadata(request: Request) -> Response:
    issuer = _issuer(request)
    mode = request.path_params["mode"]
    return JSONResponse(
        {
            "issuer": f"{issuer}-elsewhere" if mode == "issuer-mismatch" else issuer,
            "authorization_endpoint": f"{issuer}/authorize",
            "token_endpoint": f"{issuer}/token",
            "registration_endpoint": f"{issuer}/register",
            "response_types_supported": ["code"],
            "grant_types_supported": ["authorization_code", "refresh_token"],
            "code_challenge_methods_supported": ["S256"],
            "token_endpoint_auth_methods_supported": ["client_secret_post"],
            **({"scopes_supported": ["mcp", "offline_access"]} if mode == "offline-refused" else {}),
        }
    )


def _routes(state: AuthState) -> list[Route]:
    async def register(request: Request) -> Response:
        metadata: dict[str, Any] = await request.json()
        client_id, secret = f"client-{secrets.token_hex(4)}", secrets.token_hex(16)
        state.clients[client_id] = secret
        state.issued.append(secret)
        return JSONResponse(
            {
                **metadata,
                "client_id": client_id,
                "client_secret": secret,
                "client_id_issued_at": 0,
                "token_endpoint_auth_method": "client_secret_post",
            },
            201,
        )

    async def authorize(request: Request) -> Response:
        query, mode = request.query_params, request.path_params["mode"]
        refusal = None
        if mode == "denied":
            refusal = {"error": "access_denied", "error_description": "The user declined the request"}
        elif mode == "offline-refused" and "offline_access" in query.get("scope", "").split():
            refusal = {"error": "invalid_scope", "error_description": "offline_access is not allowed"}
        if refusal is not None:
            target = urlencode({**refusal, "state": query["state"], "iss": _issuer(request)})
            return RedirectResponse(f"{query['redirect_uri']}?{target}", 302)
        code = secrets.token_hex(8)
        state.issued.append(code)
        state.codes[code] = _Grant(query["client_id"], query["code_challenge"], query["redirect_uri"])
        iss = "https://other-issuer.example" if mode == "iss-mismatch" else _issuer(request)
        target = urlencode({"code": code, "state": query["state"], "iss": iss})
        return RedirectResponse(f"{query['redirect_uri']}?{target}", 302)

    async def token(request: Request) -> Response:
        form = await request.form()
        if request.path_params["mode"] == "bad-grant":
            # A careless server echoes the credentials it was sent.
            detail = f"code expired for {form.get('client_id')}:{form.get('client_secret')}"
            return JSONResponse({"error": "invalid_grant", "error_description": detail}, 400)
        grant = state.codes.pop(str(form.get("code")), None)
        verifier = str(form.get("code_verifier", ""))
        digest = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).decode().rstrip("=")
        client_id = str(form.get("client_id"))
        if (
            grant is None
            or grant.client_id != client_id
            or grant.challenge != digest
            or grant.redirect_uri != form.get("redirect_uri")
            or state.clients.get(client_id) != form.get("client_secret")
        ):
            return JSONResponse({"error": "invalid_grant"}, 400)
        access, refresh = secrets.token_hex(20), secrets.token_hex(20)
        state.tokens.add(access)
        state.issued += [access, refresh]
        return JSONResponse(
            {"access_token": access, "token_type": "Bearer", "expires_in": 3600, "refresh_token": refresh}
        )

    return [
        Route("/.well-known/oauth-protected-resource/m/{mode}/mcp", _resource_metadata),
        Route("/.well-known/oauth-authorization-server/as/{mode}", _server_metadata),
        Route("/as/{mode}/register", register, methods=["POST"]),
        Route("/as/{mode}/authorize", authorize),
        Route("/as/{mode}/token", token, methods=["POST"]),
    ]


class OAuthZoo:
    """The ASGI app: `/m/<mode>/mcp` asks for a bearer token the authorization server issued."""

    def __init__(self) -> None:
        self.state = AuthState()
        self._mcp = zoo_server().streamable_http_app()
        self._oauth = Starlette(routes=_routes(self.state))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._mcp(scope, receive, send)
            return
        path: str = scope["path"]
        if not (path.startswith("/m/") and path.endswith("/mcp")):
            await self._oauth(scope, receive, send)
            return
        headers = dict(scope["headers"])
        scheme, _, token = headers.get(b"authorization", b"").decode().partition(" ")
        if scheme.lower() == "bearer" and token in self.state.tokens:
            await self._mcp({**scope, "path": "/mcp", "raw_path": b"/mcp"}, receive, send)
            return
        host = headers.get(b"host", b"").decode()
        challenge = f'Bearer resource_metadata="http://{host}/.well-known/oauth-protected-resource{path}"'
        await Response("unauthorized", 401, {"WWW-Authenticate": challenge})(scope, receive, send)


class MemoryTokenStorage:
    """The host's token store (the SDK's `TokenStorage`), in memory."""

    def __init__(self) -> None:
        self.tokens: OAuthToken | None = None
        self.client_info: OAuthClientInformationFull | None = None

    async def get_tokens(self) -> OAuthToken | None:
        return self.tokens

    async def set_tokens(self, tokens: OAuthToken) -> None:
        self.tokens = tokens

    async def get_client_info(self) -> OAuthClientInformationFull | None:
        return self.client_info

    async def set_client_info(self, client_info: OAuthClientInformationFull) -> None:
        self.client_info = client_info


class Browser:
    """The host's side of the sign-in: a user who opens the authorization URL and maybe comes back."""

    def __init__(self, *, returns: bool = True) -> None:
        self.returns = returns
        self.waiting = anyio.Event()
        """Set once the user is being waited for (the callback handler was called)."""
        self._query: dict[str, list[str]] | None = None

    async def redirect_handler(self, authorization_url: str) -> None:
        """Open the authorization URL; the authorization server redirects to the callback at once."""
        async with httpx.AsyncClient(timeout=HTTP_PATIENCE) as client:
            response = await client.get(authorization_url)
        self._query = parse_qs(urlsplit(response.headers["location"]).query)

    async def callback_handler(self) -> Any:
        """The redirect's parameters (a 2.x `AuthorizationCodeResult`, a 1.x `(code, state)` tuple); a user
        who never returns leaves this waiting forever. An error redirect raises, the way fastmcp's
        callback server reports it."""
        self.waiting.set()
        if not self.returns:
            await anyio.sleep_forever()
        assert self._query is not None
        if "error" in self._query:
            if self._query["error"][0] == "access_denied":
                raise RuntimeError("Access was denied by the authorization server.")
            raise RuntimeError(f"Authorization failed: {self._query['error_description'][0]}")
        code, state = self._query["code"][0], self._query["state"][0]
        if SDK_LINE == 1:
            return code, state
        from mcp.shared.auth import AuthorizationCodeResult

        return AuthorizationCodeResult(code=code, state=state, iss=self._query["iss"][0])

    def provider(self, server_url: str) -> OAuthClientProvider:
        """The OAuth provider a host would build for `server_url`."""
        metadata = OAuthClientMetadata(
            client_name="failure-zoo",
            redirect_uris=[AnyUrl("http://127.0.0.1:1/callback")],
            token_endpoint_auth_method="client_secret_post",
        )
        return OAuthClientProvider(
            server_url, metadata, MemoryTokenStorage(), self.redirect_handler, self.callback_handler
        )
