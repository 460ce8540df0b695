"""The candidate scan's engines: Hyperscan (`mcpdiag[fast]`) and the pure-Python fallback redact alike.

Every redaction test also runs on the fallback (`make test` runs them again with `MCPDIAG_REDACT_ENGINE=
stdlib`); here the two engines are compared on the same inputs, the Hyperscan scan is checked to report no
tag the pure-Python scan would not (its patterns only narrow literals), and the fallback is shown to take
over where Hyperscan is missing. Secrets are generated at run time.
"""

from __future__ import annotations

import json
import os
import secrets
import string
import subprocess
import sys
import threading
from pathlib import Path
from urllib.parse import quote

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mcpdiag.emitters import Redactor, redact_engine, redact_scan, redact_views
from mcpdiag.emitters.redact_keys import KEY_MARKERS

ROOT = Path(__file__).resolve().parents[2]
HAS_HYPERSCAN = "hyperscan" in redact_scan.available()
needs_hyperscan = pytest.mark.skipif(not HAS_HYPERSCAN, reason="hyperscan is not installed here")
PURE = Redactor(engine="stdlib")
FAST = Redactor(engine="hyperscan") if HAS_HYPERSCAN else PURE
FAST_SCAN = redact_engine.scanner("hyperscan") if HAS_HYPERSCAN else None
PURE_SCAN = redact_engine.scanner("stdlib")


def _token(prefix: str, n: int = 36) -> str:
    alphabet = string.ascii_letters + string.digits
    return prefix + "".join(secrets.choice(alphabet) for _ in range(n))


def _secret_texts() -> list[str]:
    tok = secrets.token_urlsafe(24)
    forms = [
        f"Authorization: Bearer {tok}",
        f"GET /cb?code={tok}&state=x",
        json.dumps({"client_secret": tok}),
        json.dumps(json.dumps({"headers": {"Authorization": f"Bearer {tok}"}})),
        f"next=%2Fhome%3Ftoken%3D{tok}",
        f"postgres://svc:{tok}@db.internal/app",
        f"curl -u admin:{tok} https://x.invalid",
        f"<password>{tok}</password>",
        f"<ns:token a='b'>{tok}</ns:token>",
        f"--password {tok}",
        f'[["Authorization", "Bearer {tok}"]]',
        f'{{"name": "X-Api-Key", "value": "{tok}"}}',
        f'<add key="ApiKey" value="{tok}"/>',
        f"mysql -u root -p{tok} db",
        "ghp_" + _token("", 36),
        _token("sk_live_", 24),
        f"token\\u003d{tok}",
        f"p&#97;ssword={tok}",
        quote(f"api_key={tok}", safe=""),
        f"Basic {secrets.token_hex(4)}==",
    ]
    return forms + [form.upper() for form in forms] + [f"{form} \u212a \u0130 \u017f" for form in forms]


ORDINARY = [
    "github is not accepting connections right now; try again in a moment.",
    'www-authenticate: Bearer realm="mcp", error="invalid_token"',
    "GET https://api.example.org/v1/search?q=a%20b&page=2 -> 200",
    r"spawn failed: C:\Users\alice\AppData\notion.exe",
    "the session worker closed the token bucket after the auth flow",
    '{"jsonrpc": "2.0", "error": {"data": {"trace": "File \\"/x.py\\", line 3\\n"}}}',
    "",
]

ATOMS = sorted(
    {
        *redact_engine.SCAN_LITERALS,
        *(m.upper() for m in KEY_MARKERS),
        *" \t\n=:;,&?#@/<>[]{}()\"'\\%-_.",
        "%3D", "%22", '\\"', "\\u0022", "&quot;", "&#61;", "Bearer ", "Basic ", "abcdef0123456789", "://u:",
        "\u212a", "\u0130", "\u017f", "é",
    }
    - {""}
)  # fmt: skip


@needs_hyperscan
@pytest.mark.parametrize("text", [*_secret_texts(), *ORDINARY])
def test_both_engines_redact_every_form_alike(text: str) -> None:
    fast, pure = FAST, PURE
    fast_counts: dict[str, int] = {}
    pure_counts: dict[str, int] = {}
    assert fast.text(text, fast_counts) == pure.text(text, pure_counts)
    assert fast_counts == pure_counts


@needs_hyperscan
@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.sampled_from(ATOMS), max_size=24).map("".join))
def test_both_engines_agree_on_any_mix_of_literals_contexts_and_escapes(text: str) -> None:
    fast, pure = FAST, PURE
    assert fast.text(text) == pure.text(text)
    assert fast.might_contain_secret(text) <= pure.might_contain_secret(text) or fast.text(text) == text


@needs_hyperscan
@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(ATOMS), max_size=24).map("".join))
def test_hyperscan_reports_no_tag_the_pure_python_scan_would_not(text: str) -> None:
    """Save the base64 tag: Hyperscan reports it where a form is (`BASE64_FORMS`), the pure-Python scan where
    a run may be; the rule reads runs only, so where the scans differ there is no run to read."""
    assert FAST_SCAN is not None
    fast, pure = FAST_SCAN.present(text), PURE_SCAN.present(text)
    assert fast - {redact_engine.BASE64_TAG} <= pure
    if redact_engine.BASE64_TAG in fast - pure:
        assert not redact_views.base64_runs(text)


@needs_hyperscan
def test_threads_share_one_hyperscan_redactor() -> None:
    redactor = Redactor(engine="hyperscan")
    texts = _secret_texts() + ORDINARY
    expected = [PURE.text(text) for text in texts]
    failures: list[int] = []

    def work() -> None:
        for _ in range(50):
            if [redactor.text(text) for text in texts] != expected:
                failures.append(1)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not failures


def _probe(code: str, **env: str) -> subprocess.CompletedProcess[str]:
    paths = os.pathsep.join(str(ROOT / part) for part in ("emitters", "collector", "api", "ui"))
    environment = {k: v for k, v in os.environ.items() if k != "MCPDIAG_REDACT_ENGINE"}
    environment.update(PYTHONPATH=paths, **env)
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, env=environment
    )


def test_without_hyperscan_the_pure_python_engine_redacts() -> None:
    token = _token("ghp_")
    code = (
        "import sys; sys.modules['hyperscan'] = None\n"
        "from mcpdiag.emitters import redact_engine, redact_text\n"
        f"print(redact_engine.ENGINE); print(redact_text('x {token} y'))"
    )
    run = _probe(code)
    assert run.returncode == 0, run.stderr
    engine, redacted = run.stdout.splitlines()
    assert engine == "stdlib"
    assert token not in redacted and "[REDACTED:github_token]" in redacted


@needs_hyperscan
def test_where_hyperscan_runs_it_is_the_default_engine() -> None:
    """The default falls back to the pure-Python engine only where Hyperscan cannot run, never because our
    own scanner failed to build (a bug there once made every redactor silently 3x slower)."""
    run = _probe("from mcpdiag.emitters import redact_engine; print(redact_engine.ENGINE)")
    assert run.returncode == 0 and run.stdout.strip() == "hyperscan", run.stderr
    assert redact_engine.ENGINE == "hyperscan" or os.environ.get("MCPDIAG_REDACT_ENGINE") == "stdlib"


def test_the_engine_variable_chooses_and_a_wrong_name_is_refused() -> None:
    code = "from mcpdiag.emitters import redact_engine; print(redact_engine.ENGINE)"
    run = _probe(code, MCPDIAG_REDACT_ENGINE="stdlib")
    assert run.returncode == 0 and run.stdout.strip() == "stdlib", run.stderr
    run = _probe("import mcpdiag.emitters", MCPDIAG_REDACT_ENGINE="turbo")
    assert run.returncode != 0
    assert "unknown redaction engine 'turbo'" in run.stderr
    with pytest.raises(ValueError, match="unknown redaction engine"):
        Redactor(engine="turbo")


_RUN_CHARS = st.sampled_from([*"aZ09+/_-=", "QUFB", "dG9rZW49", " ", "\\n", "%2B", "é", "\u00e9"])


@needs_hyperscan
@settings(max_examples=400, deadline=None)
@given(st.lists(st.one_of(_RUN_CHARS, st.integers(1, 40).map("Ab1+".__mul__)), max_size=30).map("".join))
def test_both_run_finders_find_the_same_runs_of_base64(text: str) -> None:
    """The Hyperscan run finder (one report per run, the rest matched from there) and the regex one agree,
    ASCII or not."""
    assert redact_scan.HyperscanRuns().runs(text) == redact_scan.StdlibRuns().runs(text)


@needs_hyperscan
@pytest.mark.parametrize(
    "text", ["", "x", "QUFB" * 9, "é" + "QUFB" * 9, "a=" + "Zm9v" * 5 + "==b", "Zm9v" * 4 + "-_x"]
)
def test_both_literal_finders_find_the_same_base64_forms(text: str) -> None:
    literals = redact_engine.BASE64_FORMS
    fast = redact_scan.HyperscanLiterals(literals).ends(text)
    assert sorted(fast) == sorted(redact_scan.StdlibLiterals(literals).ends(text))
