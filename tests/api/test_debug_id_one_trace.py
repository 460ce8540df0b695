"""A Debug ID names one trace, the same one wherever it is used: the support lookup, `mcpdiag search`, and a
support bundle scoped to it (over HTTP and through the exporter the CLI runs).

Found by an adversarial pass: the bundle selected `by_trace(key)` itself, so a key that is one event's id
and also begins another trace exported both traces, where the lookup had named one; an event id exported
that one event and not its trace; and `mcpdiag search` called such a key ambiguous and showed only the
event. Each key form is checked at every consumer against the trace the lookup answers.
"""

from __future__ import annotations

import io
import json
import zipfile
from datetime import timedelta
from pathlib import Path

import pytest

from mcpdiag.bundle import BundleScope, export_bundle
from mcpdiag.bundle.errors import InvalidScopeError
from mcpdiag.cli.lookup import LookupFailed, resolve_trace
from mcpdiag.emitters import DiagnosticEvent
from mcpdiag.store.base import utc_now
from tests.api.conftest import Api
from tests.api.support import seed
from tests.factories import make_event

EVENT_HEX = "deadbeef01"
"""An event id made of hex digits: it also begins the trace ids below."""
T1 = EVENT_HEX + "a" * 22
T2 = EVENT_HEX + "b" * 22
T3 = "0123456789abcdef" * 2


def _stored() -> tuple[list[DiagnosticEvent], dict[str, list[DiagnosticEvent]]]:
    """Three traces, hours apart (no trace's related window reaches another's), and each trace by id."""
    now = utc_now()
    t1 = [
        make_event(id="evt-first-of-t1", trace_id=T1, user_id="ursula", ts=now - timedelta(hours=5)),
        make_event(id=EVENT_HEX, trace_id=T1, user_id="ursula", ts=now - timedelta(hours=5, minutes=-1)),
    ]
    # Another user's trace on another server, whose id begins with the event id above.
    t2 = [make_event(trace_id=T2, server="jira", user_id="victor", ts=now - timedelta(hours=3))]
    t3 = [
        make_event(id=f"evt-zeta-{i}", trace_id=T3, user_id="ursula", ts=now - timedelta(hours=1, minutes=i))
        for i in range(3)
    ]
    return [*t1, *t2, *t3], {T1: t1, T2: t2, T3: t3}


# (key, the trace it names): an event id (hex, also beginning another trace), a non-hex event id (its whole
# trace), a full trace id, a prefix of one trace.
RESOLVED = [(EVENT_HEX, T1), ("evt-zeta-1", T3), (T2, T2), (T3[:10], T3), ("evt-first-of-t1", T1)]


def _zips(directory: Path) -> list[Path]:
    return list(directory.glob("*.zip"))


def _bundle_ids(zip_bytes: bytes) -> set[str]:
    with zipfile.ZipFile(io.BytesIO(zip_bytes)) as zf:
        return {
            json.loads(line)["id"]
            for name in zf.namelist()
            if name.startswith("events/")
            for line in zf.read(name).splitlines()
        }


@pytest.mark.parametrize(("key", "trace"), RESOLVED)
async def test_every_consumer_resolves_a_debug_id_to_the_same_whole_trace(
    api: Api, tmp_path: Path, key: str, trace: str
) -> None:
    events, traces = _stored()
    await seed(api.store, events)
    expected = {e.id for e in traces[trace]}

    lookup = await api.client.get(f"/api/diagnostics/{key}", headers=api.support)
    assert lookup.status_code == 200, lookup.text
    assert lookup.json()["traceId"] == trace
    assert {item["id"] for item in lookup.json()["items"]} == expected

    searched, found = await resolve_trace(api.store, key)
    assert searched == trace and {e["id"] for e in found} == expected

    direct = await export_bundle(
        api.store,
        BundleScope.parse(debug_id=key),
        out_dir=tmp_path,
        settings_snapshot={},
        app_version="test",
    )
    assert _bundle_ids(direct.path.read_bytes()) == expected

    http = await api.client.get(
        "/api/admin/bundle", params={"debugId": key, "encrypt": "false"}, headers=api.support
    )
    assert http.status_code == 200, http.text[:300]
    assert _bundle_ids(http.content) == expected


async def test_a_prefix_of_two_traces_is_refused_by_every_consumer(api: Api, tmp_path: Path) -> None:
    """Not one trace, nor both: each says the Debug ID is ambiguous and names the candidates."""
    events, _ = _stored()
    await seed(api.store, events)
    key = EVENT_HEX[:8]

    lookup = await api.client.get(f"/api/diagnostics/{key}", headers=api.support)
    assert lookup.status_code == 409
    assert T1[:12] in lookup.json()["error"]["message"] and T2[:12] in lookup.json()["error"]["message"]

    with pytest.raises(LookupFailed, match="matches 2 Debug IDs") as refused:
        await resolve_trace(api.store, key)
    assert T1[:12] in str(refused.value) and T2[:12] in str(refused.value)

    with pytest.raises(InvalidScopeError, match="matches 2 traces") as scoped:
        await export_bundle(
            api.store,
            BundleScope.parse(debug_id=key),
            out_dir=tmp_path,
            settings_snapshot={},
            app_version="test",
        )
    assert scoped.value.field == "debugId"
    assert not _zips(tmp_path)

    http = await api.client.get(
        "/api/admin/bundle", params={"debugId": key, "encrypt": "false"}, headers=api.support
    )
    assert http.status_code == 409
    assert http.json()["error"]["code"] == "ambiguous_debug_id"
