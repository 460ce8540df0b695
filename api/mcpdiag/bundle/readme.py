"""README.md of a bundle: what each file is, how the data was sanitized, and the security notice."""

from __future__ import annotations

from mcpdiag.bundle.markdown import md_text

SECURITY_NOTICE = (
    "This bundle was sanitized automatically, but it still describes your systems: server names, user ids, "
    "error details, host names and settings. Review it before sharing, and share it only with the people "
    "who need it."
)

FILES = (
    ("MANIFEST.json", "bundle version, when and where it was built, the scope, counts, every file's size and "
     "SHA-256, how much of the window retention still covers, redaction totals"),
    ("MANIFEST.sha256", "the SHA-256 of MANIFEST.json itself (`sha256sum -c MANIFEST.sha256`); "
     "MANIFEST.hmac, when present, its HMAC under the deployment's bundle key"),
    ("README.md", "this file"),
    ("summary.json", "counts by server, code, severity, touchpoint and UTC hour; first and last seen "
     "per code"),
    ("analysis.md", "findings ranked by severity and impact, each with the detail that decides it, what "
     "changed at its onset and what to check next; per server the failure codes, their share, onset and "
     "spikes"),
    ("events/<server>.jsonl", "the events of each server, one JSON object per line, oldest first"),
    ("redactions.json", "per file and per rule, how many values were redacted"),
    ("version.json", "application, Python, platform and key package versions"),
    ("system_info.json", "CPU, memory, disk and process figures of the machine that built the bundle"),
    ("settings.json", "the effective settings, without secret fields and without credentials in URLs"),
)  # fmt: skip


def render_readme(*, scope_text: str, event_count: int, include_detail: bool) -> str:
    """The README.md text for a bundle of `event_count` events (`scope_text` names servers and users: it
    is written as literal text)."""
    rows = "\n".join(f"| `{name}` | {what} |" for name, what in FILES)
    events = (
        f"It holds {event_count:,} events." if event_count else "No events matched this scope: it holds none."
    )
    detail = (
        "Technical detail (`detail`) is included."
        if include_detail
        else "Technical detail (`detail`) was left out at export (`includeDetail=false`)."
    )
    return f"""# mcpdiag support bundle

Scope: {md_text(scope_text)}. {events}

> **Security notice.** {SECURITY_NOTICE}

## Files

| file | what it holds |
|---|---|
{rows}

## How the data was sanitized

1. Emitters redact events before they leave the host, and the collector redacts them again on ingest.
2. At export every event was redacted once more with the current rules, because the rules may be newer
   than the stored data. Besides the token detectors (JWTs, provider key formats, URL passwords, HTTP
   credential headers, secret-looking fields and parameters), the values of secret settings and of
   secret-looking environment variables of the exporting process were removed wherever they appeared.
   Each removed value reads `[REDACTED:<rule>]`; `redactions.json` counts them per file and rule.
3. {detail}
4. `settings.json` leaves out every secret field and strips credentials from URLs.
5. A final leak scan read every file of the finished ZIP against the known secret values and the token
   detectors. The bundle is only delivered when that scan finds nothing.

## Checking and sharing it

- `mcpdiag bundle verify <file>` checks every file against MANIFEST.json, the manifest against its
  trailer, and runs the leak scan again; it exits 1 and names what changed otherwise.
- Send it encrypted: `mcpdiag bundle --recipient age1…` (or `--passphrase-file`) writes `.zip.age`, which
  `age -d` and `mcpdiag bundle decrypt` open; the plain ZIP is never written to disk on the way.
- A value that should not have left: `mcpdiag bundle redact <file> --secret-file values.txt` writes a new
  bundle without it, anywhere, and scans it again.
"""
