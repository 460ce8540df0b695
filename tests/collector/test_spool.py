"""The spool: durable, ordered, bounded, and a damaged file never crashes replay."""

from __future__ import annotations

from pathlib import Path

import pytest

from mcpdiag.collector import Spool, SpoolCorruptError, SpoolFullError
from mcpdiag.emitters import DiagnosticEvent
from tests.factories import make_event


def files(directory: Path, pattern: str) -> list[Path]:
    return sorted(directory.glob(pattern))


async def test_batches_come_back_in_order_and_survive_reopening(tmp_path: Path) -> None:
    spool = Spool(tmp_path, max_bytes=10_000_000)
    await spool.open()
    batches = [[make_event() for _ in range(3)] for _ in range(4)]
    for batch in batches:
        await spool.append(batch)
    reopened = Spool(tmp_path, max_bytes=10_000_000)
    await reopened.open()
    assert [await reopened.read(entry) for entry in reopened.pending()] == batches
    assert reopened.size_bytes == spool.size_bytes > 0
    entry = await reopened.append([make_event()])
    assert entry.seq == 4  # numbering continues after the batches left over


async def test_deleting_a_batch_frees_its_bytes(tmp_path: Path) -> None:
    spool = Spool(tmp_path, max_bytes=10_000_000)
    await spool.open()
    first = await spool.append([make_event()])
    await spool.append([make_event()])
    await spool.delete(first)
    assert [e.seq for e in spool.pending()] == [1] and len(spool) == 1
    assert spool.size_bytes == sum(p.stat().st_size for p in files(tmp_path, "*.batch"))


async def test_the_size_bound_refuses_a_batch_that_would_overflow_it(tmp_path: Path) -> None:
    spool = Spool(tmp_path, max_bytes=4000)
    await spool.open()
    await spool.append([make_event()])
    with pytest.raises(SpoolFullError):
        await spool.append([make_event() for _ in range(10)])
    assert len(spool) == 1 and not files(tmp_path, "*.part")


async def test_an_empty_spool_that_refused_an_oversized_batch_is_not_stuck_full(tmp_path: Path) -> None:
    """Nothing waits to drain, so the refusal must not keep ingest closed until a restart."""
    spool = Spool(tmp_path, max_bytes=2000)
    await spool.open()
    with pytest.raises(SpoolFullError):
        await spool.append([make_event() for _ in range(10)])
    assert not spool.full and len(spool) == 0
    kept = await spool.append([make_event()])
    with pytest.raises(SpoolFullError):
        await spool.append([make_event() for _ in range(10)])
    assert spool.full  # a refusal while a batch waits: full until that batch drains
    await spool.delete(kept)
    assert not spool.full


async def test_unacknowledged_part_files_are_dropped_and_damaged_batches_quarantined(tmp_path: Path) -> None:
    spool = Spool(tmp_path, max_bytes=10_000_000)
    await spool.open()
    good = [make_event()]
    torn = await spool.append([make_event(), make_event()])
    await spool.append(good)
    bad_crc = await spool.append([make_event()])
    torn.path.write_bytes(torn.path.read_bytes()[:-40])  # cut short, as a failing disk might
    data = bytearray(bad_crc.path.read_bytes())
    data[-5] ^= 0x01
    bad_crc.path.write_bytes(bytes(data))
    (tmp_path / "00000000000000000009.batch.part").write_bytes(b'{"v": 1, "count": 1')

    reopened = Spool(tmp_path, max_bytes=10_000_000)
    await reopened.open()
    assert not files(tmp_path, "*.part")
    results: list[list[DiagnosticEvent] | None] = []
    for entry in reopened.pending():
        try:
            results.append(await reopened.read(entry))
        except SpoolCorruptError:
            results.append(None)
    assert results == [None, good, None]
    assert len(reopened) == 1 and reopened.corrupt_files == 2
    assert len(list((tmp_path / "corrupt").iterdir())) == 2


async def test_events_with_any_text_the_contract_admits_round_trip_through_the_spool(tmp_path: Path) -> None:
    spool = Spool(tmp_path, max_bytes=10_000_000)
    await spool.open()
    events = [
        make_event(detail="\ufffd replaced, \U0001f600 astral, \x00 NUL", attrs={"p\ufffd": "/srv/\ufffd"}),
        make_event(attrs={"max": 2**63 - 1, "min": -(2**63)}),
    ]
    entry = await spool.append(events)
    assert await spool.read(entry) == events
