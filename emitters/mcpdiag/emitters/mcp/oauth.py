"""OAuth observation: the host's `OAuthClientProvider`, wrapped to report sign-in and bound the wait."""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncGenerator, Awaitable, Callable, Iterator
from contextlib import contextmanager
from typing import Any, Protocol
from urllib.parse import urlsplit

import anyio

from mcpdiag.emitters.mcp.sdk import http
from mcpdiag.emitters.mcp.tracing import body_trace_id

logger = logging.getLogger("mcpdiag.emitters")


class OAuthTimeoutError(TimeoutError):
    """The user did not finish signing in (the host's `callback_handler` did not return) in time."""


class OAuthCallbackError(RuntimeError):
    """The host's `callback_handler` failed: the authorization response was an error (the user refused
    consent, the server refused a scope) or the host could not receive it. The host's exception is the cause.
    """


class _Report(Protocol):
    def __call__(
        self,
        code: str,
        *,
        detail: str | None = None,
        duration_ms: float | None = None,
        trace_id: str | None = None,
    ) -> None: ...


class ObservedOAuth(http.Auth):
    """Wraps the host's OAuth provider (an `Auth` of the SDK line's httpx) without changing what it does.

    With an `OAuthClientProvider` (anything with a `context` holding `redirect_handler` and
    `callback_handler`), `attached()` puts wrappers around the host's two handlers for the session's
    lifetime: the redirect reports MCP_OAUTH_STARTED, the callback is bounded by `timeout` (the SDK has no
    bound of its own) and a new token reports MCP_OAUTH_COMPLETED. Client secrets, codes and tokens are
    handed to `register_secret` as soon as they exist. Any other `Auth` is only passed through.
    """

    def __init__(
        self,
        inner: http.Auth,
        *,
        timeout: float,
        report: _Report,
        register_secret: Callable[[str], None],
    ) -> None:
        self.inner = inner
        self.timeout = timeout
        self.requires_request_body = inner.requires_request_body
        self.requires_response_body = inner.requires_response_body
        self.failure: BaseException | None = None
        """The last exception the provider's flow raised (cleared by the next successful flow)."""
        self._report = report
        self._register = register_secret
        self._context: Any = getattr(inner, "context", None)
        self._started: float | None = None
        self._tokens: object = None
        self._request: http.Request | None = None

    @property
    def observable(self) -> bool:
        """Whether the provider exposes the handlers this wrapper needs (an `OAuthClientProvider`)."""
        return all(hasattr(self._context, name) for name in ("redirect_handler", "callback_handler"))

    @contextmanager
    def attached(self) -> Iterator[None]:
        """Wrap the provider's handlers while the block runs; put the host's own back afterwards."""
        if not self.observable:
            yield
            return
        context = self._context
        redirect, callback = context.redirect_handler, context.callback_handler
        self._tokens = context.current_tokens
        if redirect is not None:
            context.redirect_handler = self._redirect_wrapper(redirect)
        if callback is not None:
            context.callback_handler = self._callback_wrapper(callback)
        try:
            yield
        finally:
            context.redirect_handler, context.callback_handler = redirect, callback

    async def async_auth_flow(self, request: http.Request) -> AsyncGenerator[http.Request, http.Response]:
        """Run the provider's flow unchanged, watching what each step produced."""
        self._request = request
        flow = self.inner.async_auth_flow(request)
        try:
            outgoing = await flow.__anext__()
            while True:
                self._notice()
                response = yield outgoing
                outgoing = await flow.asend(response)
        except StopAsyncIteration:
            self.failure = None
        except Exception as exc:
            self.failure = exc
            raise
        finally:
            await flow.aclose()
            self._notice()

    def _redirect_wrapper(self, host: Callable[[str], Awaitable[None]]) -> Callable[[str], Awaitable[None]]:
        async def redirect_handler(authorization_url: str) -> None:
            self._started = time.monotonic()
            try:
                parts = urlsplit(authorization_url)
                endpoint = f"{parts.scheme}://{parts.netloc}{parts.path}"
                detail = f"authorization endpoint {endpoint}"
                self._report("MCP_OAUTH_STARTED", detail=detail, trace_id=self._trace_id())
            except Exception:  # reporting must never break the host's sign-in
                logger.debug("mcpdiag failed to report a sign-in start", exc_info=True)
            await host(authorization_url)

        return redirect_handler

    def _callback_wrapper(self, host: Callable[[], Awaitable[Any]]) -> Callable[[], Awaitable[Any]]:
        async def callback_handler() -> Any:
            try:
                with anyio.fail_after(self.timeout):
                    result = await host()
            except TimeoutError as exc:
                raise OAuthTimeoutError(f"sign-in not completed within {self.timeout:g} s") from exc
            except Exception as exc:
                raise OAuthCallbackError(f"the sign-in callback failed: {exc}") from exc
            # 2.x returns an AuthorizationCodeResult, 1.x a (code, state) tuple.
            code = result[0] if isinstance(result, tuple) and result else getattr(result, "code", None)
            if isinstance(code, str):
                self._notice_secret(code)
            return result

        return callback_handler

    def _notice_secret(self, value: str) -> None:
        try:
            self._register(value)
        except Exception:  # an SDK never breaks its host
            logger.debug("mcpdiag failed to register an OAuth secret", exc_info=True)

    def _notice(self) -> None:
        """Register new secrets; report a token obtained after a sign-in started. Never raises."""
        try:
            self._notice_changes()
        except Exception:  # an SDK never breaks its host
            logger.debug("mcpdiag failed to observe an OAuth step", exc_info=True)

    def _notice_changes(self) -> None:
        context = self._context
        if context is None:
            return
        client = getattr(context, "client_info", None)
        if isinstance(secret := getattr(client, "client_secret", None), str):
            self._register(secret)
        tokens = getattr(context, "current_tokens", None)
        if tokens is None or tokens is self._tokens:
            return
        self._tokens = tokens
        for name in ("access_token", "refresh_token", "id_token"):
            if isinstance(value := getattr(tokens, name, None), str):
                self._register(value)
        if self._started is not None and getattr(tokens, "access_token", None):
            took = (time.monotonic() - self._started) * 1000
            self._started = None
            self._report("MCP_OAUTH_COMPLETED", duration_ms=round(took, 1), trace_id=self._trace_id())

    def _trace_id(self) -> str | None:
        """The trace id of the MCP request that needed the sign-in, so its events share its trace."""
        request = self._request
        if request is None or request.method != "POST":
            return None
        try:
            return body_trace_id(request.content)
        except http.RequestNotRead:
            return None
