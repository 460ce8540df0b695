"""Hostile loopback endpoints for the doctor's bounds: each case answers one step of the ladder with a huge
body or a trickle and counts the bytes it managed to send; `Recorder` keeps the headers of every request."""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote

MiB = 1024 * 1024
CHUNK = 64 * 1024
Send = Callable[[dict[str, Any]], Awaitable[None]]
Receive = Callable[[], Awaitable[dict[str, Any]]]


async def _body(receive: Receive) -> bytes:
    chunks = []
    while True:
        message = await receive()
        chunks.append(message.get("body", b""))
        if not message.get("more_body"):
            return b"".join(chunks)


async def _answer(send: Send, status: int, ctype: str, body: bytes, **headers: str) -> None:
    pairs = [(b"content-type", ctype.encode())] + [
        (k.replace("_", "-").encode(), v.encode()) for k, v in headers.items()
    ]
    await send({"type": "http.response.start", "status": status, "headers": pairs})
    await send({"type": "http.response.body", "body": body})


def _init_result(message: dict[str, Any]) -> dict[str, Any]:
    return {
        "protocolVersion": message["params"]["protocolVersion"],
        "capabilities": {"tools": {}},
        "serverInfo": {"name": "hostile", "version": "1"},
    }


def _filler(size: int, piece: bytes = b"A" * CHUNK) -> AsyncIterator[bytes]:
    async def pieces() -> AsyncIterator[bytes]:
        for _ in range(max(1, size // len(piece))):
            yield piece

    return pieces()


def _sse_events(size: int, event: bytes) -> AsyncIterator[bytes]:
    """`size` bytes of small, well-formed SSE events."""
    return _filler(size, event * max(1, CHUNK // len(event)))


@dataclass
class Hostile:
    """Cases under `/<case>/...`; the first initialize of a case (the doctor's `http` probe) is answered
    normally so that the case reaches the step it attacks. `sent` counts the bytes sent per case."""

    size: int = 64 * MiB
    sent: Counter[str] = field(default_factory=Counter)
    initializes: Counter[str] = field(default_factory=Counter)
    posted: dict[str, asyncio.Event] = field(default_factory=dict)

    async def __call__(self, scope: dict[str, Any], receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        parts = scope["path"].strip("/").split("/")
        well_known = parts[0] == ".well-known"
        case = parts[2] if well_known and len(parts) > 2 else parts[0]
        body = await _body(receive)
        gone = asyncio.Event()

        async def watch() -> None:
            while (await receive())["type"] != "http.disconnect":
                pass
            gone.set()

        watcher = asyncio.create_task(watch())
        try:
            await self._route(case, parts, well_known, scope, body, send, gone)
        except OSError:
            pass  # the doctor hung up: that is the point
        finally:
            watcher.cancel()

    async def _stream(
        self,
        case: str,
        send: Send,
        gone: asyncio.Event,
        status: int,
        ctype: str,
        pieces: AsyncIterator[bytes],
        *,
        prefix: bytes = b"",
        suffix: bytes = b"",
        delay: float = 0.0,
        **headers: str,
    ) -> None:
        pairs = [(b"content-type", ctype.encode())] + [
            (k.replace("_", "-").encode(), v.encode()) for k, v in headers.items()
        ]
        await send({"type": "http.response.start", "status": status, "headers": pairs})
        await send({"type": "http.response.body", "body": prefix, "more_body": True})
        self.sent[case] += len(prefix)
        async for piece in pieces:
            await send({"type": "http.response.body", "body": piece, "more_body": True})
            # uvicorn drops sends to a closed connection silently: only the disconnect says it is gone.
            await asyncio.sleep(delay)
            if gone.is_set():
                return
            self.sent[case] += len(piece)
        await send({"type": "http.response.body", "body": suffix})

    def _trickle(self) -> AsyncIterator[bytes]:
        async def drops() -> AsyncIterator[bytes]:
            for _ in range(3000):  # five minutes at most: every test bounds its run far below that
                yield b" "

        return drops()

    async def _route(
        self,
        case: str,
        parts: list[str],
        well_known: bool,
        scope: dict[str, Any],
        body: bytes,
        send: Send,
        gone: asyncio.Event,
    ) -> None:
        origin = f"http://127.0.0.1:{scope['server'][1]}"
        method, last = scope["method"], parts[-1]
        if case == "redirect-huge":
            return await self._stream(
                case, send, gone, 307, "text/plain", _filler(self.size), location=f"/{case}/x"
            )
        if case == "error-huge":
            return await self._stream(
                case, send, gone, 502, "text/html", _filler(self.size), prefix=b"<html>"
            )
        if case.startswith("oauth-"):
            return await self._oauth(case, parts, well_known, origin, method, send, gone)
        if last == "sse" and method == "GET":
            return await self._sse_stream(case, send, gone)
        if last == "messages" and method == "POST":
            if case == "sse-post-huge":  # JSON, so that only the SDK's own read of the answer sees it
                return await self._stream(case, send, gone, 200, "application/json", _filler(self.size))
            self.posted.setdefault(case, asyncio.Event()).set()
            return await _answer(send, 202, "text/plain", b"")
        if last != "mcp" or method != "POST":
            return await _answer(send, 404, "text/plain", b"not here")
        message = json.loads(body)
        if "id" not in message:
            return await _answer(send, 202, "text/plain", b"")
        rpc_id = json.dumps(message["id"]).encode()
        if message["method"] == "initialize":
            self.initializes[case] += 1
            if self.initializes[case] > 1 and case.startswith("init-"):
                return await self._initialize(case, message, rpc_id, send, gone)
            reply = {"jsonrpc": "2.0", "id": message["id"], "result": _init_result(message)}
            return await _answer(send, 200, "application/json", json.dumps(reply).encode())
        if message["method"] == "tools/list" and case == "tools-huge":
            tool = b'{"name":"t","description":"d","inputSchema":{"type":"object"}},'
            prefix = b'{"jsonrpc":"2.0","id":' + rpc_id + b',"result":{"tools":['
            suffix = tool[:-1] + b"]}}"
            pieces = _filler(self.size, tool * (CHUNK // len(tool)))
            return await self._stream(
                case, send, gone, 200, "application/json", pieces, prefix=prefix, suffix=suffix
            )
        reply = {"jsonrpc": "2.0", "id": message["id"], "result": {"tools": []}}
        return await _answer(send, 200, "application/json", json.dumps(reply).encode())

    async def _initialize(
        self, case: str, message: dict[str, Any], rpc_id: bytes, send: Send, gone: asyncio.Event
    ) -> None:
        head = b'{"jsonrpc":"2.0","id":' + rpc_id
        if case == "init-huge":
            prefix = (
                head + b',"result":{"protocolVersion":"2025-06-18","capabilities":{},"serverInfo":{"name":"'
            )
            return await self._stream(
                case, send, gone, 200, "application/json", _filler(self.size), prefix=prefix, suffix=b'"}}}'
            )
        if case == "init-4xx-huge":
            prefix = head + b',"error":{"code":-32600,"message":"'
            return await self._stream(
                case, send, gone, 400, "application/json", _filler(self.size), prefix=prefix, suffix=b'"}}'
            )
        if case == "init-sse-huge":
            note = b'{"jsonrpc":"2.0","method":"notifications/message","params":{"level":"info","data":"x"}}'
            event = b"event: message\ndata: " + note + b"\n\n"
            return await self._stream(
                case, send, gone, 200, "text/event-stream", _sse_events(self.size, event)
            )
        if case == "init-trickle":
            return await self._stream(
                case, send, gone, 200, "application/json", self._trickle(), prefix=head, delay=0.1
            )
        raise AssertionError(case)

    async def _sse_stream(self, case: str, send: Send, gone: asyncio.Event) -> None:
        noise = b"event: noise\ndata: " + b"A" * 4000 + b"\n\n"
        if case == "sse-huge":
            return await self._stream(
                case, send, gone, 200, "text/event-stream", _sse_events(self.size, noise)
            )
        if case == "sse-trickle":
            return await self._stream(
                case, send, gone, 200, "text/event-stream", self._trickle(), prefix=b":", delay=0.1
            )
        endpoint = f"event: endpoint\ndata: /{case}/messages?session_id=1\n\n".encode()
        posted = self.posted.setdefault(case, asyncio.Event())

        async def after_the_post() -> AsyncIterator[bytes]:
            await posted.wait()
            async for piece in _sse_events(self.size, noise):
                yield piece

        async def keep_open() -> AsyncIterator[bytes]:
            while not gone.is_set():
                await asyncio.sleep(0.05)
                yield b":\n\n"

        pieces = after_the_post() if case == "sse-msg-huge" else keep_open()
        await self._stream(case, send, gone, 200, "text/event-stream", pieces, prefix=endpoint)

    async def _oauth(
        self,
        case: str,
        parts: list[str],
        well_known: bool,
        origin: str,
        method: str,
        send: Send,
        gone: asyncio.Event,
    ) -> None:
        if parts[-1] == "mcp":
            challenge = f'Bearer resource_metadata="{origin}/{case}/prm"'
            return await _answer(send, 401, "text/plain", b"sign in", www_authenticate=challenge)
        if parts[-1] == "prm" and not well_known:
            if case == "oauth-prm-huge":
                prefix = b'{"resource":"' + origin.encode() + b'","authorization_servers":["'
                return await self._stream(
                    case,
                    send,
                    gone,
                    200,
                    "application/json",
                    _filler(self.size),
                    prefix=prefix,
                    suffix=b'"]}',
                )
            if case == "oauth-trickle":
                return await self._stream(
                    case, send, gone, 200, "application/json", self._trickle(), prefix=b"{", delay=0.1
                )
            document = {"resource": f"{origin}/{case}/mcp", "authorization_servers": [f"{origin}/{case}/as"]}
            return await _answer(send, 200, "application/json", json.dumps(document).encode())
        if well_known and parts[1] == "oauth-authorization-server" and case == "oauth-as-huge":
            prefix = b'{"issuer":"' + origin.encode() + b'","authorization_endpoint":"'
            return await self._stream(
                case, send, gone, 200, "application/json", _filler(self.size), prefix=prefix, suffix=b'"}'
            )
        return await _answer(send, 404, "text/plain", b"no")


@dataclass
class Recorder:
    """Records the headers of every request; `/redirect?to=URL` answers 307 to URL, `/signin?to=URL` 401 with
    URL as the protected-resource metadata, `/mcp` is a minimal
    streamable-HTTP MCP endpoint (so a redirect that ends there lets the ladder go on)."""

    seen: list[tuple[str, str, dict[str, str]]] = field(default_factory=list)

    async def __call__(self, scope: dict[str, Any], receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        headers = {k.decode().lower(): v.decode("latin-1") for k, v in scope["headers"]}
        self.seen.append((scope["method"], scope["path"], headers))
        body = await _body(receive)
        query = dict(pair.split("=", 1) for pair in scope["query_string"].decode().split("&") if "=" in pair)
        if scope["path"].endswith("/redirect") and "to" in query:
            return await _answer(send, 307, "text/plain", b"", location=unquote(query["to"]))
        if scope["path"].endswith("/signin") and "to" in query:
            challenge = f'Bearer resource_metadata="{unquote(query["to"])}"'
            return await _answer(send, 401, "text/plain", b"sign in", www_authenticate=challenge)
        if scope["path"].endswith("/mcp") and scope["method"] == "POST":
            message = json.loads(body or b"{}")
            if "id" not in message:
                return await _answer(send, 202, "text/plain", b"")
            result = _init_result(message) if message.get("method") == "initialize" else {"tools": []}
            reply = json.dumps({"jsonrpc": "2.0", "id": message["id"], "result": result}).encode()
            return await _answer(send, 200, "application/json", reply)
        await _answer(send, 404, "text/plain", b"not here")

    def at(self, path_prefix: str = "") -> list[dict[str, str]]:
        """Headers of the requests whose path starts with `path_prefix`."""
        return [headers for _, path, headers in self.seen if path.startswith(path_prefix)]


@dataclass
class Tools:
    """A minimal streamable-HTTP MCP endpoint at `/mcp` whose `tools/list` answers `tools` as given."""

    tools: list[dict[str, Any]]

    async def __call__(self, scope: dict[str, Any], receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        body = await _body(receive)
        if scope["method"] != "POST":
            return await _answer(send, 405, "text/plain", b"")
        message = json.loads(body)
        if "id" not in message:
            return await _answer(send, 202, "text/plain", b"")
        result = _init_result(message) if message["method"] == "initialize" else {"tools": self.tools}
        reply = json.dumps({"jsonrpc": "2.0", "id": message["id"], "result": result}).encode()
        await _answer(send, 200, "application/json", reply)


def huge_tools(count: int = 10, name_chars: int = 60_000) -> list[dict[str, Any]]:
    """Tools whose names, descriptions and one undefined required property are about `name_chars` long:
    the 60 KB tool name that froze /healthz (`"key" * N` is the redactor's worst case)."""
    return [
        {"name": f"{i:04d}" + "key" * (name_chars // 3), "description": "key=" * (name_chars // 4),
         "inputSchema": {"type": "object", "required": ["key" * (name_chars // 3)]}}
        for i in range(count)
    ]  # fmt: skip
