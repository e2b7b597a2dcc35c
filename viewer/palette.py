"""Colours of the map, in one place (RGBA 0–255), handed to the page inside the deck spec.

The 4D status colours are those of the deviation report and the OGC properties
(bim.progress.colours); where no progress is reported the page shows what the schedule alone
tells: not started, in progress (planned), done (planned).
"""

from __future__ import annotations

from bim.progress.colours import STATUS_COLOURS

Colour = tuple[int, int, int, int]


def hex_rgba(value: str, alpha: int = 255) -> Colour:
    """``"#1b9e9e"`` → ``(27, 158, 158, 255)``."""
    value = value.lstrip("#")
    return int(value[0:2], 16), int(value[2:4], 16), int(value[4:6], 16), alpha


STAGE = {
    "approval": hex_rgba("#a9bcd6"),
    "planning_permit": hex_rgba("#8fa8cb"),
    "drawing_review": hex_rgba("#7593bf"),
    "tendering": hex_rgba("#5b7fb3"),
    "supervision_registration": hex_rgba("#446ca6"),
    "construction_permit": hex_rgba("#7d6bb5"),
    "under_construction": hex_rgba("#15a0a0"),
    "completion_acceptance": hex_rgba("#7cc47f"),
    "filing": hex_rgba("#a3a3a3"),
}
CARD = {
    "red": hex_rgba("#d7301f"),
    "yellow": hex_rgba("#f2b705"),
    "none": hex_rgba("#3f9c5a"),
    "green": hex_rgba("#3f9c5a"),
}
STATUS = {
    # reported progress at the status date: the report's and the feeds' colours
    **{status: hex_rgba(colour) for status, colour in STATUS_COLOURS.items()},
    # planned only (from the schedule); not_started and done as above
    "in_progress": hex_rgba("#64b5f6"),
    "unscheduled": hex_rgba("#dfe3e8", 160),
}
SENSOR = {
    "normal": hex_rgba("#2b9a4a"),
    "warning": hex_rgba("#f2a000"),
    "alarm": hex_rgba("#e01e1e"),
    "offline": hex_rgba("#8a949e"),
}
OTHER = {
    "district_line": hex_rgba("#4a5a6e", 200),
    "district_fill": hex_rgba("#e9eef3", 90),
    "district_text": hex_rgba("#2d3b4c"),
    "unknown": hex_rgba("#8a949e"),
}


def as_json() -> dict[str, dict[str, list[int]]]:
    return {name: {k: list(v) for k, v in table.items()}
            for name, table in (("stage", STAGE), ("card", CARD), ("status", STATUS),
                                ("sensor", SENSOR), ("other", OTHER))}


def project_colour(properties: dict) -> Colour:
    """The fill of a project as the page draws it: its card when it has one, else its stage."""
    card = properties.get("card")
    if card and card in CARD:
        return CARD[card]
    return STAGE.get(properties.get("stage") or "", OTHER["unknown"])
