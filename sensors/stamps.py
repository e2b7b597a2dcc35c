"""ISO 8601 timestamps to epoch microseconds, many at once.

A gateway that batches readings sends thousands of stamps of one shape, and building a
``datetime`` for each, then asking it for its epoch (``datetime.timestamp()`` calls the offset's
``utcoffset`` through Python's generic method path), was a third of the ingest's checking time.
:func:`epoch_us` reads the stamps of the usual shapes as a byte matrix with NumPy instead, every
field and range checked column by column:

    YYYY-MM-DDTHH:MM:SS[.fff|.ffffff](Z|+HH:MM|-HH:MM)

A stamp of any other shape, or one that fails a check (month 13, 30 February, hour 24, a
letter among the digits), is not given a value: its ``ok`` is False and the caller reads it with
``datetime.fromisoformat``, which decides what it is.  So this module never accepts a stamp the
standard parser refuses, and for those it accepts the value is the same, to the microsecond
(tests/sensors/test_stamps.py compares both on valid and broken stamps).
"""

from __future__ import annotations

import functools
import operator

import numpy as np

_MINUS, _PLUS, _COLON, _DOT, _Z, _T, _ZERO = 45, 43, 58, 46, 90, 84, 48
# Where the date and time digits and separators sit in every accepted shape.
_DATE_DIGITS = [0, 1, 2, 3, 5, 6, 8, 9, 11, 12, 14, 15, 17, 18]
_SEPARATORS = np.array([4, 7, 10, 13, 16])
_SEPARATOR_BYTES = np.array([_MINUS, _MINUS, _T, _COLON, _COLON], np.uint8)
_DAYS_IN_MONTH = np.array([0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31], np.int64)
# length → (digits after the decimal point, whether the stamp ends with an offset, not Z)
_SHAPES = {20: (0, False), 24: (3, False), 27: (6, False),
           25: (0, True), 29: (3, True), 32: (6, True)}


def epoch_us(stamps: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """(microseconds since 1970-01-01 UTC as int64, ok) for each stamp; where ``ok`` is False
    the value means nothing and the stamp must be read another way."""
    n = len(stamps)
    us = np.zeros(n, np.int64)
    ok = np.zeros(n, bool)
    lengths = list(map(len, stamps))
    first = lengths[0] if n else 0
    groups: dict[int, np.ndarray | None]
    if lengths.count(first) == n:
        groups = {first: None}          # the usual case: one shape for all
    else:
        by_length = np.array(lengths)
        groups = {int(k): np.flatnonzero(by_length == k) for k in np.unique(by_length)}
    for length, index in groups.items():
        if length not in _SHAPES:
            continue
        if index is None:
            some = stamps
        else:
            some = list(operator.itemgetter(*index)(stamps)) if len(index) > 1 else \
                [stamps[index[0]]]
        # One byte per character: a character outside ASCII becomes "?", which no check passes.
        raw = "".join(some).encode("ascii", "replace")
        matrix = np.frombuffer(raw, np.uint8).reshape(len(some), length)
        values, good = _read(matrix, *_SHAPES[length])
        if index is None:
            us, ok = values, good
        else:
            us[index], ok[index] = values, good
    return us, ok


@functools.lru_cache(maxsize=None)
def _columns(fraction: int, offset: bool) -> list[int]:
    """Where a shape's digits sit: date and time, fraction, offset hours and minutes."""
    body = 19 + (fraction + 1 if fraction else 0)
    columns = _DATE_DIGITS + list(range(20, 20 + fraction))
    if offset:
        columns += [body + 1, body + 2, body + 4, body + 5]
    return columns


def _read(m: np.ndarray, fraction: int, offset: bool) -> tuple[np.ndarray, np.ndarray]:
    body = 19 + (fraction + 1 if fraction else 0)
    digits = m[:, _columns(fraction, offset)] - _ZERO   # uint8: a byte below "0" wraps above 9
    ok = (digits <= 9).all(axis=1) & (m[:, _SEPARATORS] == _SEPARATOR_BYTES).all(axis=1)
    if fraction:
        ok &= m[:, 19] == _DOT
    # Two-digit numbers in uint8 (at most 99 where the digits are digits; other rows are
    # refused by ok, whatever they wrap to), then the fields in int64.
    date = digits[:, :14]
    pairs = (date[:, 0::2] * 10 + date[:, 1::2]).astype(np.int64)
    century, year, month, day, hour, minute, second = pairs.T
    year = century * 100 + year
    micro = np.zeros(len(m), np.int64)
    for k in range(fraction):
        micro = micro * 10 + digits[:, 14 + k]
    micro = micro * 10 ** (6 - fraction)
    if offset:
        off_h, off_m = (digits[:, -4::2] * 10 + digits[:, -3::2]).astype(np.int64).T
        sign = m[:, body]
        ok &= ((sign == _PLUS) | (sign == _MINUS)) & (m[:, body + 3] == _COLON)
        ok &= (off_h <= 23) & (off_m <= 59)
        shift = (off_h * 60 + off_m) * 60_000_000 * np.where(sign == _MINUS, -1, 1)
    else:
        ok &= m[:, body] == _Z
        shift = 0
    leap = (year % 4 == 0) & ((year % 100 != 0) | (year % 400 == 0))
    month_ok = (month >= 1) & (month <= 12)
    last_day = _DAYS_IN_MONTH[np.where(month_ok, month, 0)] + (leap & (month == 2))
    ok &= (year >= 1) & month_ok & (day >= 1) & (day <= last_day)
    ok &= (hour <= 23) & (minute <= 59) & (second <= 59)
    # Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's days_from_civil).
    y = year - (month <= 2)
    era = y // 400
    yoe = y - era * 400
    doy = (153 * np.where(month > 2, month - 3, month + 9) + 2) // 5 + day - 1
    days = era * 146_097 + yoe * 365 + yoe // 4 - yoe // 100 + doy - 719_468
    seconds = days * 86_400 + hour * 3_600 + minute * 60 + second
    return seconds * 1_000_000 + micro - shift, ok
