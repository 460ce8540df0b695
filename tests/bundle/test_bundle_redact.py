"""Re-redaction: values and RE2 patterns removed from every member (names included), the counts, manifest
and trailer updated, the leak scan run again; hostile patterns refused or matched in linear time."""

from __future__ import annotations

import io
import json
import secrets
import subprocess
import sys
import textwrap
import zipfile
from datetime import timedelta
from pathlib import Path
from urllib.parse import quote

import pytest
from pyrage import x25519
from typer.testing import CliRunner

from mcpdiag.bundle import BundleScope
from mcpdiag.bundle.crypt import DecryptionKeys, Encryption, decrypt_file
from mcpdiag.bundle.errors import InvalidKeyError, InvalidPatternError
from mcpdiag.bundle.patterns import PatternSet, compile_pattern
from mcpdiag.bundle.redact import read_secret_file, redact_bundle
from mcpdiag.bundle.verify import verify_bundle
from mcpdiag.cli.app import app
from mcpdiag.store import SQLiteEventStore
from tests.api.support import NOW, T0
from tests.bundle.test_bundle import export, members
from tests.factories import DAY, make_event


def every_form(value: str) -> list[str]:
    return [value, quote(value, safe=""), json.dumps(value)[1:-1], value.replace("-", "\\u002d")]


@pytest.fixture
async def customer(store: SQLiteEventStore, tmp_path: Path) -> tuple[Path, str]:
    """A bundle in which a generated customer name is a server, a user, in details, attrs and the scope."""
    name = f"acme{secrets.token_hex(4)}"
    await store.append(
        [
            make_event(
                server=f"{name}-jira", ts=T0, user_id=f"{name}-ops", detail=f"GET https://{name}.invalid/mcp"
            ),
            make_event(
                server="github", ts=T0 + timedelta(minutes=1), user_id=f"{name}-ops", attrs={"tenant": name}
            ),
            make_event(
                server="github", ts=T0 + timedelta(minutes=2), detail=f"ticket {name.upper()}-1234 open"
            ),
        ]
    )
    scope = BundleScope.parse(from_=f"{DAY}T00:00:00Z", to=f"{DAY}T12:00:00Z", user_id=f"{name}-ops", now=NOW)
    return (await export(store, tmp_path / "out", scope)).path, name


def test_a_value_is_removed_from_every_member_and_name(customer: tuple[Path, str], tmp_path: Path) -> None:
    bundle, name = customer
    assert any(name in data.decode() for data in members(bundle).values())
    out = tmp_path / "redacted"
    out.mkdir()
    result = redact_bundle(bundle, out, secrets=[name], now=NOW)
    files = members(result.path)
    for member, data in files.items():
        text = data.decode()
        for form in every_form(name):
            assert form not in text and form not in member, (member, form)
    assert (
        f"events/{name}-jira.jsonl" in result.renamed and result.renamed[f"events/{name}-jira.jsonl"] in files
    )
    assert {"analysis.md", "summary.json", "MANIFEST.json"} <= set(result.by_file)
    assert all(set(rules) == {"known_secret"} for rules in result.by_file.values())
    manifest = json.loads(files["MANIFEST.json"])
    assert manifest["scope"]["userId"] == "[REDACTED:known_secret]-ops"
    assert manifest["re_redactions"][-1] == {
        "at": f"{NOW:%Y-%m-%dT%H:%M:%S}.000Z",
        "values": 1,
        "patterns": 0,
        "removed": result.total,
    }
    counted = {
        e["file"]: {r["rule"]: r["count"] for r in e["rules"]} for e in json.loads(files["redactions.json"])
    }
    for file, rules in result.by_file.items():
        assert counted[file]["known_secret"] >= rules["known_secret"]
    assert manifest["redactions"]["total"] == sum(sum(r.values()) for r in counted.values())
    report = verify_bundle(result.path, known_secrets=[name])
    assert report.ok, report.lines()
    # Redacting again with the same value finds nothing more.
    again = redact_bundle(result.path, out, secrets=[name], now=NOW)
    assert again.total == 0 and again.path.name.endswith("-redacted-redacted.zip")


def test_patterns_are_removed_everywhere_and_twice_is_once(
    customer: tuple[Path, str], tmp_path: Path
) -> None:
    bundle, name = customer
    patterns = PatternSet([r"(?i)acme[0-9a-f]{8}-[0-9]{4}", r"\bgithub\b"])
    result = redact_bundle(bundle, tmp_path, patterns=patterns, now=NOW)
    files = members(result.path)
    assert patterns.hits[0] >= 1 and patterns.hits[1] >= 3
    assert (
        f"{name.upper()}-1234"
        not in files[result.renamed.get("events/github.jsonl", "events/github.jsonl")].decode()
    )
    for member, data in files.items():
        assert "github" not in data.decode() and "github" not in member, member
    assert "[REDACTED:pattern]" in files["analysis.md"].decode()
    # Again, with a pattern that only matches inside the placeholders: nothing changes.
    second = PatternSet([r"(?i)acme[0-9a-f]{8}-[0-9]{4}", r"\bgithub\b", r"pattern\]"])
    assert redact_bundle(result.path, tmp_path, patterns=second, now=NOW).total == 0
    assert verify_bundle(result.path).ok


def test_an_encrypted_copy_is_written_without_a_plaintext_file(
    customer: tuple[Path, str], tmp_path: Path
) -> None:
    bundle, name = customer
    identity = x25519.Identity.generate()
    out = tmp_path / "sealed"
    out.mkdir()
    result = redact_bundle(
        bundle, out, secrets=[name], encryption=Encryption.to_recipients([str(identity.to_public())]), now=NOW
    )
    assert [p.name for p in out.iterdir()] == [result.path.name] and result.path.name.endswith(
        "-redacted.zip.age"
    )
    plain = io.BytesIO()
    decrypt_file(result.path, plain, DecryptionKeys((identity,)))
    with zipfile.ZipFile(plain) as zf:
        assert all(name not in zf.read(n).decode() for n in zf.namelist())


@pytest.mark.parametrize(
    ("pattern", "reason"),
    [
        ("a*", "matches the empty string"),
        (r"\b", "matches the empty string"),
        ("(|x)", "matches the empty string"),
        ("^", "matches the empty string"),
        ("", "is empty"),
        ("x" * 600, "longer than 512"),
    ],
)
def test_hostile_or_useless_patterns_are_refused(pattern: str, reason: str) -> None:
    with pytest.raises(InvalidPatternError, match=reason) as caught:
        compile_pattern(pattern, 3)
    assert caught.value.status == 400 and caught.value.message.startswith("pattern 3:")


# What RE2 lacks, by name: a refusal names the feature the pattern used, and a malformed pattern is named
# malformed (RE2's own reason) without a feature it does not use.
_FEATURES = ("backreferences", "lookaround", "atomic groups", "possessive", "repetition counts", "recursion",
             "subroutine calls", "conditionals", "comments", "branch reset", "quoted group names",
             "inline flag", "the escape")  # fmt: skip


@pytest.mark.parametrize(
    ("pattern", "feature"),
    [
        (r"(\w+)\1", "backreferences"),
        (r"(?P<word>\w+)-(?P=word)", "backreferences"),
        (r"(?P<word>\w+)\k<word>", "backreferences"),
        (r"(?=secret)\w+", "lookaround"),
        (r"(?!x)y", "lookaround"),
        (r"(?<=key=)\w+", "lookaround"),
        (r"(?<!x)y", "lookaround"),
        (r"(?>ab|a)c", "atomic groups"),
        (r"a++b", "possessive"),
        (r"\d*+", "possessive"),
        ("a{5000}", "repetition counts"),
        ("(((a{1000}){1000}){1000})", "repetition counts"),
        ("(?R)", "recursion"),
        ("(a)(?1)", "subroutine calls"),
        ("(?P<w>a)(?P>w)", "subroutine calls"),
        ("(?&w)", "subroutine calls"),
        ("(a)?(?(1)a|b)", "conditionals"),
        ("a(?#note)b", "comments"),
        ("(?|a|b)", "branch reset"),
        ("(?'w'a)", "quoted group names"),
        ("(?x) a b", "inline flag"),
        ("(?u)a", "inline flag"),
        (r"a\Z", "the escape"),
        (r"\Ga", "the escape"),
        (r"a\Kb", "the escape"),
        (r"\h+", "the escape"),
        ("(abc", None),
        ("[unclosed", None),
        ("a{2,1}", None),
        ("[z-a]", None),
        ("a**", None),
        ("(?i", None),
        (r"\p{NoSuchClass}", None),
    ],
)
def test_a_refused_pattern_names_what_it_used_that_re2_lacks_and_nothing_else(
    pattern: str, feature: str | None
) -> None:
    with pytest.raises(InvalidPatternError) as caught:
        compile_pattern(pattern, 1)
    message = caught.value.message
    assert message.startswith("pattern 1: not accepted by RE2 ("), message
    named = [name for name in _FEATURES if name in message]
    assert named == ([feature] if feature else []), message
    if feature is None:
        assert "not supported" not in message, message


@pytest.mark.parametrize(
    ("pattern", "refused"),
    [
        ("a{,5}", True),
        ("x[ab]{,12}y", True),
        (r"a\\{,5}", True),  # an escaped backslash, then the count
        (r"\[a{,5}]", True),  # an escaped bracket opens no class
        (r"a\{,5}", False),
        ("x[{,5}]", False),
        ("xa{0,5}", False),
    ],
)
def test_a_count_without_its_least_is_refused_rather_than_read_as_text(pattern: str, refused: bool) -> None:
    """Python reads `{,5}` as `{0,5}`, RE2 as the text "{,5}": a pattern meant one way must not silently
    match the other (escaped, or inside a class, it is a brace either way)."""
    if refused:
        with pytest.raises(InvalidPatternError, match=r"write \{0,n\}"):
            compile_pattern(pattern, 1)
    else:
        compile_pattern(pattern, 1)


@pytest.mark.parametrize(
    ("pattern", "reference"),
    [
        (r"(\w)\10", r"\10 is a backreference to group 10, which RE2 reads as the character \x08"),
        ("(a)(b)(c)(d)(e)(f)(g)(h)(i)(j)\\10", r"\10 is a backreference to group 10"),
        (r"(x)\108", r"\10 is a backreference to group 10"),
        (r"\77", r"\77 is a backreference to group 77, which RE2 reads as the character \x3f"),
        (r"a\\\12", r"\12 is a backreference"),  # an escaped backslash, then the reference
        (r"\100", None),  # three octal digits: a character code to both
        (r"\012", None),
        (r"[\10]", None),  # in a class: a character code to both
        (r"a\\10", None),  # an escaped backslash and the text "10"
    ],
)
def test_a_two_digit_backreference_is_refused_rather_than_read_as_a_character(
    pattern: str, reference: str | None
) -> None:
    """Python reads `\\10` as a backreference to group 10 (an error with fewer groups), RE2 silently as the
    character code 8: refused, saying so, where the two would differ."""
    if reference is None:
        compile_pattern(pattern, 1)
        return
    with pytest.raises(InvalidPatternError) as caught:
        compile_pattern(pattern, 1)
    message = caught.value.message
    assert message.startswith(f"pattern 1: {reference}") and "backreferences are not supported" in message


def test_too_many_patterns_are_refused() -> None:
    with pytest.raises(InvalidPatternError, match="at most 32"):
        PatternSet(["x"] * 33)


def test_catastrophic_patterns_run_in_linear_time_on_adversarial_text() -> None:
    """Patterns that take exponential time in a backtracking engine, on the strings that trigger it (100k
    characters): with RE2 they finish and redact what they should. In a subprocess whose bound only keeps
    a regression from hanging the suite (a backtracking engine would need years)."""
    script = textwrap.dedent(
        """
        from mcpdiag.bundle.patterns import PatternSet
        text = "a" * 100_000 + "!"
        for pattern in [r"(a+)+!", r"(a+)+$", r"(a|aa)*b", r"(a|a)*c", r"(.*a){20}z", r"(\\w+\\s?)*$!"]:
            counts = {}
            out = PatternSet([pattern]).sub(text, counts)
            print(pattern, counts.get("pattern", 0), len(out))
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=True
    )
    rows = [line.split() for line in done.stdout.splitlines()]
    assert [r[1] for r in rows] == ["1", "0", "0", "0", "0", "0"], done.stdout
    assert rows[0][2] == str(len("[REDACTED:pattern]"))  # the whole text matched


def test_secret_files_are_read_and_short_values_refused(tmp_path: Path) -> None:
    good = tmp_path / "good.txt"
    good.write_text("  first-value  \n\nsecond-value\n")
    assert read_secret_file(good) == ["first-value", "second-value"]
    short = tmp_path / "short.txt"
    short.write_text("fine-value\nabc\n")
    with pytest.raises(InvalidKeyError, match="line 2: a value shorter than 4 characters"):
        read_secret_file(short)


async def test_the_cli_redacts_and_reports(customer: tuple[Path, str], tmp_path: Path) -> None:
    bundle, name = customer
    values = tmp_path / "values.txt"
    values.write_text(name + "\n")
    runner = CliRunner()
    answer = runner.invoke(
        app,
        [
            "bundle",
            "redact",
            str(bundle),
            "--secret-file",
            str(values),
            "--pattern",
            r"ticket \S+",
            "-o",
            str(tmp_path),
        ],
    )
    assert answer.exit_code == 0, answer.output
    assert "removed:" in answer.output and "pattern 1: 1 matches" in answer.output
    assert f"renamed events/{name}-jira.jsonl" in answer.output
    assert "the leak scan of the new bundle found nothing" in answer.output
    answer = runner.invoke(app, ["bundle", "redact", str(bundle), "--pattern", r"(\w)\1"])
    assert answer.exit_code == 2 and "pattern 1: not accepted by RE2" in answer.output
    answer = runner.invoke(app, ["bundle", "redact", str(bundle)])
    assert answer.exit_code == 2 and "what should be removed" in answer.output
