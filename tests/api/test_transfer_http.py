"""Export and import over HTTP: admin only, audited, a streamed export, an async import job with a status
endpoint (dry run too), bounded uploads, and bad input answered with a 4xx naming what is wrong."""

from __future__ import annotations

import gzip
import json
import secrets
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from mcpdiag.api.import_jobs import ImportJob
from mcpdiag.api.routes.transfer import jobs_of
from mcpdiag.store import EventQuery, SQLiteEventStore
from mcpdiag.store.transfer import ExportSelection, plan_export, write_export
from tests.api.conftest import Api
from tests.api.support import build_app
from tests.collector.support import asgi_client, new_key
from tests.factories import FakeClock, make_event
from tests.store.transfer_support import SERVERS, varied_events
from tests.waiting import eventually


async def seeded(api: Api) -> list[str]:
    """60 events in the app's store; their ids."""
    events = varied_events(FakeClock(api.store.clock()))
    await api.store.append(events)
    return [e.id for e in events]


async def export_file(tmp_path: Path, clock: FakeClock, count: int = 60) -> Path:
    """An export of `count` varied events made from a store of its own."""
    source = SQLiteEventStore(tmp_path / "source.db", clock=clock)
    await source.ensure_schema()
    await source.append(varied_events(clock, count))
    path = tmp_path / "upload.ndjson.gz"
    await write_export(source, await plan_export(source, ExportSelection()), path)
    await source.close()
    return path


def lines_of(body: bytes) -> list[dict[str, Any]]:
    return [json.loads(line) for line in gzip.decompress(body).decode().splitlines()]


async def upload(
    api: Api, data: bytes, *, headers: dict[str, str] | None = None, **params: str
) -> httpx.Response:
    files = {"file": ("events.ndjson.gz", data, "application/gzip")}
    return await api.client.post(
        "/api/admin/import", params=params, files=files, headers=headers or api.admin
    )


async def finished(api: Api, job: str) -> dict[str, Any]:
    """Poll the job until it is done or failed."""

    async def ended() -> dict[str, Any] | None:
        answer = await api.client.get(f"/api/admin/import/{job}", headers=api.admin)
        assert answer.status_code == 200, answer.text
        body: dict[str, Any] = answer.json()
        return body if body["state"] in ("done", "failed") else None

    return await eventually(ended, "the import job ends", interval=0.01)


async def audit_actions(api: Api) -> list[dict[str, Any]]:
    page = await api.store.audit_page(limit=50)
    return page.items


async def test_an_admin_downloads_a_streamed_export_and_it_is_audited(api: Api) -> None:
    ids = await seeded(api)
    answer = await api.client.get("/api/admin/export", headers=api.admin)
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"] == "application/gzip"
    assert answer.headers["content-disposition"].startswith('attachment; filename="mcpdiag-events-')
    assert answer.headers["cache-control"] == "no-store"
    header, *events, end = lines_of(answer.content)
    assert header["format"] == "mcpdiag-events" and header["counts"] == {"events": 60, "servers": 3}
    assert sorted(e["id"] for e in events) == sorted(ids) and end == {"end": {"events": 60}}
    (record,) = [r for r in await audit_actions(api) if r["action"] == "events_export"]
    assert (record["actor"], record["resultCount"], record["target"]) == ("ada", 60, "*")


async def test_export_filters_and_the_estimate_agree_with_the_download(api: Api) -> None:
    await seeded(api)
    params = {"server": "jira", "severity": "error", "since": "2h"}
    answer = await api.client.get("/api/admin/export", params=params, headers=api.admin)
    _, *events, _ = lines_of(answer.content)
    assert events and all(e["server"] == "jira" and e["severity"] == "error" for e in events)
    estimate = await api.client.get("/api/admin/export/estimate", headers=api.admin)
    body = estimate.json()
    assert body["events"] == 60 and {s["server"]: s["events"] for s in body["servers"]} == dict.fromkeys(
        SERVERS, 20
    )
    full = await api.client.get("/api/admin/export", headers=api.admin)
    assert len(full.content) / 2 <= body["estimatedBytes"] <= len(full.content) * 2


@pytest.mark.parametrize(
    ("path", "method"),
    [("/api/admin/export", "GET"), ("/api/admin/export/estimate", "GET"), ("/api/admin/import", "POST"),
     ("/api/admin/import/0123456789abcdef", "GET")],
)  # fmt: skip
async def test_only_admins_export_and_import(api: Api, path: str, method: str) -> None:
    for headers, status in ((api.support, 403), (api.as_user("ursula"), 403), ({}, 401)):
        answer = await api.client.request(method, path, headers=headers)
        assert answer.status_code == status, (headers, answer.text)


@pytest.mark.parametrize(
    ("params", "words"),
    [
        ({"since": "yesterday"}, "since: expected a duration"),
        ({"until": "2026-01-01T00:00:00"}, "until: expected a duration"),
        ({"severity": "fatal"}, "severity: expected one of"),
        ({"since": "1h", "until": "2h"}, "since: must be earlier than until"),
        ({"server": "a\u0000b"}, "server"),
        ({"colour": "red"}, "colour: unknown query parameter"),
        ({"userId[$ne]": "x"}, "unknown query parameter"),
    ],
)
async def test_bad_export_filters_are_400_naming_the_parameter(
    api: Api, params: dict[str, str], words: str
) -> None:
    answer = await api.client.get("/api/admin/export", params=params, headers=api.admin)
    assert answer.status_code == 400, answer.text
    assert words in answer.json()["error"]["message"]


async def test_a_dry_run_job_reports_counts_and_the_import_job_stores_them(api: Api, tmp_path: Path) -> None:
    path = await export_file(tmp_path, FakeClock(api.store.clock()))
    data = path.read_bytes()
    accepted = await upload(api, data, dryRun="true")
    assert accepted.status_code == 202, accepted.text
    job = accepted.json()["job"]
    assert accepted.headers["location"] == accepted.json()["status"] == f"/api/admin/import/{job}"
    dry = await finished(api, job)
    assert dry["state"] == "done" and dry["dryRun"] and dry["report"]["inserted"] == 60
    assert dry["report"]["summary"] == "Dry run: would import 60 events; nothing was written"
    assert dry["progress"]["phase"] == "done" and dry["report"]["servers"][0]["valid"] == 20
    assert await api.store.list_servers() == []
    assert not directory_exists(jobs_of_app(api).get(job).directory)  # the upload and stage are gone

    real = await finished(api, (await upload(api, data)).json()["job"])
    assert (real["state"], real["report"]["inserted"], real["report"]["committed"]) == ("done", 60, True)
    assert sum([await api.store.count(EventQuery(server=s)) for s in SERVERS]) == 60
    again = await finished(api, (await upload(api, data)).json()["job"])
    assert again["report"]["summary"] == "Imported 0 events, 60 skipped: already present"
    imports = [r for r in await audit_actions(api) if r["action"] == "events_import"]
    assert len(imports) == 3 and {r["scope"]["job"] for r in imports} >= {job}
    assert imports[0]["target"] == "events.ndjson.gz" and imports[0]["actor"] == "ada"


async def test_a_bad_line_fails_the_job_naming_line_and_field_and_stores_nothing(
    api: Api, tmp_path: Path
) -> None:
    path = await export_file(tmp_path, FakeClock(api.store.clock()))
    lines = gzip.decompress(path.read_bytes()).decode().splitlines()
    event = json.loads(lines[6])
    event["severity"] = "fatal"
    lines[6] = json.dumps(event)
    body = await finished(api, (await upload(api, gzip.compress("\n".join(lines).encode()))).json()["job"])
    assert body["state"] == "failed" and body["error"]["code"] == "invalid_lines"
    assert body["error"]["problems"][0]["line"] == 7 and body["error"]["problems"][0]["field"] == "severity"
    assert "nothing was imported" in body["error"]["message"]
    assert await api.store.list_servers() == []


@pytest.mark.parametrize(
    ("data", "words"),
    [
        (b"id,ts,server\n1,2,3\n", "not a readable gzip file"),
        (gzip.compress(b'{"a": 1}\n'), "not an export header"),
    ],
)
async def test_a_file_that_is_no_export_fails_the_job_saying_why(api: Api, data: bytes, words: str) -> None:
    body = await finished(api, (await upload(api, data)).json()["job"])
    assert (
        body["state"] == "failed"
        and body["error"]["code"] == "invalid_export"
        and words in body["error"]["message"]
    )


@pytest.fixture
async def small_api(tmp_path: Path) -> AsyncIterator[Api]:
    """An app whose uploads are bounded at about 20 KB."""
    from tests.api.support import Tokens

    tokens, key = Tokens(), new_key()
    app = build_app(tmp_path, tokens, None, key, import_max_mb=0.02)
    async with asgi_client(app) as client:
        yield Api(client, app.state.store, tokens, key)


async def test_uploads_past_the_bound_are_413_with_or_without_a_length(small_api: Api) -> None:
    big = b"x" * 100_000
    answer = await upload(small_api, big)
    assert answer.status_code == 413 and "exceeds" in answer.json()["error"]["message"]

    async def chunks() -> AsyncIterator[bytes]:
        yield b'--b\r\nContent-Disposition: form-data; name="file"; filename="x.gz"\r\n\r\n'
        for _ in range(100):
            yield b"y" * 1000
        yield b"\r\n--b--\r\n"

    streamed = await small_api.client.post(
        "/api/admin/import",
        content=chunks(),
        headers={**small_api.admin, "content-type": "multipart/form-data; boundary=b"},
    )
    assert streamed.status_code == 413, streamed.text
    assert jobs_of_app(small_api).running() is None  # a refused upload leaves no job behind


def directory_exists(path: Path) -> bool:
    return path.exists()


def jobs_of_app(api: Api) -> Any:
    transport = api.client._transport
    assert isinstance(transport, httpx.ASGITransport)
    return jobs_of(transport.app)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("kwargs", "status", "words"),
    [
        (
            {"content": b"just bytes", "headers": {"content-type": "application/gzip"}},
            400,
            "multipart/form-data",
        ),
        ({"files": {"other": ("x.gz", b"abc")}}, 400, "file: missing"),
        (
            {"content": b"--b\r\nbroken", "headers": {"content-type": "multipart/form-data; boundary=b"}},
            400,
            "file",
        ),
        (
            {"files": {"file": ("x.gz", b"abc")}, "params": {"conflict": "merge"}},
            400,
            "conflict: expected skip",
        ),
        ({"files": {"file": ("x.gz", b"abc")}, "params": {"dryRun": "maybe"}}, 400, "dryRun"),
    ],
)
async def test_bad_uploads_are_400_naming_what_is_wrong(
    api: Api, kwargs: dict[str, Any], status: int, words: str
) -> None:
    headers = {**api.admin, **kwargs.pop("headers", {})}
    answer = await api.client.post("/api/admin/import", headers=headers, **kwargs)
    assert answer.status_code == status, answer.text
    assert words in answer.json()["error"]["message"]
    assert jobs_of_app(api).running() is None


async def test_one_import_at_a_time_and_unknown_jobs_are_404(api: Api, tmp_path: Path) -> None:
    jobs = jobs_of_app(api)
    busy: ImportJob = jobs.new(filename="x", dry_run=True, conflict="skip", actor="ada", now="now")
    answer = await upload(api, b"abc")
    assert answer.status_code == 409 and busy.id in answer.json()["error"]["message"]
    jobs.discard(busy)
    missing = await api.client.get("/api/admin/import/ffffffffffffffff", headers=api.admin)
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "not_found"


async def test_an_upload_may_inflate_to_64_times_its_own_size_not_the_size_limits(
    api: Api, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A bomb inflating to 120 MB fails as soon as it passes 64 times its size (past the floor every upload
    has, made small here): the bound was 64 times the upload limit (32 GiB) for any file, so the job read
    on."""
    from mcpdiag.api import import_jobs
    from mcpdiag.api.import_jobs import INFLATE_RATIO
    from mcpdiag.api.routes import transfer

    monkeypatch.setattr(transfer, "INFLATE_FLOOR", 1 << 20)
    assert import_jobs.INFLATE_FLOOR >= 1 << 30
    header = (await export_file(tmp_path, FakeClock(api.store.clock()), count=1)).read_bytes()
    first = gzip.decompress(header).split(b"\n", 1)[0] + b"\n"
    bomb = gzip.compress(first + (b'{"x": "' + b"a" * 60_000 + b'"}\n') * 2_000, 9)
    body = await finished(api, (await upload(api, bomb)).json()["job"])
    assert body["state"] == "failed" and body["error"]["code"] == "invalid_export", body
    bound = int(body["error"]["message"].split("inflates past ")[1].split(" bytes")[0].replace(",", ""))
    assert bound == len(bomb) * INFLATE_RATIO


async def test_an_export_of_one_detail_repeated_imports_whatever_it_compresses_to(
    api: Api, tmp_path: Path
) -> None:
    """Found by a review: 3,000 events sharing one 4 KB detail compress 79 times, past 64: the bound on the
    upload alone refused mcpdiag's own export of them."""
    clock = FakeClock(api.store.clock())
    source = SQLiteEventStore(tmp_path / "source.db", clock=clock)
    await source.ensure_schema()
    detail = "upstream returned 502: " + secrets.token_hex(2000)
    attrs = {f"upstream.header{i}": secrets.token_hex(60) for i in range(16)}  # the same on every event
    await source.append(
        [
            make_event(server="github", detail=detail, attrs=attrs, ts=clock.now - timedelta(seconds=i))
            for i in range(3000)
        ]
    )
    path = tmp_path / "repeated.ndjson.gz"
    await write_export(source, await plan_export(source, ExportSelection()), path)
    await source.close()
    data = path.read_bytes()
    assert len(gzip.decompress(data)) > 64 * len(data)
    body = await finished(api, (await upload(api, data)).json()["job"])
    assert body["state"] == "done", body
