"""Every way an export file can be bad: a bad line is named by its number and field, a bad file says what
is wrong with it, and in every case nothing of it is stored and no staging file is left behind."""

from __future__ import annotations

import gzip
import json
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from mcpdiag.store import EventQuery, EventStore, InvalidExportError, RejectedLinesError
from mcpdiag.store.transfer import ExportSelection, import_file, plan_export, write_export
from mcpdiag.store.transfer.checks import parse_line
from mcpdiag.store.transfer.wire import MAX_LINE_BYTES
from tests.factories import NOW, FakeClock, make_event
from tests.store.transfer_support import read_lines, varied_events, write_lines

BAD_AT = 4
"""The line the corruptions below break: the third event (the header is line 1)."""


def edit(change: Callable[[dict[str, Any]], Any]) -> Callable[[str], str]:
    """A corruption that edits one event line's JSON object."""

    def apply(line: str) -> str:
        body = json.loads(line)
        result = change(body)
        return json.dumps(body if result is None else result)

    return apply


def _set(**fields: Any) -> Callable[[str], str]:
    return edit(lambda body: body.update(fields))


BAD_LINES: list[tuple[str, Callable[[str], str], str, str]] = [
    ("cut mid-way", lambda line: line[: len(line) // 2], "event", "is not valid JSON"),
    ("not an object", lambda line: "[1, 2, 3]", "event", "must be a JSON object"),
    ("a bare string", lambda line: '"hello"', "event", "must be a JSON object"),
    ("empty object", lambda line: "{}", "id", "Field required"),
    ("bad trace id", _set(traceId="not-hex"), "traceId", "should match pattern"),
    ("all-zero trace id", _set(traceId="0" * 32), "traceId", "all zeros"),
    ("unknown field", _set(colour="red"), "colour", "Extra inputs are not permitted"),
    ("ts without offset", _set(ts="2026-01-01T00:00:00"), "ts", "timezone"),
    ("ts a list", _set(ts=[2026]), "ts", ""),
    ("ts far in the future", _set(ts=(NOW + timedelta(days=1)).isoformat()), "ts", "in the future"),
    ("unknown severity", _set(severity="fatal"), "severity", "Input should be"),
    ("server with a newline", _set(server="git\nhub"), "server", "control characters"),
    ("server too long", _set(server="s" * 129), "server", "at most 128"),
    ("nested attr", _set(attrs={"deep": {"x": 1}}), "attrs", "must be a string"),
    ("too many attrs", _set(attrs={f"k{i}": i for i in range(33)}), "attrs", "at most 32"),
    ("http status text", _set(httpStatus="502"), "httpStatus", ""),
    # orjson would read these two as floats (the checks parse with it first): the standard parser decides.
    ("attr int over 64 bits", _set(attrs={"big": 2**70}), "attrs", "does not fit in 64 bits"),
    ("http status of 21 digits", _set(httpStatus=10**20), "httpStatus", "less than or equal to 599"),
    ("receivedAt not a time", _set(receivedAt="yesterday"), "receivedAt", "RFC 3339"),
    ("receivedAt without offset", _set(receivedAt="2026-01-01T00:00:00"), "receivedAt", "RFC 3339"),
    ("receivedAt before 1970", _set(receivedAt="1969-12-31T23:59:59Z"), "receivedAt", "from 1970"),
    (
        "receivedAt in the future",
        _set(receivedAt=(NOW + timedelta(days=3)).isoformat()),
        "receivedAt",
        "future",
    ),
    ("expireAt before ts", _set(expireAt="2001-01-01T00:00:00Z"), "expireAt", "earlier than ts"),
    ("expireAt a number", _set(expireAt=5), "expireAt", "RFC 3339"),
    ("a second header", lambda line: read_header_line(), "id", "Field required"),
    ("deeply nested", lambda line: "[" * 100_000 + "]" * 100_000, "event", ""),
    ("too long", lambda line: line[:-1] + ', "pad": "' + "x" * MAX_LINE_BYTES + '"}', "event", "longer than"),
    ("invalid UTF-8", lambda line: line.replace("github", "git\udcffhub"), "event", ""),
]
_HEADER: list[str] = []


def read_header_line() -> str:
    return _HEADER[0]


@pytest.fixture
async def export_path(tmp_path: Path, store: EventStore, clock: FakeClock) -> Path:
    """A valid export of 30 events (three servers) from the store under test."""
    await store.append(varied_events(clock, 30))
    plan = await plan_export(store, ExportSelection())
    path = tmp_path / "good.ndjson.gz"
    await write_export(store, plan, path)
    _HEADER[:] = [read_lines(path)[0]]
    return path


async def empty_target(tmp_path: Path, clock: FakeClock) -> EventStore:
    from mcpdiag.store import SQLiteEventStore

    target = SQLiteEventStore(tmp_path / "target.db", clock=clock)
    await target.ensure_schema()
    return target


def corrupt(path: Path, number: int, change: Callable[[str], str]) -> Path:
    lines = read_lines(path)
    lines[number - 1] = change(lines[number - 1])
    out = path.with_name("bad.ndjson.gz")
    data = "\n".join(lines).encode("utf-8", "surrogateescape") + b"\n"
    out.write_bytes(gzip.compress(data))
    return out


@pytest.mark.parametrize(("label", "change", "field", "words"), BAD_LINES, ids=[b[0] for b in BAD_LINES])
async def test_a_bad_line_is_named_by_number_and_field_and_nothing_is_imported(
    export_path: Path,
    tmp_path: Path,
    clock: FakeClock,
    label: str,
    change: Callable[[str], str],
    field: str,
    words: str,
) -> None:
    bad = corrupt(export_path, BAD_AT, change)
    target = await empty_target(tmp_path, clock)
    with pytest.raises(RejectedLinesError) as caught:
        await import_file(target, bad, stage_dir=tmp_path)
    (line, named, message), *_ = caught.value.problems
    assert (line, named) == (BAD_AT, field), caught.value.problems
    assert words in message
    assert f"line {BAD_AT}: {field}" in str(caught.value) and "nothing was imported" in str(caught.value)
    assert await target.list_servers() == [] and await target.count(EventQuery(server="github")) == 0
    assert stage_files(tmp_path) == []
    dry = await import_file(target, bad, dry_run=True)
    assert dry.problems[0][:2] == (BAD_AT, field) and dry.bad == 1
    assert dry.summary().endswith("the import would be refused")
    await target.close()


async def test_every_bad_line_is_counted_and_the_first_ones_described(
    export_path: Path, tmp_path: Path, clock: FakeClock
) -> None:
    lines = read_lines(export_path)
    for number in range(2, len(lines)):  # every event line
        lines[number - 1] = "{not json"
    bad = write_lines(tmp_path / "all-bad.gz", lines)
    target = await empty_target(tmp_path, clock)
    with pytest.raises(RejectedLinesError) as caught:
        await import_file(target, bad)
    assert caught.value.count == 30
    assert [p[0] for p in caught.value.problems] == list(range(2, 22))  # the first 20
    assert "and 29 more bad lines" in str(caught.value)
    await target.close()


def _gz(data: bytes) -> bytes:
    return gzip.compress(data)


def _replace_header(old: str, new: str) -> Callable[[bytes, list[str]], bytes]:
    return lambda raw, lines: _gz("\n".join([lines[0].replace(old, new), *lines[1:]]).encode())


def _lines(pick: Callable[[list[str]], list[str]]) -> Callable[[bytes, list[str]], bytes]:
    return lambda raw, lines: _gz("\n".join(pick(lines)).encode())


BAD_FILES: list[tuple[str, Callable[[bytes, list[str]], bytes], str, int]] = [
    ("not gzip", lambda raw, lines: "\n".join(lines).encode(), "not a readable gzip file", 1),
    ("empty file", lambda raw, lines: b"", "empty", 0),
    ("empty gzip", lambda raw, lines: _gz(b""), "empty", 0),
    ("cut short", lambda raw, lines: raw[: len(raw) // 2], "cut short", 0),
    ("a corrupted byte", lambda raw, lines: raw[:200] + bytes([raw[200] ^ 0xFF]) + raw[201:], "", 0),
    ("no end line", _lines(lambda lines: lines[:-1]), "ends without its end line", 32),
    (
        "end count wrong",
        _lines(lambda lines: [*lines[:-1], '{"end":{"events":29}}']),
        "counts 29 events but 30",
        32,
    ),
    ("a line after the end", _lines(lambda lines: [*lines, lines[1]]), "after the end", 33),
    ("no header", _lines(lambda lines: lines[1:]), "not an export header", 1),
    ("header not JSON", _lines(lambda lines: ["mcpdiag", *lines[1:]]), "not JSON", 1),
    ("a newer format", _replace_header('"version":1', '"version":7'), "newer mcpdiag", 1),
    ("header counts negative", _replace_header('"events":30', '"events":-1'), "counts.events", 1),
    ("a config backup", lambda raw, lines: _gz(b'{"kind": "mcpdiag-config"}\n'), "not an export", 1),
]


@pytest.mark.parametrize(("label", "make", "words", "line"), BAD_FILES, ids=[b[0] for b in BAD_FILES])
async def test_a_bad_file_says_what_is_wrong_and_nothing_is_imported(
    export_path: Path,
    tmp_path: Path,
    clock: FakeClock,
    label: str,
    make: Callable[[bytes, list[str]], bytes],
    words: str,
    line: int,
) -> None:
    bad = write_bad(tmp_path / "bad.gz", export_path, make)
    target = await empty_target(tmp_path, clock)
    for dry_run in (True, False):
        with pytest.raises(InvalidExportError) as caught:
            await import_file(target, bad, dry_run=dry_run, stage_dir=tmp_path)
        assert words in str(caught.value)
        if line:
            assert caught.value.line == line
    assert await target.list_servers() == []
    assert stage_files(tmp_path) == []
    await target.close()


async def test_a_file_that_inflates_past_the_bound_is_refused_early(tmp_path: Path, clock: FakeClock) -> None:
    """A gzip bomb: long lines of one letter compress to almost nothing (refused before the thousand bad
    lines that end a check are read)."""
    target = await empty_target(tmp_path, clock)
    header = json.loads(read_header_line_of(tmp_path, clock))
    bomb = tmp_path / "bomb.gz"
    bomb.write_bytes(
        gzip.compress(json.dumps(header).encode() + b"\n" + (b'{"x": "' + b"a" * 60_000 + b'"}\n') * 2_000, 9)
    )
    assert bomb.stat().st_size < 200_000
    with pytest.raises(InvalidExportError, match="inflates past 1,000,000 bytes"):
        await import_file(target, bomb, max_bytes=1_000_000)
    await target.close()


@pytest.mark.parametrize("where", ["before the header", "after the header", "before the end line"])
async def test_a_run_of_blank_lines_is_refused_at_its_line_without_reading_on(
    tmp_path: Path, clock: FakeClock, where: str
) -> None:
    """Blank lines are tolerated (hand-edited files end with some), a run past `MAX_BLANK_RUN` is not: each
    costs a read and none makes progress, and 300 MB of them compress to 300 KB. Refused at the line where
    the run passes the bound, whatever bound on size applies (none here)."""
    from mcpdiag.store.transfer.reader import MAX_BLANK_RUN

    target = await empty_target(tmp_path, clock)
    header = read_header_line_of(tmp_path, clock).encode() + b"\n"
    run = b"\n" * 50_000_000
    body = {
        "before the header": run + header,
        "after the header": header + run,
        "before the end line": (header + run + b'{"end": {"events": 0}}\n'),
    }[where]
    bomb = tmp_path / "blank.gz"
    bomb.write_bytes(gzip.compress(body, 9))
    with pytest.raises(InvalidExportError, match=f"more than {MAX_BLANK_RUN} blank lines in a row") as caught:
        await import_file(target, bomb)
    expected = MAX_BLANK_RUN + 1 + (where != "before the header")
    assert caught.value.line == expected
    await target.close()


async def test_a_few_blank_lines_anywhere_are_tolerated(tmp_path: Path, clock: FakeClock) -> None:
    from mcpdiag.store.transfer.reader import MAX_BLANK_RUN

    target = await empty_target(tmp_path, clock)
    path = tmp_path / "blanks.gz"
    header = read_header_line_of(tmp_path, clock).encode()
    path.write_bytes(gzip.compress(b"\n" * MAX_BLANK_RUN + header + b"\n" * MAX_BLANK_RUN + b"\n"))
    with pytest.raises(InvalidExportError, match="end line") as caught:
        await import_file(target, path)  # it has no end line: read to its end, past every blank line
    assert "blank lines" not in str(caught.value)
    await target.close()


async def test_an_overlong_line_is_skipped_without_being_held(tmp_path: Path, clock: FakeClock) -> None:
    """A 50 MB line is reported as one bad line; the reader never holds more than the line bound."""
    import tracemalloc

    target = await empty_target(tmp_path, clock)
    lines = [read_header_line_of(tmp_path, clock), "x" * 50_000_000, json.dumps(make_event().to_wire()),
             '{"end":{"events":2}}']  # fmt: skip
    path = write_lines(tmp_path / "long.gz", lines)
    tracemalloc.start()
    try:
        report = await import_file(target, path, dry_run=True)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert (report.bad, report.valid, report.problems[0][:2]) == (1, 1, (2, "event"))
    assert peak < 10 * MAX_LINE_BYTES + 2_000_000
    await target.close()


def read_header_line_of(tmp_path: Path, clock: FakeClock) -> str:
    return json.dumps({"format": "mcpdiag-events", "version": 1, "createdAt": clock.now.isoformat(),
                       "sourceHost": "h", "window": {}, "counts": {"events": 2}})  # fmt: skip


def stage_files(directory: Path) -> list[str]:
    """Staging files left in `directory`."""
    return [p.name for p in directory.iterdir() if p.suffix == ".stage"]


def write_bad(path: Path, good: Path, make: Callable[[bytes, list[str]], bytes]) -> Path:
    """The file `make` builds from a good export's bytes and lines."""
    path.write_bytes(make(good.read_bytes(), read_lines(good)))
    return path


async def test_what_a_problem_quotes_from_the_file_goes_through_the_redactor(
    export_path: Path, tmp_path: Path, clock: FakeClock
) -> None:
    """An unknown field's name is quoted in the problem: a secret used as a key must not come back out."""
    import functools
    import secrets

    from mcpdiag.store.transfer import default_redact

    secret = secrets.token_hex(20)
    bad = corrupt(export_path, BAD_AT, _set(**{f"key-{secret}": 1}))
    target = await empty_target(tmp_path, clock)
    with pytest.raises(RejectedLinesError) as caught:
        await import_file(target, bad, redact=functools.partial(default_redact, [secret]))
    assert secret not in str(caught.value) and secret not in json.dumps(caught.value.problems)
    assert caught.value.problems[0][0] == BAD_AT
    await target.close()


@pytest.mark.parametrize(
    "text",
    [
        '{"a": 1}',
        '{"n": 12345678901234567890123}',
        '{"n": -9223372036854775809}',
        '{"x": NaN}',
        '{"e": 1e400}',
        '{"s": "\\ud800"}',
        '{"u": "caf\u00e9"}',
        "[" * 2000 + "]" * 2000,
    ],
)
def test_a_line_is_parsed_to_what_json_loads_gives(text: str) -> None:
    """orjson first, the standard parser for what orjson refuses or reads differently: the same values."""
    for raw in (text, text.encode("utf-8", "surrogatepass")):
        try:
            expected: Any = json.loads(raw)
        except (ValueError, RecursionError) as exc:
            with pytest.raises(type(exc)):
                parse_line(raw)
            continue
        assert repr(parse_line(raw)) == repr(expected)
