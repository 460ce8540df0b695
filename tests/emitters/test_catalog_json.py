"""`emitters/catalog.json`: the committed contract file matches the Python catalog; the vectors are sound."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mcpdiag.emitters.catalog_json import (
    CATALOG_PATH,
    SECRET_KINDS,
    catalog_document,
    catalog_text,
    main,
    redaction_vectors,
)
from mcpdiag.emitters.catalog_vectors import survivors
from mcpdiag.emitters.codes import CATALOG
from mcpdiag.emitters.redact import Redactor, redact_text


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
    fields = {"name", "class", "text", "value", "knownSecrets", "encodings", "survivesIn"}
    for case in catalog_document()["redactionCases"]:
        assert set(case) <= fields and ("text" in case) != ("value" in case), case["name"]
    first, second = redaction_vectors(1), redaction_vectors(1)
    assert [v["name"] for v in first] == [v["name"] for v in second]
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
    assert len(vectors) == len(redaction_vectors())
    for vector in vectors:
        redactor = Redactor(vector["knownSecrets"])
        counts: dict[str, int] = {}
        if vector.get("value"):
            assert redactor.value(vector["input"], counts) == vector["expected"], vector["name"]
        else:
            assert redactor.text(vector["input"], counts) == vector["expected"], vector["name"]
            assert vector["twice"] == vector["expected"], vector["name"]
        assert counts == vector["counts"] and list(counts) == list(vector["counts"]), vector["name"]
        # A case with secrets must lose every one of them, but where the case says the redactor lets it by.
        assert not survivors(vector) or vector.get("survives"), vector["name"]
        if vector["class"] == "kept":
            assert vector["expected"] == vector["input"], vector["name"]
