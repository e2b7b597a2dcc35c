"""A batch as columns: the binary COPY NumPy builds is read back by PostgreSQL field for field,
runs and single readings keep their order, and the rule engine sees what the table keeps."""

from __future__ import annotations

import json
import time
from datetime import datetime, timedelta, timezone

import numpy as np

from sensors.columns import Columns, Reading
from sensors.engine import Engine
from sensors.ingest import Checker, Partitions, Run, write_batch
from sensors.registry import Registry
from sensors.settings import SensorSettings
from tests.sensors.conftest import add_sensor

SETTINGS = SensorSettings(ingest_max_future_skew_s=300, ingest_max_age_days=400)
TZ = timezone(timedelta(hours=8))


def stamp(t: float) -> str:
    return datetime.fromtimestamp(t, TZ).isoformat()


def test_columns_of_runs_and_single_readings_keep_their_order_and_months():
    cols = Columns.gather([
        [Reading(1, 10.5, 1.0, None)],
        Run(2, [], [2.0, 3.0], [7, None], None, [], "", b"", "",
            us=np.array([20_000_000, 30_000_001])),
        Reading(3, 1_700_000_000.25, 4.0, 9),
    ])
    assert cols.sensor_id.tolist() == [1, 2, 2, 3]
    assert cols.us.tolist() == [10_500_000, 20_000_000, 30_000_001, 1_700_000_000_250_000]
    assert cols.value.tolist() == [1.0, 2.0, 3.0, 4.0]
    assert cols.has_seq.tolist() == [False, True, False, True]
    assert cols.seq[cols.has_seq].tolist() == [7, 9]
    # 1970-01 to 2023-11 (1,700,000,000 s), every month between included
    months = cols.months()
    assert min(months) == (1970, 1) and max(months) == (2023, 11) and len(months) == 53 * 12 + 11
    assert Columns.gather([]).months() == set()


def test_the_binary_copy_stores_every_field_with_and_without_seq(sconn, projects):
    code = projects[0]["code"]
    add_sensor(sconn, code, "T-1", "tilt", "‰")
    add_sensor(sconn, code, "T-2", "tilt", "‰")
    registry = Registry()
    registry.refresh(sconn)
    check = Checker(registry, SETTINGS)
    t0 = round(time.time()) - 3600
    # A run with a seq on some elements, a run without seqs, single readings with and without.
    mixed = [{"ts": stamp(t0 + i + 0.125), "value": i / 3, **({"seq": -i} if i % 2 else {})}
             for i in range(6)]
    plain = [{"ts": stamp(t0 + 100 + i), "value": -1.5 * i} for i in range(4)]
    parts = [check.take(f"sitewatch/{code}/T-1", json.dumps(mixed).encode()),
             check.take(f"sitewatch/{code}/T-2", json.dumps(plain).encode()),
             check.take(f"sitewatch/{code}/T-2", json.dumps(
                 {"ts": stamp(t0 + 200), "value": 2.0, "seq": 2 ** 62}).encode()),
             check.take(f"sitewatch/{code}/T-1", json.dumps(
                 {"ts": stamp(t0 + 201), "value": 3.0}).encode())]
    assert [type(p).__name__ for p in parts[:2]] == ["Run", "Run"]
    readings, rejected = check.settle(parts)
    assert rejected == [] and len(readings) == 12
    result = write_batch(sconn, readings, [], partitions=Partitions())
    assert result.accepted == 12
    rows = sconn.execute(
        "SELECT s.code, extract(epoch FROM r.ts)::numeric, r.value, r.seq FROM sitewatch.reading r "
        "JOIN sitewatch.sensor s ON s.id = r.sensor_id ORDER BY r.ts").fetchall()
    want = [("T-1", t0 + i + 0.125, i / 3, -i if i % 2 else None) for i in range(6)]
    want += [("T-2", t0 + 100 + i, -1.5 * i, None) for i in range(4)]
    want += [("T-2", t0 + 200, 2.0, 2 ** 62), ("T-1", t0 + 201, 3.0, None)]
    assert [(c, float(t), v, s) for c, t, v, s in rows] == want


def test_equal_times_in_one_batch_the_first_wins_in_the_table_and_in_the_rules(sconn, projects):
    """A gateway repeating a stamp with another value: the table keeps the first (ON CONFLICT
    after the COPY fails), and the sensor's latest value, which the rules saw, is the same."""
    code = projects[0]["code"]
    sid = add_sensor(sconn, code, "N-1", "noise", "dB(A)")
    registry = Registry()
    registry.refresh(sconn)
    check = Checker(registry, SETTINGS)
    t = round(time.time()) - 600
    first = [{"ts": stamp(t), "value": 50.0}, {"ts": stamp(t + 1), "value": 51.0}]
    again = [{"ts": stamp(t + 1), "value": 99.0}, {"ts": stamp(t), "value": 98.0}]
    readings, _ = check.settle([check.take(f"sitewatch/{code}/N-1", json.dumps(m).encode())
                                for m in (first, again)])
    result = write_batch(sconn, readings, [], partitions=Partitions(), engine=Engine(),
                         registry=registry)
    assert (result.accepted, result.duplicate) == (2, 2)
    assert sconn.execute("SELECT array_agg(value ORDER BY ts) FROM sitewatch.reading "
                         "WHERE sensor_id = %s", (sid,)).fetchone()[0] == [50.0, 51.0]
    last = sconn.execute("SELECT extract(epoch FROM last_ts)::float8, last_value "
                         "FROM sitewatch.sensor_state WHERE sensor_id = %s", (sid,)).fetchone()
    assert last == (t + 1, 51.0)
