"""The scan helper: it follows members while they are written, counts a member as scanned only when the
finished ZIP confirms what it read, and the exporter scans in its own process whenever the helper fails."""

from __future__ import annotations

import asyncio
import io
import json
import os
import secrets
import signal
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import IO

import pytest

from mcpdiag.bundle import LeakDetectedError, scan_bundle
from mcpdiag.bundle.leakscan import CHUNK
from mcpdiag.bundle.scanhelper import HELPER_MODULE, ScanFollow, ScanHelper, usable_cpus
from mcpdiag.bundle.streamscan import StreamHelper
from mcpdiag.bundle.tailscan import Follower, serve
from mcpdiag.store import SQLiteEventStore
from tests.api.support import gone, helpers, kill_helpers
from tests.bundle.test_bundle import T0, export, members, rand
from tests.factories import make_event
from tests.waiting import eventually

MEMBER = "events/github.jsonl"


def noise(lines: int) -> bytes:
    """Clean JSON Lines that deflate cannot shrink much, so the compressor hands its output to the file."""
    return b"".join(json.dumps({"detail": secrets.token_hex(48)}).encode() + b"\n" for _ in range(lines))


class PartialZip:
    """A ZIP being written the way the exporter writes it: one deflated member at a time, flushed."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.raw: IO[bytes] = path.open("wb")
        self.zf = zipfile.ZipFile(self.raw, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=1)
        self.header = 0
        self.stream: IO[bytes] | None = None

    def open(self, name: str) -> int:
        self.header = self.raw.tell()
        self.stream = self.zf.open(name, "w", force_zip64=True)
        return self.header

    def write(self, data: bytes) -> int:
        assert self.stream is not None
        self.stream.write(data)
        self.raw.flush()
        return self.raw.tell()

    def close_member(self) -> int:
        assert self.stream is not None
        self.stream.close()
        self.stream = None
        self.raw.flush()
        return self.raw.tell()

    def finish(self) -> None:
        self.zf.close()
        self.raw.close()


@pytest.fixture
def partial(tmp_path: Path) -> Iterator[PartialZip]:
    bundle = PartialZip(tmp_path / "bundle.zip.partial")
    yield bundle
    if not bundle.raw.closed:
        if bundle.stream is not None:
            bundle.stream.close()
        bundle.finish()


def test_a_token_is_found_while_its_member_is_still_being_written(partial: PartialZip) -> None:
    token = "ghp_" + rand(36)
    follower = Follower(str(partial.path), frozenset())
    header = partial.open(MEMBER)
    follower.grow(MEMBER, header, partial.write(noise(2000)), closed=False)
    end = partial.write(json.dumps({"detail": f"upstream said {token}"}).encode() + b"\n" + noise(2000))
    with pytest.raises(LeakDetectedError) as caught:
        follower.grow(MEMBER, header, end, closed=False)
    assert (caught.value.file, caught.value.rule) == (MEMBER, "github_token")
    assert token not in str(caught.value)


def test_a_member_followed_to_its_end_is_done_and_the_rest_is_scanned(
    partial: PartialZip,
) -> None:
    follower = Follower(str(partial.path), frozenset())
    header = partial.open(MEMBER)
    partial.write(noise(500))
    follower.grow(MEMBER, header, partial.close_member(), closed=True)
    partial.zf.writestr("README.md", "clean\n")
    partial.finish()
    assert follower.finish(frozenset()) == 2
    assert follower.tails == {}


def test_a_member_not_followed_to_its_end_is_scanned_from_the_finished_zip(partial: PartialZip) -> None:
    """The helper saw the clean start only: what came after is still read, from the finished ZIP."""
    secret = f"s{secrets.token_hex(16)}"
    follower = Follower(str(partial.path), frozenset({secret}))
    header = partial.open(MEMBER)
    follower.grow(MEMBER, header, partial.write(noise(2000)), closed=False)
    partial.write(json.dumps({"detail": secret}).encode() + b"\n")
    partial.close_member()
    partial.finish()
    with pytest.raises(LeakDetectedError) as caught:
        follower.finish(frozenset({secret}))
    assert (caught.value.file, caught.value.rule) == (MEMBER, "known_secret")


def test_a_header_that_is_not_the_members_is_not_followed(partial: PartialZip) -> None:
    """A wrong offset (or name) makes the helper leave the member to the final scan, which still finds it."""
    token = "ghp_" + rand(36)
    follower = Follower(str(partial.path), frozenset())
    header = partial.open(MEMBER)
    end = partial.write(json.dumps({"detail": token}).encode() + b"\n")
    end = partial.close_member()
    follower.grow(MEMBER, header + 1, end, closed=True)
    follower.grow("events/other.jsonl", header, end, closed=True)
    assert MEMBER in follower.unfollowed and "events/other.jsonl" in follower.unfollowed
    partial.finish()
    with pytest.raises(LeakDetectedError):
        follower.finish(frozenset())


def test_secrets_known_only_at_the_end_mean_a_full_scan(partial: PartialZip) -> None:
    late = f"late{secrets.token_hex(12)}"
    follower = Follower(str(partial.path), frozenset())
    header = partial.open(MEMBER)
    partial.write(json.dumps({"detail": late}).encode() + b"\n")
    follower.grow(MEMBER, header, partial.close_member(), closed=True)
    partial.finish()
    with pytest.raises(LeakDetectedError) as caught:
        follower.finish(frozenset({late}))
    assert caught.value.rule == "known_secret"


def test_the_protocol_answers_members_leaks_and_errors(partial: PartialZip) -> None:
    header = partial.open(MEMBER)
    end = partial.write(noise(100))
    end = partial.close_member()
    partial.finish()
    messages = [
        {"op": "open", "path": str(partial.path), "secrets": []},
        {"op": "grow", "name": MEMBER, "header": header, "end": end, "closed": True},
        {"op": "finish", "secrets": []},
    ]
    answers = io.StringIO()
    assert serve(io.StringIO("".join(json.dumps(m) + "\n" for m in messages)), answers) == 0
    assert json.loads(answers.getvalue()) == {"members": 1}

    secret = f"s{secrets.token_hex(16)}"
    partial.path.write_bytes(zip_with(MEMBER, json.dumps({"detail": secret}).encode()))
    opened = {"op": "open", "path": str(partial.path), "secrets": [secret]}
    answers = io.StringIO()
    assert serve(io.StringIO(json.dumps(opened) + "\n" + json.dumps(messages[2]) + "\n"), answers) == 1
    assert json.loads(answers.getvalue()) == {"leak": {"file": MEMBER, "rule": "known_secret"}}

    for broken in ([messages[2]], [opened]):  # no "open" first; the exporter gone before "finish"
        answers = io.StringIO()
        assert serve(io.StringIO("".join(json.dumps(m) + "\n" for m in broken)), answers) == 1
        assert "error" in json.loads(answers.getvalue())


def zip_with(name: str, data: bytes) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr(name, data)
    return buffer.getvalue()


async def test_a_killed_helper_leaves_the_scan_to_the_exporter(
    store: SQLiteEventStore, tmp_path: Path
) -> None:
    await store.append([make_event(ts=T0 + timedelta(seconds=i), detail=f"fine {i}") for i in range(50)])
    killed: list[int] = []

    def on_progress(phase: str, done: int) -> None:
        if phase == "scan":
            killed.append(kill_helpers())

    result = await export(store, tmp_path / "out", progress=on_progress, scan_helper=True)
    assert killed == [1]
    assert result.scanned_by == "exporter" and result.event_count == 50
    # The status is -9, or 255 when another child watcher in this process reaped the helper first.
    assert result.helper_failure is not None and result.helper_failure.endswith("without an answer")
    assert scan_bundle(result.path, []) == len(members(result.path))


async def test_by_default_only_a_large_export_starts_a_helper(
    store: SQLiteEventStore, tmp_path: Path
) -> None:
    """Small bundles are scanned in process; past about a megabyte of ZIP a helper runs (given two CPUs)."""
    await store.append([make_event(ts=T0, detail="small")])
    small = await export(store, tmp_path / "small")
    assert small.scanned_by == "exporter" and small.helper_failure is None
    # Detail that deflate cannot shrink: about 150 bytes of ZIP per event.
    await store.append(
        [make_event(ts=T0 + timedelta(milliseconds=i), detail=secrets.token_hex(100)) for i in range(9000)]
    )
    large = await export(store, tmp_path / "large")
    assert large.size > 1 << 20 and large.event_count == 9001
    assert large.scanned_by == ("helper" if usable_cpus() >= 2 else "exporter")


def test_the_helper_starts_without_the_web_stack() -> None:
    """The helper loads the bundle package and what it stands on (store, emitters), never a web framework."""
    web = ("fastapi", "starlette", "uvicorn", "typer")
    probe = f"import sys, {HELPER_MODULE}; print([m for m in {web!r} if m in sys.modules])"
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=60
    )
    assert out.stdout.strip() == "[]"


@pytest.mark.parametrize(
    ("files", "bound"),
    [
        ({"cpu.max": "max 100000\n"}, None),
        ({"cpu.max": "100000 100000\n"}, 1),
        ({"cpu.max": "150000 100000\n"}, 1),
        ({"cpu.max": "400000 100000\n"}, 4),
        ({"cpu/cpu.cfs_quota_us": "200000\n", "cpu/cpu.cfs_period_us": "100000\n"}, 2),
        ({"cpu/cpu.cfs_quota_us": "-1\n", "cpu/cpu.cfs_period_us": "100000\n"}, None),
        ({}, None),
    ],
)
def test_usable_cpus_counts_whole_cpus_of_the_cgroup_quota(
    tmp_path: Path, files: dict[str, str], bound: int | None
) -> None:
    """A helper is only worth it with a second whole CPU: a 1.5-CPU quota counts as one."""
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    mine = len(os.sched_getaffinity(0))
    assert usable_cpus(tmp_path) == (mine if bound is None else min(mine, bound))


def test_a_member_inflating_to_exactly_a_chunk_per_read_is_followed_to_its_end(partial: PartialZip) -> None:
    """Inflate output capped at CHUNK can leave more to come from input already read: it is drained."""
    follower = Follower(str(partial.path), frozenset())
    header = partial.open(MEMBER)
    partial.write(b" " * (CHUNK + 1))
    follower.grow(MEMBER, header, partial.close_member(), closed=True)
    assert MEMBER not in follower.unfollowed and follower.tails[MEMBER].size == CHUNK + 1
    partial.finish()
    assert follower.finish(frozenset()) == 1


async def test_a_leak_the_helper_finds_stops_the_export_at_the_next_batch(partial: PartialZip) -> None:
    token = "ghp_" + rand(36)
    header = partial.open(MEMBER)
    end = partial.write(json.dumps({"detail": token}).encode() + b"\n")
    end = partial.close_member()
    follow = ScanFollow(partial.path, frozenset(), 0)
    await follow.grow(MEMBER, header, end, closed=True)
    assert follow.helper is not None
    pids = helpers()

    # The helper answers and exits once it has found the token; the exporter hears of it at its next word.
    async def exited() -> bool:
        return not set(pids) & set(helpers())

    await eventually(exited, "the helper exits once it has found the token")
    try:
        await follow.grow("events/next.jsonl", end, end, closed=False)
    except LeakDetectedError as leak:
        assert (leak.file, leak.rule) == (MEMBER, "github_token")
    else:
        # A helper that exited without its answer (it crashed, or its environment killed it) says so here.
        pytest.fail(f"no leak raised: the helper's verdict was {follow.failure!r}")
    await follow.abort()
    assert pids and gone(pids)


async def test_a_helper_that_stops_reading_is_killed_and_the_scan_left_to_the_exporter(
    partial: PartialZip,
) -> None:
    header = partial.open(MEMBER)
    end = partial.write(noise(10))
    follow = ScanFollow(partial.path, frozenset(), 0)
    follow.send_timeout = 0.5
    await follow.grow(MEMBER, header, end, closed=False)
    pids = helpers()
    assert kill_helpers(signal.SIGSTOP) == 1
    # Enough messages to fill the pipe: then one waits in vain.
    for _ in range(2000):
        await follow.grow(MEMBER, header, end, closed=False)
        if follow.helper is None:
            break
    assert follow.helper is None and follow.failure == "stopped reading for 0.5 s"
    assert pids and gone(pids)
    assert await follow.finish(frozenset()) is False


async def test_an_export_cancelled_while_the_helper_finishes_leaves_no_helper_and_no_file(
    store: SQLiteEventStore, tmp_path: Path
) -> None:
    await store.append([make_event(ts=T0 + timedelta(seconds=i), detail=f"fine {i}") for i in range(50)])
    task: asyncio.Task[object] | None = None
    pids: list[int] = []

    def on_progress(phase: str, done: int) -> None:
        if phase == "scan":
            # The helper can no longer answer; the export is cancelled while it waits for the verdict.
            pids.extend(helpers())
            assert kill_helpers(signal.SIGSTOP) == 1
            assert task is not None
            asyncio.get_running_loop().call_later(0.3, task.cancel)

    out = tmp_path / "out"
    task = asyncio.ensure_future(export(store, out, progress=on_progress, scan_helper=True))
    with pytest.raises(asyncio.CancelledError):
        await task
    assert pids and gone(pids) and list(out.iterdir()) == []


@pytest.mark.parametrize("kind", ["zip", "stream"])
async def test_a_helper_that_has_exited_is_known_gone_at_the_first_word_sent_to_it(
    partial: PartialZip, kind: str
) -> None:
    # A helper exits on its own when it finds a leak (or crashes): the next word sent to it must say so,
    # whether or not the event loop has heard of the closed pipe yet, so the export stops there.
    helper: ScanHelper | StreamHelper | None = (
        await ScanHelper.start(partial.path, frozenset())
        if kind == "zip"
        else await StreamHelper.start(frozenset())
    )
    assert helper is not None
    process = helper._process
    process.kill()
    await process.wait()
    if isinstance(helper, ScanHelper):
        assert await helper.grow(MEMBER, 0, 10, closed=False) is False
    else:
        assert await helper.send(b"PK\x03\x04") is False
    await helper.stop()
