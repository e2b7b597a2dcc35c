"""Sensor kinds, their canonical units and the spellings gateways use for them."""

from __future__ import annotations

import unicodedata

KINDS: dict[str, str] = {
    "pm10": "µg/m³",
    "pm25": "µg/m³",
    "tsp": "µg/m³",
    "noise": "dB(A)",
    "pit_wall_displacement": "mm",
    "settlement": "mm",
    "deep_displacement": "mm",
    "strut_force": "kN",
    "tilt": "‰",
    "crane_load_moment": "%",
    "wind_speed": "m/s",
    "water_level": "m",
}

ENVIRONMENT_KINDS = frozenset({"pm10", "pm25", "tsp", "noise"})

HAZARD_CATEGORIES = ("excavation", "formwork", "lifting", "scaffolding", "demolition",
                     "tunnelling", "curtain_wall", "steel_structure", "manual_piles", "other")

# Spellings seen from gateways, after NFKC folding and lower-casing, to the canonical unit.
_ALIASES: dict[str, str] = {
    "µg/m³": "µg/m³", "ug/m3": "µg/m³", "ug/m³": "µg/m³", "µg/m3": "µg/m³", "ug/m^3": "µg/m³",
    "db(a)": "dB(A)", "dba": "dB(A)", "db": "dB(A)",
    "mm": "mm", "kn": "kN", "‰": "‰", "permille": "‰", "mm/m": "‰",
    "%": "%", "percent": "%", "m/s": "m/s", "m": "m",
}


def canonical_unit(text: str) -> str | None:
    """The canonical spelling of a unit, or None when it is not one we know.

    >>> canonical_unit("ug/m3"), canonical_unit("dBA"), canonical_unit("furlong")
    ('µg/m³', 'dB(A)', None)
    """
    folded = unicodedata.normalize("NFKC", text).strip().lower().replace("μ", "µ")
    folded = folded.replace(" ", "")
    # NFKC turns ³ into 3 and µ (micro) into μ (Greek mu); fold both ways to one key.
    folded = folded.replace("μ", "µ")
    return _ALIASES.get(folded) or _ALIASES.get(folded.replace("µ", "u"))
