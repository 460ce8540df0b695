"""The buckets trends and charts count into cover the window and nothing past it: no bucket starts at or
after `to` (a chart must not show hours still to come, and empty future buckets must not lower the median
an incident's spikes are measured against)."""

from __future__ import annotations

import itertools
import math
from datetime import timedelta

import pytest

from mcpdiag.store.rollup import HOUR_MS, bucket_starts, span_of
from tests.factories import NOW


@pytest.mark.parametrize("minutes", [0, 1, 30, 59])
@pytest.mark.parametrize(
    ("hours", "buckets"),
    [(1, 1), (1, 2), (24, 24), (24, 12), (24, 7), (168, 28), (168, 7), (168, 96), (5, 96)],
)
def test_buckets_tile_the_window_and_end_with_it(minutes: int, hours: int, buckets: int) -> None:
    until = NOW.replace(minute=0) + timedelta(minutes=minutes)
    since = until - timedelta(hours=hours)
    starts = bucket_starts(since, until, buckets)
    span = span_of(buckets, since, until)
    # The fewest whole hours a bucket can span for `buckets` of them to cover every hour the window touches,
    # and as many buckets of that span as reach `to`: worked out here from the hours, not from the code.
    first_hour = since.replace(minute=0, second=0, microsecond=0)
    touched = math.ceil((until - first_hour) / timedelta(hours=1))
    per = max(1, math.ceil(touched / buckets))
    assert span == timedelta(hours=per)
    assert len(starts) == math.ceil(touched / per) <= buckets
    assert starts[0] <= since < starts[0] + span  # the first holds `from`
    assert starts[-1] < until <= starts[-1] + span  # the last holds `to`: none lies past it
    assert all(b - a == span for a, b in itertools.pairwise(starts))
    assert span.total_seconds() * 1000 % HOUR_MS == 0
