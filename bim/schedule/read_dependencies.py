"""Task dependencies from ``IfcRelSequence`` (all schemas)."""

from __future__ import annotations

import ifcopenshell

from bim.schedule._time import duration_days, seconds_to_days
from bim.schedule.types import Dependency

__all__ = ["read_dependencies"]

_KIND = {"FINISH_START": "FS", "START_START": "SS", "FINISH_FINISH": "FF", "START_FINISH": "SF"}


def read_dependencies(ifc_file: ifcopenshell.file, *, hours_per_day: float = 8.0,
                      warnings: list[str] | None = None) -> list[Dependency]:
    """Every ``IfcRelSequence`` between two tasks: kind (FS/SS/FF/SF) and lag in days.

    The lag is IFC4's ``IfcLagTime`` (``LagValue`` an ``IfcDuration``, in working days unless its
    ``DurationType`` is ELAPSEDTIME; an ``IfcRatioMeasure`` is a fraction of the predecessor's
    duration and is not converted, it gives 0 with a warning) or IFC2X3's ``TimeLag`` in seconds
    of working time.  ``NOTDEFINED`` and ``USERDEFINED`` sequences are read as finish-to-start.

    Parameters
    ----------
    ifc_file : ifcopenshell.file
    hours_per_day : float
        Working hours in a day, to turn hour lags into days.
    warnings : list of str, optional
        Receives a line per sequence that could not be read exactly.

    Returns
    -------
    list of Dependency
        Keyed by the tasks' GlobalIds, in file order.
    """
    warnings = warnings if warnings is not None else []
    out = []
    for rel in ifc_file.by_type("IfcRelSequence"):
        a, b = rel.RelatingProcess, rel.RelatedProcess
        if a is None or b is None or not (a.is_a("IfcTask") and b.is_a("IfcTask")):
            continue
        kind = _KIND.get(rel.SequenceType)
        if kind is None:
            warnings.append(f"sequence {rel.GlobalId}: type {rel.SequenceType} read as FS")
            kind = "FS"
        out.append(Dependency(a.GlobalId, b.GlobalId, kind, _lag(rel, hours_per_day, warnings)))
    return out


def _lag(rel: ifcopenshell.entity_instance, hours_per_day: float, warnings: list[str]) -> float:
    lag = rel.TimeLag
    if lag is None:
        return 0.0
    if isinstance(lag, (int, float)):  # IFC2X3 IfcTimeMeasure, seconds
        return seconds_to_days(float(lag), hours_per_day=hours_per_day) or 0.0
    value = lag.LagValue
    if value is None:
        return 0.0
    if value.is_a("IfcDuration"):
        days = duration_days(value.wrappedValue, duration_type=lag.DurationType,
                             hours_per_day=hours_per_day)
        if days is None:
            warnings.append(f"sequence {rel.GlobalId}: lag {value.wrappedValue!r} is not a duration")
            return 0.0
        return days
    warnings.append(f"sequence {rel.GlobalId}: lag {value.is_a()} {value.wrappedValue} (a ratio of "
                    "the predecessor's duration) not converted; stored as 0 days")
    return 0.0
