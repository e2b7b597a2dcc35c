"""Cell values to typed ledger values.  Each parser returns the value or raises ``ValueError`` whose
message is the reason shown to the user; ``None`` means the cell is empty.

Cells come from pandas (NaN, Timestamp, numpy scalars), openpyxl (datetime, int, float) or CSV text.

Examples
--------
>>> parse_date("2024年3月5日")
datetime.date(2024, 3, 5)
>>> parse_decimal("1,234.5")
Decimal('1234.5')
>>> parse_code_text(330106.0)
'330106'
"""

from __future__ import annotations

import json
import math
import re
import unicodedata
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

import pandas as pd
from pydantic import ValidationError

from spatial import codes
from spatial.ledger import columns
from spatial.projects import HazardousWork  # the REST API's model of one item

PROJECT_CODE_DB = re.compile(r"^[0-9A-Za-z][0-9A-Za-z_-]{0,63}$")  # the CHECK on project.code
_DATE_TEXT = re.compile(r"^(\d{4})\s*[-/.年]\s*(\d{1,2})\s*[-/.月]\s*(\d{1,2})\s*日?"
                        r"(?:[ T]00:00(?::00(?:\.0+)?)?)?$")
_FORMULA_ESCAPE = re.compile(r"^'(?=[=+\-@\t\r])")  # CSV exports prefix these with a quote


def is_empty(value: Any) -> bool:
    if value is None:
        return True
    if isinstance(value, float) and math.isnan(value):
        return True
    if isinstance(value, str) and not value.strip():
        return True
    if isinstance(value, (list, dict, tuple)):
        return False
    try:  # pandas NA / NaT
        return bool(pd.isna(value))
    except (TypeError, ValueError):
        return False


def _scalar(value: Any) -> Any:
    """numpy scalars to Python ones."""
    item = getattr(value, "item", None)
    if item is not None and type(value).__module__ == "numpy":
        return item()
    return value


def parse_text(value: Any) -> str | None:
    if is_empty(value):
        return None
    value = _scalar(value)
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    text = _FORMULA_ESCAPE.sub("", str(value).strip())
    return text or None


def parse_code_text(value: Any) -> str | None:
    """Identifiers that spreadsheets like to turn into numbers (330106 -> 330106.0)."""
    if is_empty(value):
        return None
    value = _scalar(value)
    if isinstance(value, float):
        if not value.is_integer():
            raise ValueError(f"{value!r} is not a code")
        value = int(value)
    return unicodedata.normalize("NFKC", str(value)).strip()


def parse_project_code(value: Any) -> str | None:
    code = parse_code_text(value)
    if code is not None and not PROJECT_CODE_DB.fullmatch(code):
        raise ValueError(f"{code!r} is not a project code (letters, digits, '-' and '_', e.g. "
                         "GB/T 40058 2024-330106-47-01-000001)")
    return code


def parse_district(value: Any) -> str | None:
    code = parse_code_text(value)
    if code is not None and not codes.REGION_CODE.fullmatch(code):
        raise ValueError(f"{code!r} is not a 6-digit GB/T 2260 district code")
    return code


def parse_credit_code(value: Any) -> str | None:
    code = parse_code_text(value)
    if code is None:
        return None
    code = code.upper()
    if not codes.is_valid_credit_code(code):
        raise ValueError(f"{code!r} is not a valid unified social credit code (GB 32100: 18 "
                         "characters with a matching check character)")
    return code


def parse_permit(value: Any) -> str | None:
    permit = parse_code_text(value)
    if permit is not None and not codes.is_valid_permit_no(permit):
        raise ValueError(f"{permit!r} is not a construction permit number (18 digits: region, "
                         "issue date, serial, trade code)")
    return permit


def parse_decimal(value: Any, *, limit: float = 1e12) -> Decimal | None:
    if is_empty(value):
        return None
    value = _scalar(value)
    if isinstance(value, bool):
        raise ValueError(f"{value!r} is not a number")
    if isinstance(value, float):
        text = repr(value)
    else:
        text = unicodedata.normalize("NFKC", str(value)).strip().replace(",", "").replace(" ", "")
    try:
        number = Decimal(text)
    except InvalidOperation:
        raise ValueError(f"{value!r} is not a number") from None
    if not number.is_finite():
        raise ValueError(f"{value!r} is not a finite number")
    if number < 0:
        raise ValueError(f"{value!r} is negative")
    if number >= Decimal(repr(limit)):
        raise ValueError(f"{value!r} is too large (limit {limit:g})")
    return number


def parse_int(value: Any, *, limit: int = 200) -> int | None:
    number = parse_decimal(value, limit=limit + 1)
    if number is None:
        return None
    if number != number.to_integral_value():
        raise ValueError(f"{value!r} is not a whole number")
    return int(number)


def parse_date(value: Any) -> date | None:
    if is_empty(value):
        return None
    value = _scalar(value)
    if isinstance(value, datetime):  # also pandas.Timestamp
        if (value.hour, value.minute, value.second, value.microsecond) != (0, 0, 0, 0):
            raise ValueError(f"{value!s} has a time of day; expected a date")
        return date(value.year, value.month, value.day)
    if isinstance(value, date):
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    text = unicodedata.normalize("NFKC", str(value)).strip()
    match = _DATE_TEXT.fullmatch(text)
    if match is None and re.fullmatch(r"\d{8}", text):
        match = re.fullmatch(r"(\d{4})(\d{2})(\d{2})", text)
    if match is None:
        raise ValueError(f"{text!r} is not a date (YYYY-MM-DD)")
    try:
        return date(int(match.group(1)), int(match.group(2)), int(match.group(3)))
    except ValueError:
        raise ValueError(f"{text!r} is not a calendar date") from None


def parse_bool(value: Any) -> bool | None:
    if is_empty(value):
        return None
    value = _scalar(value)
    if isinstance(value, bool):
        return value
    text = normalised_word(value)
    if text in columns.TRUE_VALUES:
        return True
    if text in columns.FALSE_VALUES:
        return False
    raise ValueError(f"{value!r} is not yes/no (是/否)")


def normalised_word(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return unicodedata.normalize("NFKC", str(value)).strip().lower()


def parse_enum(field: str, value: Any) -> str | None:
    text = parse_text(value)
    if text is None:
        return None
    if field == "key_livelihood" and normalised_word(text) in columns.NONE_VALUES:
        return None
    enum = columns.ENUMS[field]
    code = enum.parse(text)
    if code is None:
        choices = ", ".join(f"{c} ({enum.label(c)})" for c in enum.codes)
        raise ValueError(f"unknown {field} {text!r}; expected one of {choices}")
    return code


def parse_hazards(value: Any) -> list[dict]:
    """危大工程: a JSON array of ``{"category", "beyond_scale", "description"}`` objects (what
    exports write), or plain text such as ``深基坑（超过一定规模）、落地脚手架`` split on 、,;
    and classified by keyword.  Empty is ``[]``."""
    if is_empty(value):
        return []
    if isinstance(value, (list, tuple)):
        items: Any = list(value)
    else:
        text = str(_scalar(value)).strip()
        if text.startswith("["):
            try:
                items = json.loads(text)
            except json.JSONDecodeError as exc:
                raise ValueError(f"not a JSON array: {exc.msg}") from None
        else:
            items = [_hazard_from_text(part) for part in re.split(r"[、,，;；\n]+", text)
                     if part.strip()]
    if not isinstance(items, list):
        raise ValueError("expected a JSON array")
    for i, item in enumerate(items):
        try:
            HazardousWork.model_validate(item)
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"])
            raise ValueError(f"item {i + 1}: {where} {first['msg']}") from None
    return items  # as given, so an export re-imports unchanged


def _hazard_from_text(text: str) -> dict:
    text = text.strip()
    category = next((cat for word, cat in columns.HAZARD_KEYWORDS if word in text), "other")
    beyond = any(marker in text for marker in columns.BEYOND_SCALE_MARKERS)
    return {"category": category, "beyond_scale": beyond, "description": text[:500]}


def parse_number(value: Any) -> float | None:
    """A coordinate."""
    if is_empty(value):
        return None
    value = _scalar(value)
    try:
        number = float(unicodedata.normalize("NFKC", str(value)).strip())
    except ValueError:
        raise ValueError(f"{value!r} is not a number") from None
    if not math.isfinite(number):
        raise ValueError(f"{value!r} is not a finite number")
    return number
