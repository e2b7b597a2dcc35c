"""A sensor's time series: raw readings or per-bucket min, max, mean and count, computed in SQL.

Buckets are ``date_bin`` bins aligned on local midnight (Asia/Shanghai), so ``1h`` buckets start
on the hour and ``1d`` buckets are calendar days where the sites are.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import datetime

import psycopg

from spatial.errors import InvalidQuery

ORIGIN = "2000-01-01T00:00:00+08:00"    # a local midnight
MAX_BUCKETS = 20_000
MAX_RAW = 100_000
_BUCKET = re.compile(r"^(\d{1,6})(s|m|min|h|d)$")
_UNIT_S = {"s": 1, "m": 60, "min": 60, "h": 3600, "d": 86400}


def parse_bucket(text: str) -> int | None:
    """``raw`` → None; ``30s``, ``5m``, ``1h``, ``1d`` → seconds (1 s to 31 days).

    >>> parse_bucket("15m"), parse_bucket("1h"), parse_bucket("raw")
    (900, 3600, None)
    """
    if text == "raw":
        return None
    match = _BUCKET.match(text.strip())
    if not match:
        raise InvalidQuery(f"bucket must be like 30s, 5m, 1h, 1d or raw: {text!r}",
                           parameter="bucket")
    seconds = int(match.group(1)) * _UNIT_S[match.group(2)]
    if not 1 <= seconds <= 31 * 86400:
        raise InvalidQuery("bucket must be between 1 s and 31 days", parameter="bucket")
    return seconds


def aggregate(conn: psycopg.Connection, sensor_id: int, start: datetime, end: datetime,
              bucket_s: int) -> list[tuple[datetime, float, float, float, int]]:
    """(bucket start, min, max, mean, count) for readings with start <= ts < end."""
    if (end - start).total_seconds() / bucket_s > MAX_BUCKETS:
        raise InvalidQuery(f"more than {MAX_BUCKETS} buckets: use a larger bucket or a shorter "
                           "range", parameter="bucket")
    return conn.execute(
        "SELECT date_bin(make_interval(secs => %(b)s), ts, %(origin)s::timestamptz) AS bucket, "
        "min(value), max(value), avg(value), count(*)::int "
        "FROM sitewatch.reading WHERE sensor_id = %(sid)s AND ts >= %(lo)s AND ts < %(hi)s "
        "GROUP BY bucket ORDER BY bucket",
        {"b": bucket_s, "origin": ORIGIN, "sid": sensor_id, "lo": start, "hi": end},
    ).fetchall()


def raw(conn: psycopg.Connection, sensor_id: int, start: datetime, end: datetime
        ) -> list[tuple[datetime, float, int | None]]:
    rows = conn.execute(
        "SELECT ts, value, seq FROM sitewatch.reading WHERE sensor_id = %s AND ts >= %s "
        "AND ts < %s ORDER BY ts LIMIT %s", (sensor_id, start, end, MAX_RAW + 1)).fetchall()
    if len(rows) > MAX_RAW:
        raise InvalidQuery(f"more than {MAX_RAW} readings: aggregate with bucket= or shorten "
                           "the range", parameter="bucket")
    return rows


def csv_lines(header: tuple[str, ...], rows: list[tuple]) -> Iterator[str]:
    yield ",".join(header) + "\r\n"
    for row in rows:
        yield ",".join("" if v is None else v.isoformat() if isinstance(v, datetime) else repr(v)
                       if isinstance(v, float) else str(v) for v in row) + "\r\n"
