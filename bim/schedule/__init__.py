"""4D schedules: IFC4/IFC4X3 ``IfcTaskTime``, IFC2X3 ``IfcScheduleTimeControl``, MS Project XML.

Readers take an ``ifcopenshell.file`` (or a path for MSPDI/CSV) and return plain data
(:mod:`bim.schedule.types`); :func:`store_schedule` writes it in the caller's transaction.
:func:`ingest_schedules` is the hook the IFC ingest calls per model; :func:`attach_msproject`
adds an MS Project schedule to a model already loaded.
"""

from bim.schedule.attach_msproject import attach_msproject
from bim.schedule.find_cycles import find_cycles
from bim.schedule.ingest_schedules import ingest_schedules
from bim.schedule.read_calendars import read_calendars
from bim.schedule.read_dependencies import read_dependencies
from bim.schedule.read_msproject import read_msproject
from bim.schedule.read_schedule_data import read_schedule_data
from bim.schedule.read_schedules import read_schedules
from bim.schedule.read_task_elements import read_task_elements
from bim.schedule.read_task_mapping import read_task_mapping
from bim.schedule.read_tasks import read_tasks
from bim.schedule.store_schedule import store_schedule
from bim.schedule.types import Calendar, Dependency, Schedule, ScheduleData, Task, TaskElement

__all__ = [
    "Calendar", "Dependency", "Schedule", "ScheduleData", "Task", "TaskElement",
    "attach_msproject", "find_cycles", "ingest_schedules", "read_calendars", "read_dependencies",
    "read_msproject", "read_schedule_data", "read_schedules", "read_task_elements",
    "read_task_mapping", "read_tasks", "store_schedule",
]
