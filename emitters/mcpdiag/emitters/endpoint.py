"""A server's endpoint as its events may name it: where to re-check it, with nothing that can be a secret.

A URL keeps its scheme, host, port and path; its userinfo (user and password), query and fragment are
dropped, whatever they hold. A stdio server is named by its command's file name: never its arguments or
environment (both carry tokens), nor the directories before it (home directories name people). What is
left still goes through the redactor with the rest of the event (a token in a path is a token).
"""

from __future__ import annotations

from urllib.parse import urlsplit

from mcpdiag.emitters.text import token_cut

MAX_ENDPOINT_CHARS = 512


def url_endpoint(url: str) -> str | None:
    """`scheme://host[:port]/path` of `url` (lower-case scheme and host); None when it names no host."""
    try:
        parts = urlsplit(url.strip())
        host, port = parts.hostname, parts.port
    except ValueError:  # an unbracketed IPv6 address, a port out of range: nothing to name
        return None
    if not host or not parts.scheme:
        return None
    shown = f"[{host}]" if ":" in host else host
    netloc = f"{shown}:{port}" if port is not None else shown
    return token_cut(f"{parts.scheme.lower()}://{netloc}{parts.path}", MAX_ENDPOINT_CHARS)


def command_endpoint(command: str) -> str | None:
    """The file name of a stdio server's command (`npx`, `my-server`); None for an empty command."""
    # Either separator: a host on Windows names `C:\tools\srv.exe`; the folders are no one's business.
    name = command.strip().replace("\\", "/").rstrip("/").rpartition("/")[2]
    return token_cut(name, MAX_ENDPOINT_CHARS) or None
