"""structlog JSON logs, and the request-id middleware that ties each log line to its request.

Every line goes through the one redactor (`LogRedaction`), ours and those of the libraries alike: a request
path or query (uvicorn's access line), an error message quoting what a caller sent, an audit target. The
service's own secrets (ingest keys, JWT secrets, `MCPDIAG_KNOWN_SECRETS`) are added by `configure_logging`.
"""

from __future__ import annotations

import logging
import re
import sys
import threading
import time
import uuid
from collections.abc import Callable, Hashable, Iterable, MutableMapping
from typing import Any

import structlog
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from mcpdiag.emitters import Redactor

REQUEST_ID_HEADER = "x-request-id"
_SAFE_REQUEST_ID = re.compile(r"[A-Za-z0-9._:@/+=-]{1,128}")


class RepeatLimiter:
    """Lets through `burst` log lines of one kind per `window_s`, then counts the rest: a flood of one line
    (an attack, a dead dependency) costs a bounded rate of lines and a count instead of the disk. The
    default (100 a second of each kind) is far above anything a working service repeats."""

    MAX_KINDS = 1024

    def __init__(
        self, burst: int = 100, window_s: float = 1.0, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.burst, self.window_s, self.clock = burst, window_s, clock
        self._seen: dict[Hashable, list[float]] = {}  # kind -> [window start, lines let through, suppressed]
        self._lock = threading.Lock()

    def admit(self, kind: Hashable) -> tuple[bool, int]:
        """Whether a line of `kind` may be written now, and how many of its kind were held back before it."""
        now = self.clock()
        with self._lock:
            entry = self._seen.get(kind)
            if entry is None or now - entry[0] >= self.window_s:
                if entry is None and len(self._seen) >= self.MAX_KINDS:
                    self._seen.clear()
                held = int(entry[2]) if entry else 0
                self._seen[kind] = [now, 1, 0]
                return True, held
            if entry[1] < self.burst:
                entry[1] += 1
                return True, 0
            entry[2] += 1
            return False, 0

    def processor(
        self, logger: Any, method: str, event: MutableMapping[str, Any]
    ) -> MutableMapping[str, Any]:
        """As a structlog processor: drops what `admit` holds back, notes the count on the next line."""
        allowed, held = self.admit((method, event.get("event")))
        if not allowed:
            raise structlog.DropEvent
        if held:
            event["suppressed_similar"] = held
        return event


class RepeatFilter(logging.Filter):
    """`RepeatLimiter` for stdlib loggers (asyncio's accept errors, uvicorn's own lines)."""

    def __init__(self, limiter: RepeatLimiter) -> None:
        super().__init__()
        self.limiter = limiter

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            kind = str(record.msg)
        except Exception:  # a message that cannot be read is one kind; a filter never raises
            kind = type(record.msg).__name__
        allowed, held = self.limiter.admit((record.name, record.levelno, kind))
        if allowed and held:
            record.msg = f"{record.msg} ({held} similar messages suppressed)"
        return allowed


_PROSE_RULES = frozenset({"assignment"})


class LogRedaction:
    """The redactor every log line goes through: a structlog processor (every field, keys included) and a
    stdlib filter (the formatted message of a library's record, its arguments folded in)."""

    _KEPT = frozenset({"timestamp", "level", "request_id"})
    _PROSE = frozenset({"event", "message"})

    def __init__(self) -> None:
        self.redactor = Redactor()
        self._secrets: frozenset[str] = frozenset()

    def add_secrets(self, secrets: Iterable[str]) -> None:
        """Also redact `secrets` (the service's own: ingest keys, JWT secrets) wherever a line holds one."""
        more = self._secrets | {s for s in secrets if isinstance(s, str) and s}
        if more != self._secrets:
            self._secrets = frozenset(more)
            self.redactor = Redactor(more)

    def processor(
        self, logger: Any, method: str, event: MutableMapping[str, Any]
    ) -> MutableMapping[str, Any]:
        """As a structlog processor: the line's fields redacted (its time, level and request id are ours)."""
        kept = {key: event.pop(key) for key in self._KEPT & event.keys()}
        prose = {
            key: self.prose(event.pop(key))
            for key in self._PROSE & event.keys()
            if isinstance(event[key], str)
        }
        redacted: dict[str, Any] = self.redactor.value(_as_json(dict(event)), {})
        return {**kept, **prose, **redacted}

    def prose(self, text: str) -> str:
        """`text`, one of our own messages, redacted: a secret of a known format or one of the service's own
        is replaced; a text whose only finding is the `assignment` rule is kept as it is. Our messages name
        fields and headers (`passphrase: unknown query parameter`, `send 'Authorization: Bearer <key>'`),
        which that rule reads as values and would swallow with the explanation."""
        counts: dict[str, int] = {}
        redacted = self.redactor.text(text, counts)
        return text if set(counts) <= _PROSE_RULES else redacted

    def text(self, text: str) -> str:
        """One text redacted."""
        return self.redactor.string(text, {})


def _as_json(value: Any) -> Any:
    """`value` with everything the JSON renderer would write as its `repr` (a URL, a path, an exception)
    turned into that text first, so that the redactor reads it."""
    if value is None or isinstance(value, str | int | float | bool):
        return value
    if isinstance(value, dict):
        return {(k if isinstance(k, str) else str(k)): _as_json(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_as_json(item) for item in value]
    return repr(value)


class RedactFilter(logging.Filter):
    """`LogRedaction` for stdlib records (uvicorn's access and error lines, asyncio's, any library's): the
    message is formatted with its arguments and redacted, so no handler or formatter sees the raw text."""

    def __init__(self, redaction: LogRedaction) -> None:
        super().__init__()
        self.redaction = redaction

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            self._redact(record)
        except Exception:  # a filter must never raise into the code that logged
            record.msg, record.args = "[a log record that could not be read was held back]", ()
            record.exc_info = record.exc_text = record.stack_info = None
        return True

    def _redact(self, record: logging.LogRecord) -> None:
        text = self.redaction.text
        try:
            message = record.getMessage()
        except Exception:  # arguments that do not fit the format: their text, as logging's own error shows
            message = f"{record.msg!r} {record.args!r}"
            record.msg, record.args = message, ()
        redacted = text(message)
        if redacted != message:
            # The record keeps its shape where it can (uvicorn's access formatter unpacks its arguments):
            # each argument and the format redacted apart, collapsed only if the result still holds anything.
            args = record.args
            if isinstance(args, tuple):
                record.args = tuple(text(a) if isinstance(a, str) else a for a in args)
            elif isinstance(args, dict):
                record.args = {k: text(v) if isinstance(v, str) else v for k, v in args.items()}
            if isinstance(record.msg, str):
                record.msg = text(record.msg)
            try:
                still = text(record.getMessage()) != record.getMessage()
            except Exception:
                still = True
            if still:
                record.msg, record.args = redacted, ()
        if record.exc_info:
            if not record.exc_text:
                record.exc_text = logging.Formatter().formatException(record.exc_info)
            # A formatter reads the exception from here on: the redacted text, never the live exception.
            record.exc_info = None
        if record.exc_text:
            record.exc_text = text(record.exc_text)
        if record.stack_info:
            record.stack_info = text(record.stack_info)


def _record_exception(logger: Any, method: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    """For a stdlib record (`stdlib_log_config`): its exception as `RedactFilter` left it (redacted text)."""
    record = event.get("_record")
    if isinstance(record, logging.LogRecord) and record.exc_text:
        event["exception"] = record.exc_text
    return event


_LIMITER = RepeatLimiter()
REDACTION = LogRedaction()
_FILTERED = ("asyncio", "uvicorn", "uvicorn.error", "uvicorn.access")
_SHARED: list[Any] = [
    structlog.contextvars.merge_contextvars,
    structlog.processors.add_log_level,
    structlog.processors.TimeStamper(fmt="iso", utc=True),
]


def configure_logging(level: str = "INFO", *, force: bool = False, known_secrets: Iterable[str] = ()) -> None:
    """JSON log lines on stdout with the bound request id; keeps an existing setup unless `force`.

    Repeated lines are bounded (`RepeatLimiter`), ours and those of asyncio and uvicorn alike, and every
    line is redacted (`REDACTION`), `known_secrets` included (added to those of any earlier call), also a
    library's record that Python's last-resort handler prints when nothing else handles it.
    """
    REDACTION.add_secrets(known_secrets)
    for name in _FILTERED:
        stdlib = logging.getLogger(name)
        if not any(isinstance(f, RepeatFilter) for f in stdlib.filters):
            stdlib.addFilter(RepeatFilter(_LIMITER))
        if not any(isinstance(f, RedactFilter) for f in stdlib.filters):
            stdlib.addFilter(RedactFilter(REDACTION))
    # Where no handler is configured (embedded, `serve --quiet`), Python prints a record through its
    # last-resort handler: that one redacts too.
    fallback = logging.lastResort
    if fallback is not None and not any(isinstance(f, RedactFilter) for f in fallback.filters):
        fallback.addFilter(RedactFilter(REDACTION))
    if structlog.is_configured() and not force:
        return
    structlog.configure(
        processors=[
            _LIMITER.processor,
            *_SHARED,
            structlog.processors.format_exc_info,
            REDACTION.processor,
            structlog.processors.JSONRenderer(),
        ],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level.upper())),
        logger_factory=structlog.PrintLoggerFactory(file=_CurrentStdout()),  # type: ignore[arg-type]
        cache_logger_on_first_use=True,
    )


def stdlib_log_config(level: str = "INFO") -> dict[str, Any]:
    """A `logging.config.dictConfig` for the servers (uvicorn's `log_config`): uvicorn's and every other
    library's records become the same JSON lines as ours (request id, time, level), each redacted by the
    handler, whichever logger it came from."""
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"redact": {"()": RedactFilter, "redaction": REDACTION}},
        "formatters": {
            "json": {
                "()": structlog.stdlib.ProcessorFormatter,
                # The handler's filter has redacted the record (message, exception, stack) already.
                "processors": [
                    structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                    structlog.processors.JSONRenderer(),
                ],
                "foreign_pre_chain": [*_SHARED, structlog.stdlib.add_logger_name, _record_exception],
            }
        },
        "handlers": {
            "json": {
                "class": "logging.StreamHandler",
                "formatter": "json",
                "filters": ["redact"],
                "stream": _CurrentStdout(),
            }
        },
        "loggers": {
            name: {"handlers": ["json"], "level": level, "propagate": False}
            for name in ("uvicorn", "uvicorn.error", "uvicorn.access")
        },
        "root": {"handlers": ["json"], "level": "WARNING"},
    }


class _CurrentStdout:
    """Writes to whatever `sys.stdout` is at the time (a redirect after startup still gets the logs)."""

    def write(self, text: str) -> int:
        return sys.stdout.write(text)

    def flush(self) -> None:
        sys.stdout.flush()


def request_id_of(value: str | None) -> str:
    """`value` when it is a safe request id (≤ 128 URL-safe characters), else a fresh one."""
    if value is not None and _SAFE_REQUEST_ID.fullmatch(value):
        return value
    return uuid.uuid4().hex


class RequestIdMiddleware:
    """Accepts a valid `X-Request-ID` or makes one, echoes it, and binds it into structlog's context."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        sent = next((v for k, v in scope["headers"] if k == REQUEST_ID_HEADER.encode()), None)
        request_id = request_id_of(sent.decode("latin-1") if sent is not None else None)
        if REDACTION.text(request_id) != request_id:  # in every line and span: never a secret
            request_id = uuid.uuid4().hex
        scope.setdefault("state", {})["request_id"] = request_id

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), (b"x-request-id", request_id.encode())]
            await send(message)

        with structlog.contextvars.bound_contextvars(request_id=request_id):
            await self.app(scope, receive, send_with_id)
