"""The exception a host raises for a classified, emitted MCP failure, and the JSON-RPC error data for it."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Self

from mcpdiag.emitters.classifier import Classification, classification_for, classify, exception_chain


class MCPDiagnosticError(Exception):
    """A classified MCP failure; `str()` is the user-safe message and the Debug ID, never exception text.

    The host raises it `from` the original exception, so the SDK's error stays reachable as `__cause__`.
    """

    classification: Classification
    code: str
    retryable: bool
    message_safe: str
    debug_id: str
    event: dict[str, Any] | None

    def __init__(
        self,
        classification: Classification | str,
        *,
        debug_id: str,
        event: Mapping[str, Any] | None = None,
        server: str | None = None,
    ) -> None:
        if isinstance(classification, str):
            classification = classification_for(classification, server=server)
        self.classification = classification
        self.code = classification.code
        self.retryable = classification.retryable
        self.message_safe = classification.message_safe
        self.debug_id = debug_id
        self.event = dict(event) if event is not None else None
        super().__init__(self.__str__())

    @classmethod
    def from_classification(
        cls, classification: Classification, *, debug_id: str, event: Mapping[str, Any] | None = None
    ) -> Self:
        """The error for a classification whose event was emitted with `debug_id` (its trace id)."""
        return cls(classification, debug_id=debug_id, event=event)

    def __str__(self) -> str:
        return f"{self.message_safe} (Debug ID: {self.debug_id})"

    def __repr__(self) -> str:
        return f"{type(self).__name__}(code={self.code!r}, debug_id={self.debug_id!r})"

    def __reduce__(self) -> tuple[Any, ...]:
        # The keyword-only constructor defeats Exception's default pickling (`cls(*args)`).
        return (_restore, (type(self), self.classification, self.debug_id, self.event))


class StreamCutError(Exception):
    """The answer to an MCP request was lost on the way (its response stream ended or broke first), found by
    the HTTP hook where the MCP SDK 1.x would only wait for its read timeout."""


def _restore(
    cls: type[MCPDiagnosticError],
    classification: Classification,
    debug_id: str,
    event: dict[str, Any] | None,
) -> MCPDiagnosticError:
    return cls(classification, debug_id=debug_id, event=event)


def error_data(exc: BaseException, *, debug_id: str | None = None) -> dict[str, Any]:
    """`{"debugId", "code", "retryable"}` for a JSON-RPC error's `data` field.

    Taken from the first `MCPDiagnosticError` in `exc`'s chain; otherwise `exc` is classified and `debugId`
    is `debug_id` (None when the failure was never emitted, so there is no Debug ID to give).
    """
    for e in exception_chain(exc):
        if isinstance(e, MCPDiagnosticError):
            return {"debugId": e.debug_id, "code": e.code, "retryable": e.retryable}
    classification = classify(exc)
    return {"debugId": debug_id, "code": classification.code, "retryable": classification.retryable}
