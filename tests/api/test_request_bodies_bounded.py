"""Every request body is read within a bound, on every route of both apps, before anything else runs.

Found by a review: a route with a JSON body (the doctor, a bundle request, a demo token) was read whole
before its caller was even authenticated, so one anonymous `POST /api/mcp/doctor` of 400 MB of spaces
raised the process's memory from 140 MB to 960 MB and kept it there. The routes that read their own bodies
(ingest, the import, an opened bundle) were bounded; nothing bounded the others, and a route added later
would have started unbounded too.

Through the real server over loopback (`serving`), with raw sockets: a body declared larger than its bound
is refused with 413 before it is sent, one sent chunked (no length) once it passes the bound, and one at
the bound is read. The routes are found from each app, so a route added later is covered too.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI

from mcpdiag.api import create_app
from mcpdiag.bundle.settings import BundleSettings
from mcpdiag.cli.serving import serving
from mcpdiag.cli.settings import ServeSettings
from mcpdiag.collector.app import create_collector_app
from mcpdiag.collector.body import MAX_BODY_BYTES, MAX_JSON_BODY_BYTES
from tests.api.support import Tokens, api_settings, collector_settings
from tests.collector.support import new_key
from tests.waiting import HTTP_PATIENCE, PATIENCE_S

MIB = 1024 * 1024
UPLOAD_MB = 1
"""The import's and an opened bundle's own bound in these tests (their settings), in MiB."""
OWN_BOUND = {
    "/v1/events": MAX_BODY_BYTES,
    "/v1/logs": MAX_BODY_BYTES,
    "/api/admin/import": UPLOAD_MB * MIB,
    "/api/admin/bundles": UPLOAD_MB * MIB,
}
"""The routes that read their body themselves, within their own bound."""
UPLOADS = {"/api/admin/import", "/api/admin/bundles"}
LIMITS = ServeSettings(_env_file=None, header_timeout_s=30, max_connections=64, keep_alive_s=30)
CHUNK = 64 * 1024


KEY = new_key()
TOKENS = Tokens()


def _app(kind: str, tmp_path: Path) -> FastAPI:
    if kind == "collector":
        return create_collector_app(collector_settings(tmp_path, KEY))
    bundles = BundleSettings(_env_file=None, bundle_open_max_mb=UPLOAD_MB)
    return create_app(
        api_settings(TOKENS, None, tmp_path, import_max_mb=UPLOAD_MB, dev_mode=True),
        collector_settings(tmp_path, KEY),
        bundle_settings=bundles,
    )


def _credentials(path: str) -> str:
    """Headers that get a request to `path` past its authentication (routes reading their own body
    authenticate first: an anonymous caller is refused before a byte of it is read)."""
    if path.startswith("/v1/"):
        return f"X-API-Key: {KEY}\r\nContent-Type: application/json"
    admin = TOKENS.header(TOKENS.mint("ada", roles=["admin"]))["Authorization"]
    kind = "multipart/form-data; boundary=b0undary" if path in UPLOADS else "application/json"
    return f"Authorization: {admin}\r\nContent-Type: {kind}"


def _routes(app: FastAPI) -> tuple[list[str], list[str]]:
    """(JSON body routes, routes reading their own body) of `app`, from its OpenAPI schema (every route
    but the UI's and the docs' own is in it), path parameters filled in."""
    json_routes, own = set(), set()
    for template, operations in app.openapi()["paths"].items():
        path = re.sub(r"\{[^}]+\}", "0123456789abcdef0123456789abcdef", template)
        for method, operation in operations.items():
            if method not in {"post", "put", "patch"}:
                continue
            if template in OWN_BOUND:
                own.add(path)
            elif "requestBody" in operation:
                json_routes.add(path)
    return sorted(json_routes), sorted(own)


@pytest.fixture(params=["api", "collector"])
async def served(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[tuple[str, FastAPI]]:
    app = _app(request.param, tmp_path)
    async with serving(app, LIMITS) as base:
        yield base, app


FILE_PART = b'--b0undary\r\nContent-Disposition: form-data; name="file"; filename="x"\r\n\r\n'
"""An upload's first bytes: the part that holds the file (spaces follow, as its content)."""


async def _spaces(total: int, *, chunked: bool, start: bytes = b"") -> AsyncIterator[bytes]:
    left = total
    while left > 0:
        part = min(CHUNK, left)
        data = (start + b" " * (part - len(start))) if start and left == total else b" " * part
        yield (f"{part:x}\r\n".encode() + data + b"\r\n") if chunked else data
        left -= part
    if chunked:
        yield b"0\r\n\r\n"


async def _post(base: str, path: str, *, declared: int | None, send: int) -> tuple[int, dict[str, Any], int]:
    """POST `send` bytes of spaces to `path` (with `Content-Length: declared`, or chunked when None), stopping
    once the server answers; (status, its JSON body, body bytes sent)."""
    host, port = base.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    framing = "Transfer-Encoding: chunked" if declared is None else f"Content-Length: {declared}"
    writer.write(f"POST {path} HTTP/1.1\r\nHost: x\r\n{_credentials(path)}\r\n{framing}\r\n\r\n".encode())
    answer = asyncio.ensure_future(reader.read(CHUNK))
    sent = 0
    try:
        start = FILE_PART if path in UPLOADS else b""
        async for piece in _spaces(send, chunked=declared is None, start=start):
            if answer.done():
                break
            try:
                writer.write(piece)
                await writer.drain()
            except ConnectionError:
                break
            sent += len(piece)
            await asyncio.sleep(0)
        data = await asyncio.wait_for(answer, timeout=PATIENCE_S)
        while not data.rstrip().endswith((b"}", b"0")):
            more = await asyncio.wait_for(reader.read(CHUNK), timeout=PATIENCE_S)
            if not more:
                break
            data += more
    finally:
        writer.close()
    head, _, body = data.partition(b"\r\n\r\n")
    if b"transfer-encoding: chunked" in head.lower():
        body = body.split(b"\r\n", 1)[1].rsplit(b"\r\n0\r\n", 1)[0]
    return int(head.split(b" ", 2)[1]), json.loads(body), sent


def _says_bound(body: dict[str, Any]) -> bool:
    return (
        body["error"]["code"] == "payload_too_large"
        and re.search(r"\d (?:KiB|MiB)", body["error"]["message"]) is not None
    )


async def test_a_body_declared_over_its_bound_is_refused_before_it_is_sent(
    served: tuple[str, FastAPI],
) -> None:
    base, app = served
    json_routes, own = _routes(app)
    assert own, "no route reads its own body"
    for path in json_routes + own:
        bound = OWN_BOUND.get(path, MAX_JSON_BODY_BYTES)
        status, body, sent = await _post(base, path, declared=bound + 1, send=bound + 1)
        assert status == 413 and _says_bound(body), (path, status, body)
        assert sent < bound, (path, sent)  # answered before the body was sent


async def test_a_chunked_body_is_refused_once_it_passes_its_bound(served: tuple[str, FastAPI]) -> None:
    base, app = served
    json_routes, own = _routes(app)
    for path in json_routes + own:
        bound = OWN_BOUND.get(path, MAX_JSON_BODY_BYTES)
        status, body, _ = await _post(base, path, declared=None, send=bound + 8 * CHUNK)
        assert status == 413 and _says_bound(body), (path, status, body)


async def test_a_json_body_at_its_bound_is_read(served: tuple[str, FastAPI]) -> None:
    """At the bound the body is read, and refused for what it holds (spaces are no JSON), not its size."""
    base, app = served
    json_routes, _ = _routes(app)
    for path in json_routes:
        status, body, _ = await _post(base, path, declared=MAX_JSON_BODY_BYTES, send=MAX_JSON_BODY_BYTES)
        assert status == 400, (path, status, body)
        assert body["error"] == {
            "code": "invalid_json",
            "message": "the body is not valid JSON: Expecting value (at character 1,048,576)",
        }


async def test_the_api_has_routes_with_json_bodies(tmp_path: Path) -> None:
    """The tests above cover something: the doctor, the bundle request and the demo token take JSON."""
    json_routes, _ = _routes(_app("api", tmp_path))
    assert {"/api/mcp/doctor", "/api/admin/bundle", "/api/dev/token"} <= set(json_routes)


@pytest.mark.parametrize("root", ["", "/diag"])
async def test_a_route_keeps_its_own_bound_behind_a_root_path(root: str) -> None:
    """Behind a proxy that mounts the service under a path (`--root-path /diag`), ASGI's `path` holds the
    root too: the larger bounds of ingest, the import and an opened bundle were looked up by it, missed, and
    those routes refused anything over 1 MiB."""
    import httpx
    from starlette.requests import Request
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    from mcpdiag.collector.bodybound import BodyBound

    async def size(request: Request) -> JSONResponse:
        return JSONResponse({"read": len(await request.body())})

    inner = FastAPI(routes=[Route("/big", size, methods=["POST"]), Route("/small", size, methods=["POST"])])
    app = BodyBound(inner, larger={"/big": 4 * MIB})
    body = b" " * (2 * MIB)
    transport = httpx.ASGITransport(app=app, root_path=root)
    async with httpx.AsyncClient(transport=transport, base_url="http://t", timeout=HTTP_PATIENCE) as client:
        big = await client.post(f"{root}/big", content=body)
        small = await client.post(f"{root}/small", content=body)
    assert big.status_code == 200 and big.json() == {"read": len(body)}, big.text
    assert small.status_code == 413, small.text
