"""Names, codes and counters are data: a bundle of servers and touchpoints named like secrets exports whole,
with every count intact, and the leak gate tells a key that names a secret from a name that is data."""

from __future__ import annotations

import base64
import json
import secrets
import string
import threading
import zipfile
from collections.abc import Sequence
from datetime import timedelta
from pathlib import Path
from urllib.parse import quote

import pytest

from mcpdiag.bundle import BundleError, BundleScope, LeakDetectedError, export_bundle, scan_bundle
from mcpdiag.bundle.exporter import _sanitized
from mcpdiag.bundle.leakscan import LeakScanner
from mcpdiag.bundle.sanitize import CleanBatch, EventSanitizer
from mcpdiag.store import SQLiteEventStore
from tests.api.support import NOW, T0
from tests.emitters.secret_forms import Secret, chars, context_cases, survivors, token_cases
from tests.factories import DAY, make_event

WINDOW = {"from_": f"{DAY}T00:00:00Z", "to": f"{DAY}T12:00:00Z"}
# Every secret word of the redactor, as server names people really give their servers.
NAMES = ["google-oauth", "1password", "auth", "session", "vault-token", "api-key", "secret-store",
         "cookie", "passwords", "credentials", "signature-service", "pwd", "oauth", "private-key",
         "X-Api-Key"]  # fmt: skip


# Names under which a number is a count: the kind-of-thing words, and the plural of any secret word.
COUNTED = ["google-oauth", "auth", "session", "vault-token", "cookie", "oauth", "X-Auth-Token", "passwords",
           "credentials", "tokens", "secrets", "api_keys"]  # fmt: skip


async def _export(store: SQLiteEventStore, out: Path, helper: bool) -> dict[str, bytes]:
    out.mkdir(exist_ok=True)  # noqa: ASYNC240
    result = await export_bundle(
        store,
        BundleScope.parse(**WINDOW, now=NOW),
        out_dir=out,
        settings_snapshot={},
        environ={},
        app_version="9.9.9",
        now=NOW,
        scan_helper=helper,
    )
    with zipfile.ZipFile(result.path) as zf:
        return {name: zf.read(name) for name in zf.namelist()}


@pytest.mark.parametrize("helper", [False, True], ids=["scan-in-process", "scan-helper"])
async def test_servers_named_like_secrets_export_with_their_counts(
    store: SQLiteEventStore, tmp_path: Path, helper: bool
) -> None:
    events = [
        make_event(server=name, ts=T0 + timedelta(minutes=i), code=code, touchpoint=touchpoint)
        for n, name in enumerate(NAMES)
        for i, (code, touchpoint) in enumerate(
            [("MCP_OAUTH_TIMEOUT", "oauth"), ("MCP_TIMEOUT", "connect")][: 1 + n % 2]
        )
    ]
    await store.append(events)
    files = await _export(store, tmp_path / "out", helper)
    expected = {name: 1 + n % 2 for n, name in enumerate(NAMES)}
    manifest = json.loads(files["MANIFEST.json"])
    assert {row["server"]: row["events"] for row in manifest["counts"]["by_server"]} == expected
    assert manifest["counts"]["events"] == len(events) and manifest["redactions"]["total"] == 0
    summary = json.loads(files["summary.json"])
    assert {row["server"]: row["occurrences"] for row in summary["by_server"]} == expected
    assert {row["touchpoint"]: row["occurrences"] for row in summary["by_touchpoint"]} == {
        "oauth": len(NAMES),
        "connect": len(events) - len(NAMES),
    }
    failures = {row["server"]: row["total"] for row in summary["failures_by_server"]}
    assert failures == expected
    assert "[REDACTED" not in files["summary.json"].decode() + files["MANIFEST.json"].decode()
    for name in NAMES:
        assert name in files["analysis.md"].decode()


def _zip(path: Path, members: dict[str, str]) -> Path:
    with zipfile.ZipFile(path, "w") as zf:
        for name, text in members.items():
            zf.writestr(name, text)
    return path


@pytest.mark.parametrize(
    "document",
    [
        {"counts": {name: 5 for name in COUNTED}},
        {"by_touchpoint": {"oauth": 3, "session": 0.5}, "flags": {"auth": True, "token": None}},
        {"servers": [{"server": name, "events": 2} for name in NAMES]},
        {"steps": [{"name": "oauth", "status": "skipped"}]},
    ],
)
def test_the_leak_gate_passes_names_and_counters(tmp_path: Path, document: dict[str, object]) -> None:
    text = json.dumps(document, indent=2)
    path = _zip(tmp_path / "b.zip", {"summary.json": text, "events/a.jsonl": json.dumps(document) + "\n"})
    assert scan_bundle(path, []) == 2


@pytest.mark.parametrize(
    "document",
    [
        {"password": "hunter2-" + secrets.token_hex(4)},
        {"attrs": {"session": "s-" + secrets.token_hex(8)}},
        {"pin_password": 123456},
        {"har": [{"name": "Authorization", "value": "Bearer " + secrets.token_hex(4)}]},
        {"attrs": {"ghp_" + secrets.token_hex(18): 1}},
        {"detail": "a%3Dghp_" + secrets.token_hex(18)},
        {"detail": json.dumps({"client_secret": secrets.token_hex(8)})},
    ],
)
def test_the_leak_gate_refuses_a_key_that_names_a_secret_with_leak_detected(
    tmp_path: Path, document: dict[str, object]
) -> None:
    path = _zip(tmp_path / "b.zip", {"events/a.jsonl": json.dumps(document) + "\n"})
    with pytest.raises(LeakDetectedError) as caught:
        scan_bundle(path, [])
    assert isinstance(caught.value, BundleError) and caught.value.code == "leak_detected"
    assert caught.value.file == "events/a.jsonl"


def test_sanitizer_and_leak_scan_agree_on_every_encoded_secret() -> None:
    """What the sanitizer writes passes the scan, and what it would have had to redact fails it."""
    cases = [*token_cases(), *context_cases()][::3]
    docs = [
        {"id": str(i), "server": "s", "detail": case.text, "attrs": {"note": case.text, case.text: 1}}
        for i, case in enumerate(cases)
    ]
    lines = [json.dumps(doc, separators=(",", ":")) for doc in docs]
    batch = EventSanitizer(()).json_lines(lines)
    scanner = LeakScanner(())
    for case, raw, clean in zip(cases, lines, batch.lines, strict=True):
        assert not survivors(case.secret, clean), case.name  # base64 included
        assert scanner.value(json.loads(clean)) is None, case.name
        assert scanner.value(json.loads(raw)) is not None, case.name


async def test_a_batch_of_much_text_is_sanitized_off_the_event_loop() -> None:
    """The exporter hands a large batch to a worker thread: the loop keeps answering while it is redacted."""
    loop_thread = threading.get_ident()
    seen: list[int] = []

    class Watching(EventSanitizer):
        def json_lines(self, texts: Sequence[str]) -> CleanBatch:
            seen.append(threading.get_ident())
            return super().json_lines(texts)

    sanitizer = Watching(())
    small = [json.dumps({"id": "1", "server": "s", "detail": "short"})]
    large = [json.dumps({"id": str(i), "server": "s", "detail": "key" * 1000}) for i in range(30)]
    assert (await _sanitized(sanitizer, small)).lines == small and seen[-1] == loop_thread
    assert (await _sanitized(sanitizer, large)).lines == large and seen[-1] != loop_thread


@pytest.mark.parametrize("name_key", ["name", "Name", "key", "header"])
def test_a_name_value_pair_is_redacted_by_the_fast_path_and_refused_by_the_scan(name_key: str) -> None:
    """`attrs` shaped as a header pair: the batch shortcut must not take its value for clean."""
    token = "".join(secrets.choice(string.ascii_letters) for _ in range(7))  # too short for the Bearer rule
    clean = {"id": "1", "server": "s", "touchpoint": "oauth", "attrs": {"x": "plain"}}
    pair = {"id": "2", "server": "s", "attrs": {name_key: "Authorization", "value": f"Bearer {token}"}}
    lines = [json.dumps(doc, separators=(",", ":")) for doc in (clean, pair, clean)]
    batch = EventSanitizer(()).json_lines(lines)
    assert token not in "\n".join(batch.lines)
    assert json.loads(batch.lines[1])["attrs"]["value"] == "Bearer [REDACTED:secret_key]"
    scanner = LeakScanner(())
    assert scanner.suspects(lines) == [1]
    assert scanner.value(json.loads(lines[1])) == "secret_key"


def test_a_known_secret_in_base64_is_sanitized_and_refused_by_the_scan() -> None:
    """The bundle's needles are the redactor's: a known secret base64-encoded (no rule would see it) is found
    by the line gate, redacted by the sanitizer and refused by the leak scan."""
    known = chars(24)
    blob = base64.b64encode(f"user=app;x={known};".encode()).decode()  # no word a rule knows
    line = json.dumps({"id": "1", "server": "s", "detail": f"config {blob}"}, separators=(",", ":"))
    clean = EventSanitizer((known,)).json_lines([line]).lines[0]
    assert "[REDACTED:known_secret]" in clean and not survivors(Secret("k", known, known), clean), clean
    scanner = LeakScanner((known,))
    assert scanner.value(json.loads(clean)) is None
    assert scanner.value(json.loads(line)) is not None


@pytest.mark.parametrize("helper", [False, True], ids=["scan-in-process", "scan-helper"])
async def test_a_known_secret_of_bytes_that_are_not_utf8_is_exported_around_in_every_form(
    store: SQLiteEventStore, tmp_path: Path, helper: bool
) -> None:
    """An environment variable holding bytes that are not UTF-8 reaches Python as lone surrogates
    (`surrogateescape`): the export takes it as a known secret, raises on none of its forms, and writes it
    in none (as it is, percent-encoded as its bytes, in base64 of its bytes)."""
    from urllib.parse import quote

    secret = chars(12) + "\udcff" + chars(8)
    raw = secret.encode("utf-8", "surrogateescape")
    blob = base64.b64encode(b"cfg " + raw + b" end").decode()
    detail = f"GET /cb?state={quote(raw, safe='')}&page=2 loaded {blob}"
    await store.append([make_event(server="github", ts=T0, detail=detail)])
    out = tmp_path / "out"
    out.mkdir()
    result = await export_bundle(
        store,
        BundleScope.parse(**WINDOW, now=NOW),
        out_dir=out,
        settings_snapshot={},
        environ={"API_TOKEN": secret},
        app_version="9.9.9",
        now=NOW,
        scan_helper=helper,
    )
    with zipfile.ZipFile(result.path) as zf:
        written = b"\n".join(zf.read(name) for name in zf.namelist())
    assert quote(raw, safe="").encode() not in written and blob.encode() not in written
    assert b"[REDACTED:known_secret]" in written


@pytest.mark.parametrize("helper", [False, True], ids=["scan-in-process", "scan-helper"])
async def test_a_secret_set_only_in_the_env_file_is_redacted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, helper: bool
) -> None:
    """The runbook loads `.env` without exporting it, and `MCPDIAG_CONFIG_SECRET` is in no settings the
    service holds: found by an adversarial pass, such a value was exported in every form and the leak scan
    passed it. The `.env` the settings read is the deployment's environment too (`deployment_environ`)."""
    value = chars(12) + "/+" + chars(12)
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MCPDIAG_CONFIG_SECRET", raising=False)
    (tmp_path / ".env").write_text(f"MCPDIAG_STORE_URL=sqlite:///x.db\nMCPDIAG_CONFIG_SECRET={value}\n")
    forms = (value, quote(value, safe=""), json.dumps(value)[1:-1])
    store = SQLiteEventStore(tmp_path / "events.db")
    await store.ensure_schema()
    await store.append([make_event(detail=f"config sealed with {form}", ts=T0) for form in forms])
    (tmp_path / "out").mkdir()
    result = await export_bundle(
        store,
        BundleScope.parse(**WINDOW, now=NOW),
        out_dir=tmp_path / "out",
        settings_snapshot={},
        app_version="9.9.9",
        now=NOW,
        scan_helper=helper,
    )
    await store.close()
    with zipfile.ZipFile(result.path) as zf:
        every = b"".join(zf.read(name) for name in zf.namelist()).decode()
    assert all(form not in every for form in forms)
    assert every.count("[REDACTED:known_secret]") >= len(forms)
