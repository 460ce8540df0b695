"""What the classifier's rules read (`Facts`) and return (`Verdict`), and what classification gives.

`HttpObservation` is what an httpx hook saw of the exchange; `Classification` is the result every caller
gets (a catalog code with its event fields).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from mcpdiag.emitters.chain import exception_names
from mcpdiag.emitters.codes import Action, Severity
from mcpdiag.emitters.event import AttrValue


@dataclass(frozen=True, slots=True, kw_only=True)
class HttpObservation:
    """What an httpx-level hook saw for the HTTP exchange most relevant to a failure."""

    status: int | None = None
    content_type: str | None = None
    www_authenticate: str | None = None
    proxy_authenticate: str | None = None
    location: str | None = None
    retry_after: str | None = None
    method: str | None = None
    url: str | None = None
    via_proxy: bool = False
    body_snippet: str | None = None
    jsonrpc_code: int | None = None
    """The code of the JSON-RPC error the body answered the request with (a 4xx from a 2026 server)."""
    jsonrpc_message: str | None = None
    body_truncated: bool = False
    """The hook stopped reading the body at its bound: the answer was larger than that."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Classification:
    """A failure's catalog code with everything an event needs; `message_safe` never holds exception text."""

    code: str
    severity: Severity
    retryable: bool
    message_safe: str
    detail: str
    action: Action
    http_status: int | None = None
    attrs: dict[str, AttrValue] = field(default_factory=dict, hash=False)


@dataclass(frozen=True, slots=True)
class Verdict:
    """A rule's finding: the code, the signal that decided it, the exception it came from."""

    code: str
    signal: str
    source: BaseException | None = None
    retryable: bool | None = None


def hit(
    code: str, signal: str, source: BaseException | None, retryable: bool | None = None
) -> Verdict | None:
    """The verdict `code` when a rule found its `source` exception, else None."""
    return None if source is None else Verdict(code, signal, source, retryable)


@dataclass(frozen=True, slots=True)
class Facts:
    """What the rules look at: the exception chain and what the hooks saw."""

    chain: list[BaseException]
    touchpoint: str | None
    transport: str | None
    session_established: bool
    proxy_in_use: bool
    stderr_tail: str | None
    http: HttpObservation | None

    def first(self, test: Callable[[BaseException], object]) -> BaseException | None:
        """The first exception of the chain that passes `test`."""
        return next((e for e in self.chain if test(e)), None)

    def named(self, *names: str) -> BaseException | None:
        """The first exception of the chain whose class (or a base) has one of `names`."""
        return self.first(lambda e: not exception_names(e).isdisjoint(names))
