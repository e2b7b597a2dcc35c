"""Identifiers of the Chinese construction ledger: check them and make them.

- Unified social credit code (统一社会信用代码, GB 32100-2015): 18 characters from a 31-letter
  alphabet (no I, O, S, V, Z); registration authority, entity type, 6-digit region, 9-character
  organisation code (GB 11714, own check character), and a final check character.
- Construction permit number (施工许可证编号): 6-digit region + 8-digit date + 2-digit serial +
  2-digit trade code, 18 digits.
- Project code (项目代码, GB/T 40058-2021): ``YYYY-RRRRRR-II-TT-NNNNNN`` (year, region, industry,
  type, serial).

Examples
--------
>>> credit_code_check_char("91330100716105852")  # a published code, ending in F
'F'
>>> is_valid_credit_code("91330100716105852F")
True
>>> is_valid_permit_no("330106202403150101")
True
"""

from __future__ import annotations

import re
from datetime import date

CREDIT_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
_CREDIT_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)
_ORG_WEIGHTS = (3, 7, 9, 10, 5, 8, 4, 2)
_ORG_ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"  # GB 11714 letters count 10..35

PROJECT_CODE = re.compile(r"^\d{4}-\d{6}-\d{2}-\d{2}-\d{6}$")
REGION_CODE = re.compile(r"^\d{6}$")


def credit_code_check_char(first17: str) -> str:
    """The 18th character of a credit code from its first 17 (GB 32100-2015, 5.2)."""
    total = sum(CREDIT_ALPHABET.index(c) * w for c, w in zip(first17, _CREDIT_WEIGHTS))
    return CREDIT_ALPHABET[(31 - total % 31) % 31]


def org_code_check_char(first8: str) -> str:
    """The 9th character of a GB 11714 organisation code from its first 8."""
    total = sum(_ORG_ALPHABET.index(c) * w for c, w in zip(first8, _ORG_WEIGHTS))
    check = 11 - total % 11
    return {10: "X", 11: "0"}.get(check, str(check))


def is_valid_credit_code(code: object) -> bool:
    if not isinstance(code, str) or len(code) != 18:
        return False
    if any(c not in CREDIT_ALPHABET for c in code):
        return False
    return credit_code_check_char(code[:17]) == code[17]


def make_credit_code(region: str, serial: int, *, authority: str = "9", kind: str = "1") -> str:
    """A well-formed credit code for a company registered in ``region`` (sample data)."""
    body = f"{serial:07d}"[-7:]
    org8 = "MA" + body[:6]  # new-style registrations start with MA
    org = org8 + org_code_check_char(org8)
    first17 = f"{authority}{kind}{region}{org}"
    return first17 + credit_code_check_char(first17)


def is_valid_permit_no(value: object) -> bool:
    if not isinstance(value, str) or not re.fullmatch(r"\d{18}", value):
        return False
    try:
        date(int(value[6:10]), int(value[10:12]), int(value[12:14]))
    except ValueError:
        return False
    return True


def make_permit_no(region: str, issued: date, serial: int, trade: int = 1) -> str:
    return f"{region}{issued:%Y%m%d}{serial % 100:02d}{trade % 100:02d}"


def make_project_code(year: int, region: str, industry: int, kind: int, serial: int) -> str:
    return f"{year:04d}-{region}-{industry:02d}-{kind:02d}-{serial:06d}"
