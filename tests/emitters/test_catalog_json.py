"""`emitters/catalog.json`: the committed contract file matches the Python catalog; the vectors are sound."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mcpdiag.emitters.catalog_json import (
    CATALOG_PATH,
    REDACTION_CASES,
    SECRET_KINDS,
    catalog_document,
    catalog_text,
    main,
    redaction_vectors,
)
from mcpdiag.emitters.codes import CATALOG
from mcpdiag.emitters.redact import redact_text


def test_committed_catalog_json_is_what_the_python_catalog_generates() -> None:
    """A change to CATALOG, the wire limits or the cases without regenerating the file fails here."""
    assert CATALOG_PATH.read_text(encoding="utf-8") == catalog_text(), (
        "emitters/catalog.json is stale: run `python -m mcpdiag.emitters.catalog_json`"
    )


def test_every_catalog_entry_is_in_the_document_field_for_field() -> None:
    codes = catalog_document()["codes"]
    assert list(codes) == list(CATALOG)
    for code, info in CATALOG.items():
        entry = codes[code]
        assert (entry["severity"], entry["retryable"], entry["action"]) == (
            info.severity.value,
            info.retryable,
            info.action.value,
        )
        assert entry["message"] == info.message and entry["title"] == info.title


def test_check_mode_fails_on_a_stale_file_and_passes_on_a_fresh_one(tmp_path: Path) -> None:
    stale = tmp_path / "catalog.json"
    stale.write_text(catalog_text().replace("MCP_TIMEOUT", "MCP_TIMEOUT_X", 1), encoding="utf-8")
    assert main(["--check", "--output", str(stale)]) == 1
    assert main(["--output", str(stale)]) == 0
    assert main(["--check", "--output", str(stale)]) == 0


def test_case_templates_hold_no_literal_secret() -> None:
    """Templates only name secret kinds; every generated secret differs between two runs."""
    for case in REDACTION_CASES:
        assert set(case) <= {"name", "text", "knownSecrets"}, case["name"]
    first, second = redaction_vectors(1), redaction_vectors(1)
    for a, b in zip(first, second, strict=True):
        assert set(a["secrets"]).isdisjoint(b["secrets"]), a["name"]


@pytest.mark.parametrize("kind", sorted(SECRET_KINDS))
def test_every_secret_kind_is_caught_by_the_redactor(kind: str) -> None:
    secret = SECRET_KINDS[kind]()
    assert secret not in redact_text(f"failed with {secret} here", known_secrets=[secret])


def test_vectors_expect_the_python_redactors_output_and_no_secret_survives(tmp_path: Path) -> None:
    out = tmp_path / "vectors.json"
    assert main(["--vectors", str(out)]) == 0
    vectors = json.loads(out.read_text(encoding="utf-8"))["vectors"]
    assert len(vectors) == 3 * len(REDACTION_CASES)
    for vector in vectors:
        assert redact_text(vector["input"], known_secrets=vector["knownSecrets"]) == vector["expected"]
        # A kept case's input is its expected output; a case with secrets must lose every one of them.
        for secret in vector["secrets"]:
            assert secret not in vector["expected"], vector["name"]
        if not vector["secrets"] and not vector["knownSecrets"]:
            assert vector["expected"] == vector["input"] or "[REDACTED:" in vector["expected"], vector["name"]
