"""What a classification reports besides its code: the detail text (the chain, the HTTP exchange, the
stderr tail) and the attrs a support engineer filters on."""

from __future__ import annotations

import re

from mcpdiag.emitters.chain import describe_exception, jsonrpc_error, qualified_name
from mcpdiag.emitters.classify_facts import Facts, HttpObservation, Verdict
from mcpdiag.emitters.classify_http import HEADERS
from mcpdiag.emitters.event import AttrValue
from mcpdiag.emitters.text import clip

_MAX_DESCRIBED = 12
_MAX_STDERR = 1500
_MAX_BODY = 200
# The last line of a Python traceback in a stderr tail, e.g. "ModuleNotFoundError: No module named 'x'".
_PY_ERROR = re.compile(r"(?m)^([A-Za-z_][\w.]{0,120}(?:Error|Exception))(?::|$)")


def detail_text(f: Facts, verdict: Verdict, cancelled: int, http: HttpObservation | None) -> str:
    """The event's detail: the verdict and its context, the chain, the HTTP exchange and the stderr tail."""
    context = [f"{k}={v}" for k, v in (("touchpoint", f.touchpoint), ("transport", f.transport)) if v]
    context += [name for name, on in (("session", f.session_established), ("proxy", f.proxy_in_use)) if on]
    lines = [f"{verdict.code} by {verdict.signal}" + (f" ({', '.join(context)})" if context else "")]
    lines += [f"  {describe_exception(e)}" for e in f.chain[:_MAX_DESCRIBED]]
    if len(f.chain) > _MAX_DESCRIBED:
        lines.append(f"  … {len(f.chain) - _MAX_DESCRIBED} more")
    if cancelled:
        lines.append(f"  ({cancelled} cancellation{'s' if cancelled > 1 else ''} dropped)")
    if http is not None:
        status = "no response" if http.status is None else http.status
        values = zip(HEADERS, (http.content_type, http.www_authenticate, http.proxy_authenticate,
                                http.location, http.retry_after), strict=True)  # fmt: skip
        lines.append(
            f"http: {http.method or '?'} {http.url or '?'} -> {status}"
            + "".join(f"; {name}: {value}" for name, value in values if value)
            + ("; via proxy" if http.via_proxy else "")
        )
        if http.jsonrpc_code is not None:
            lines.append(f"body: JSON-RPC error {http.jsonrpc_code}: {clip(http.jsonrpc_message or '', 200)}")
        elif http.body_snippet:
            lines.append(f"body: {' '.join(clip(http.body_snippet, _MAX_BODY).split())}")
    if verdict.code == "MCP_PROCESS_EXITED":
        # "Connection closed" says nothing of when: before initialize is a server that cannot start at all
        # (a missing setting, or an import that broke with an SDK upgrade), later one that crashed.
        when = "during the session" if f.session_established else "before initialize"
        lines.append(f"the server process exited {when}")
    if f.stderr_tail:
        lines += ["stderr (tail):", f.stderr_tail[-_MAX_STDERR:].strip()]
    return "\n".join(lines)


def report_attrs(f: Facts, verdict: Verdict, cancelled: int) -> dict[str, AttrValue]:
    """The event's attrs: the signal, the exceptions, errno, the JSON-RPC code and what HTTP said."""
    os_error = f.first(lambda e: isinstance(e, OSError) and isinstance(e.errno, int))
    rpc = next((r for e in f.chain if (r := jsonrpc_error(e)) is not None), None)
    if rpc is None and f.http is not None and f.http.jsonrpc_code is not None:
        rpc = (f.http.jsonrpc_code, f.http.jsonrpc_message or "")
    attrs: dict[str, AttrValue] = {
        "signal": verdict.signal,
        "exception": qualified_name(f.chain[0]) if f.chain else None,
        "signal_exception": qualified_name(verdict.source) if verdict.source is not None else None,
        "errno": getattr(os_error, "errno", None),
        "jsonrpc_code": rpc[0] if rpc is not None else None,
        "tls_verify_code": getattr(verdict.source, "verify_code", None),
        "content_type": f.http.content_type if f.http is not None else None,
        "retry_after": f.http.retry_after if f.http is not None else None,
        "cancelled": cancelled or None,
        "stderr_error": _stderr_error(f.stderr_tail),
    }
    return {k: v for k, v in attrs.items() if v is not None}


def _stderr_error(tail: str | None) -> str | None:
    """The exception a Python server died of, from the last traceback line in its stderr tail."""
    found = _PY_ERROR.findall(tail[-_MAX_STDERR:]) if tail else []
    return found[-1] if found else None
