"""The exception chain behind an MCP failure: walking it, naming its members, describing them for `detail`.

Only class names are matched, never the classes: the base install imports neither mcp nor httpx/httpx2, and
both SDK lines (and their httpcore/httpcore2) must be recognised alike.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl

from mcpdiag.emitters.text import clip

MAX_CHAIN_DEPTH = 20
MAX_CHAIN_LEN = 64
MAX_EXC_TEXT = 300
CANCEL_NAMES = frozenset({"CancelledError", "Cancelled"})
# anyio's flow-control signal: it shows up as the context of a cancelled stream read, never as a failure.
NOISE_NAMES = frozenset({"WouldBlock"})
MCP_ERROR_NAMES = frozenset({"MCPError", "McpError"})


def exception_names(exc: BaseException) -> frozenset[str]:
    """The names of `exc`'s class and of every class it derives from."""
    return frozenset(c.__name__ for c in type(exc).__mro__)


def qualified_name(exc: BaseException) -> str:
    """`module.Class` of `exc`, private module parts dropped."""
    cls = type(exc)
    module = "" if cls.__module__ == "builtins" else cls.__module__
    # "httpx2._exceptions.ConnectError" reads as "httpx2.ConnectError": private modules are dropped.
    return ".".join(
        [*(part for part in module.split(".") if part and not part.startswith("_")), cls.__qualname__]
    )


def exception_text(exc: BaseException) -> str:
    """`str(exc)` on one line; never raises."""
    try:
        return " ".join(str(exc).split())
    except Exception:
        return f"<unprintable {type(exc).__name__}>"


def is_cancellation(exc: BaseException) -> bool:
    """Whether `exc` is a cancellation (asyncio's, anyio's or trio's), not a failure."""
    return isinstance(exc, asyncio.CancelledError) or not CANCEL_NAMES.isdisjoint(exception_names(exc))


def walk_chain(exc: BaseException) -> tuple[list[BaseException], int]:
    """The exceptions behind `exc` (see `exception_chain`) and how many cancellations were dropped."""
    chain: list[BaseException] = []
    seen: set[int] = set()
    cancelled = 0

    def visit(e: BaseException, depth: int) -> None:
        nonlocal cancelled
        if depth > MAX_CHAIN_DEPTH or id(e) in seen or len(chain) >= MAX_CHAIN_LEN:
            return
        seen.add(id(e))
        if isinstance(e, BaseExceptionGroup):
            for sub in e.exceptions:
                visit(sub, depth + 1)
        elif is_cancellation(e):
            cancelled += 1
        elif NOISE_NAMES.isdisjoint(exception_names(e)):
            chain.append(e)
        # httpcore keeps the OS error (gaierror, ConnectionRefusedError, SSLCertVerificationError) only as a
        # *suppressed* __context__ and in args[0]; __suppress_context__ hides it from tracebacks, not from us.
        for linked in (e.__cause__, e.__context__, *e.args):
            if isinstance(linked, BaseException):
                visit(linked, depth + 1)

    with contextlib.suppress(Exception):  # a hostile exception object: keep what was collected
        visit(exc, 0)
    return chain, cancelled


def exception_chain(exc: BaseException) -> list[BaseException]:
    """Every exception behind `exc`, outermost first: groups flattened, cancellations dropped, each once."""
    return walk_chain(exc)[0]


def jsonrpc_error(exc: BaseException) -> tuple[int, str] | None:
    """`(code, message)` of an `MCPError` (2.x) or `McpError` (1.x); None for anything else."""
    if MCP_ERROR_NAMES.isdisjoint(exception_names(exc)):
        return None
    error = getattr(exc, "error", None)  # ErrorData in both lines; 2.x also has .code/.message properties
    code, message = getattr(error, "code", None), getattr(error, "message", None)
    if not isinstance(code, int):
        code, message = getattr(exc, "code", None), getattr(exc, "message", None)
    if not isinstance(code, int) or isinstance(code, bool):
        return None
    return code, message if isinstance(message, str) else exception_text(exc)


def describe_exception(exc: BaseException) -> str:
    """One line for `detail`: qualified name, errno / JSON-RPC / TLS codes, and the message."""
    parts = [qualified_name(exc)]
    if isinstance(exc, OSError) and isinstance(exc.errno, int):
        parts.append(f"[errno {exc.errno}]")
    if (rpc := jsonrpc_error(exc)) is not None:
        parts.append(f"[jsonrpc {rpc[0]}]")
    if isinstance(exc, ssl.SSLCertVerificationError):
        parts.append(f"[verify {exc.verify_code}: {exc.verify_message}]")
    elif isinstance(exc, ssl.SSLError) and getattr(exc, "reason", None):
        parts.append(f"[{getattr(exc, 'library', None) or 'ssl'} {exc.reason}]")
    text = clip(exception_text(exc), MAX_EXC_TEXT)
    return f"{' '.join(parts)}: {text}" if text else f"{' '.join(parts)} (no message)"
