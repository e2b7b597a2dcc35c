"""The bulk stamp reader against the standard library: same value where it answers, and it
answers only where ``datetime.fromisoformat`` gives an aware datetime."""

from __future__ import annotations

import random
from datetime import datetime, timedelta, timezone

from sensors.stamps import epoch_us

EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
US = timedelta(microseconds=1)


def reference(stamp: str) -> int | None:
    """Microseconds since the epoch as the standard library reads the stamp; None when it
    refuses it or finds no offset."""
    try:
        dt = datetime.fromisoformat(stamp)
        if dt.tzinfo is None:
            return None
        return (dt - EPOCH) // US
    except (ValueError, OverflowError):
        return None


def valid_stamps(rng: random.Random, n: int) -> list[str]:
    out = []
    for _ in range(n):
        year = rng.choice([rng.randint(1, 9999), rng.randint(1990, 2100), 2000, 2024, 1900])
        month = rng.randint(1, 12)
        day = rng.randint(1, 31)
        while True:
            try:
                naive = datetime(year, month, day, rng.randint(0, 23), rng.randint(0, 59),
                                 rng.randint(0, 59), rng.randint(0, 999_999))
                break
            except ValueError:
                day -= 1
        text = naive.isoformat(timespec=rng.choice(["seconds", "milliseconds", "microseconds"]))
        offset = rng.choice(["Z", "+08:00", "-05:30", "+00:00", "-00:00", "+23:59", "-23:59",
                             f"+{rng.randint(0, 23):02d}:{rng.randint(0, 59):02d}"])
        out.append(text + offset)
    return out


def test_valid_stamps_of_every_shape_read_as_the_standard_library_reads_them():
    rng = random.Random(7)
    stamps = valid_stamps(rng, 20_000)
    stamps += ["2024-02-29T23:59:59.999999+08:00", "2000-02-29T00:00:00Z",
               "0001-01-01T00:00:00Z", "9999-12-31T23:59:59.999999-23:59",
               "1969-12-31T23:59:59.999999Z", "1970-01-01T08:00:00+08:00"]
    us, ok = epoch_us(stamps)
    assert ok.all(), [s for s, good in zip(stamps, ok) if not good][:5]
    wrong = [(s, int(u), reference(s)) for s, u in zip(stamps, us) if int(u) != reference(s)]
    assert not wrong, wrong[:5]
    assert epoch_us(["1970-01-01T08:00:00+08:00"])[0][0] == 0


def test_broken_or_unusual_stamps_are_left_to_the_standard_library():
    rng = random.Random(11)
    base = valid_stamps(rng, 3_000)
    broken = []
    for s in base:
        i = rng.randrange(len(s))
        broken.append(s[:i] + rng.choice("0123456789-:T.Z+ x٣é") + s[i + 1:])
        broken.append(s[:i] + s[i + 1:])                              # a character missing
    broken += ["2023-02-29T00:00:00Z", "2024-13-01T00:00:00Z", "2024-00-10T00:00:00Z",
               "2024-04-31T00:00:00+08:00", "2024-01-01T24:00:00Z", "2024-01-01T23:60:00Z",
               "2024-01-01T23:00:60Z", "2024-01-01T10:00:00+24:00", "2024-01-01T10:00:00+08:60",
               "2024-01-01 10:00:00+08:00", "2024-01-01T10:00:00+0800", "2024-01-01T10:00:00",
               "2024-01-01T10:00:00.1234+08:00", "0000-01-01T00:00:00Z", "2024-01-01",
               "２０２４-01-01T10:00:00Z", "", "2024-01-01T10:00:00.000000+08:00:00"]
    us, ok = epoch_us(broken)
    for s, u, good in zip(broken, us, ok):
        if good:   # the bulk reader answered: the standard library must agree, to the µs
            assert reference(s) == int(u), s
    # Among them, shapes the bulk reader leaves alone although they are valid ISO 8601:
    # they must not be answered (the caller reads them one by one).
    unusual = ["2024-01-01 10:00:00+08:00", "2024-01-01T10:00:00+0800",
               "2024-01-01T10:00:00.1234+08:00", "2024-01-01T10:00:00.000000+08:00:00"]
    assert not epoch_us(unusual)[1].any()
    assert all(reference(s) is not None for s in unusual)


def test_mixed_lengths_in_one_call_keep_their_places():
    stamps = ["2026-11-24T09:00:00+08:00", "2026-11-24T01:00:00.5Z", "2026-11-24T01:00:00Z",
              "2026-11-24T09:00:00.250+08:00", "not a stamp", "2026-11-24T09:00:00.000001+08:00"]
    us, ok = epoch_us(stamps)
    assert ok.tolist() == [True, False, True, True, False, True]
    base = reference("2026-11-24T01:00:00Z")
    assert (us[ok] - base).tolist() == [0, 0, 250_000, 1]
    assert epoch_us([])[0].shape == (0,)
