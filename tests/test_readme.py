"""The README stays true: the two-command quick start exists, and every setting is documented."""

from __future__ import annotations

import re
from pathlib import Path

from mcpdiag.api.settings import ApiSettings
from mcpdiag.bundle.settings import BundleSettings
from mcpdiag.cli.settings import BackupSettings, ServeSettings
from mcpdiag.collector.settings import CollectorSettings

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()


def test_quick_start_is_exactly_make_demo_and_make_test() -> None:
    quick = README.split("## Quick start", 1)[1].split("```sh", 1)[1].split("```", 1)[0]
    commands = [line.split("#")[0].strip() for line in quick.strip().splitlines()]
    assert commands == ["make demo", "make test"]
    makefile = (ROOT / "Makefile").read_text()
    assert re.search(r"^demo:", makefile, re.M) and re.search(r"^test:", makefile, re.M)
    assert "make test" in (ROOT / ".ci" / "run").read_text()


def test_every_setting_is_in_the_settings_table() -> None:
    table = README.split("## Settings", 1)[1].split("\n## ", 1)[0]
    for settings in (CollectorSettings, ApiSettings, ServeSettings, BackupSettings, BundleSettings):
        for name in settings.model_fields:
            assert f"`MCPDIAG_{name.upper()}`" in table, name


def test_every_catalog_code_is_in_the_error_code_table() -> None:
    from mcpdiag.emitters import CATALOG

    table = README.split("## Error codes", 1)[1].split("\n## ", 1)[0]
    for code in CATALOG:
        assert code in table, code
