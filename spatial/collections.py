"""The feature collections SiteWatch publishes, as data.

Each collection names its table, id, geometry and properties.  The property list is the whitelist:
``filter``, ``sortby``, ``properties`` and property=value parameters may only name these, and the
SQL expressions here are constants written by us, never text from a request.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property


@dataclass(frozen=True)
class Property:
    name: str
    sql: str                    # SQL expression over the alias ``t``
    type: str                   # JSON Schema type: string, number, integer, boolean, array
    title: str
    title_zh: str
    format: str | None = None   # JSON Schema format: date, date-time
    queryable: bool = True
    enum: tuple[str, ...] | None = None
    # Computed per request (4D status at the status date), not a column: selectable with
    # ``properties``, never filtered or sorted on.  Its SQL reads the alias ``s`` of features.py.
    computed: bool = False

    @property
    def schema(self) -> dict:
        out: dict = {"title": self.title, "type": self.type}
        if self.format:
            out["format"] = self.format
        if self.enum:
            out["enum"] = list(self.enum)
        if self.type == "array":
            out["items"] = {"type": "object"}
        return out


@dataclass(frozen=True)
class Collection:
    id: str
    title: str
    title_zh: str
    description: str
    table: str                       # schema-qualified table, aliased ``t`` in queries
    id_sql: str
    geometry_sql: str
    geometry_type: str
    properties: tuple[Property, ...]
    temporal: tuple[str, str] | None = None   # SQL of the interval ``datetime`` filters on
    # "date": ``datetime`` compares calendar days (Asia/Shanghai); "date-time": exact instants.
    temporal_format: str = "date"
    # "task" or "element": items carry the 4D status at the status date (``datetime``), computed
    # by bim.progress (docs/progress.md) and joined to the page by feature id.
    status: str | None = None
    keywords: tuple[str, ...] = ()
    default_sort: tuple[str, ...] = field(default_factory=tuple)

    def property(self, name: str) -> Property | None:
        return self._by_name.get(name)

    @cached_property
    def _by_name(self) -> dict[str, Property]:
        return {p.name: p for p in self.properties}

    @cached_property
    def queryables(self) -> dict[str, Property]:
        return {p.name: p for p in self.properties if p.queryable}


STAGES = (
    "approval", "planning_permit", "drawing_review", "tendering", "supervision_registration",
    "construction_permit", "under_construction", "completion_acceptance", "filing",
)
PROJECT_TYPES = ("housing", "public_building", "municipal", "industrial", "transport", "water")
KEY_LIVELIHOOD = ("affordable_housing", "school", "hospital")


def _p(name: str, type_: str, title: str, zh: str, *, sql: str | None = None, **kw) -> Property:
    return Property(name=name, sql=sql or f"t.{name}", type=type_, title=title, title_zh=zh, **kw)


# Progress of `projects` at the current date (migration 0009's snapshot), not ledger fields.
PROGRESS_PROPERTIES = (
    _p("progress_date", "string", "Date of the progress figures", "进度统计日期",
       format="date"),
    _p("pv", "number", "Planned value PV (fraction)", "计划完成率 PV"),
    _p("ev", "number", "Earned value EV (fraction)", "挣得完成率 EV"),
    _p("sv", "number", "Schedule variance SV = EV − PV", "进度偏差 SV"),
    _p("spi", "number", "Schedule performance index SPI = EV / PV", "进度绩效指数 SPI"),
    _p("sv_t", "number", "Time variance SV(t) (days)", "时间偏差 SV(t)（天）"),
    _p("spi_t", "number", "Time performance index SPI(t)", "时间绩效指数 SPI(t)"),
    _p("forecast_finish", "string", "Forecast finish", "预测完成时间", format="date-time"),
    _p("card", "string", "Alert card", "红黄牌", enum=("none", "yellow", "red")),
)

PROJECTS = Collection(
    id="projects",
    title="Construction projects",
    title_zh="在建工程项目",
    description=(
        "The project ledger (项目台账) of the housing-and-construction bureau: one footprint per "
        "project with its district, lifecycle stage, parties, investment and dates; for projects "
        "with a BIM schedule, progress at the current date (PV, EV, SV, SPI, SV(t), SPI(t), "
        "forecast finish) and the alert card (红黄牌), as of progress_date."
    ),
    table="sitewatch.project_feature",
    id_sql="t.code",
    geometry_sql="t.footprint",
    geometry_type="MultiPolygon",
    temporal=("t.planned_start", "t.planned_finish"),
    keywords=("construction", "project ledger", "项目台账", "住建"),
    default_sort=("code",),
    properties=(
        _p("code", "string", "Project code (GB/T 40058)", "项目代码"),
        _p("name", "string", "Project name", "项目名称"),
        _p("stage", "string", "Lifecycle stage", "建设阶段", enum=STAGES),
        _p("type", "string", "Project type", "项目类型", enum=PROJECT_TYPES),
        _p("district_code", "string", "District code (GB/T 2260)", "行政区划代码"),
        _p("address", "string", "Address", "建设地址"),
        _p("permit_no", "string", "Construction permit number", "施工许可证编号"),
        _p("investment", "number", "Total investment (10k CNY)", "总投资（万元）"),
        _p("floor_area", "number", "Floor area (m²)", "建筑面积（平方米）"),
        _p("storeys", "integer", "Storeys", "层数"),
        _p("planned_start", "string", "Planned start", "计划开工日期", format="date"),
        _p("planned_finish", "string", "Planned finish", "计划竣工日期", format="date"),
        _p("actual_start", "string", "Actual start", "实际开工日期", format="date"),
        _p("actual_finish", "string", "Actual finish", "实际竣工日期", format="date"),
        _p("key_livelihood", "string", "Key livelihood project", "重点民生工程",
           enum=KEY_LIVELIHOOD),
        _p("construction_unit", "string", "Construction unit (credit code)", "建设单位"),
        _p("contractor_unit", "string", "Contractor (credit code)", "施工单位"),
        _p("supervision_unit", "string", "Supervision unit (credit code)", "监理单位"),
        _p("survey_unit", "string", "Survey unit (credit code)", "勘察单位"),
        _p("design_unit", "string", "Design unit (credit code)", "设计单位"),
        _p("project_manager", "string", "Project manager", "项目经理"),
        _p("chief_supervisor", "string", "Chief supervision engineer", "总监理工程师"),
        _p("image_progress", "string", "Image progress", "形象进度"),
        _p("hazardous_works", "array", "Hazardous works (危大工程)", "危大工程", queryable=False),
        _p("footprint_estimated", "boolean", "Footprint estimated from a point", "轮廓为估算"),
        _p("updated_at", "string", "Last updated", "更新时间", format="date-time"),
        *PROGRESS_PROPERTIES,
    ),
)

DISTRICTS = Collection(
    id="districts",
    title="Districts",
    title_zh="行政区",
    description=(
        "Administrative districts by GB/T 2260 code.  In the sample city the codes and names are "
        "real and the boundaries are synthetic (see the boundary_note property)."
    ),
    table="sitewatch.district",
    id_sql="t.code",
    geometry_sql="t.geom",
    geometry_type="MultiPolygon",
    keywords=("district", "行政区划", "GB/T 2260"),
    default_sort=("code",),
    properties=(
        _p("code", "string", "District code (GB/T 2260)", "行政区划代码", sql="t.code"),
        _p("name", "string", "Name", "名称"),
        _p("name_en", "string", "Name (English)", "英文名称"),
        _p("parent_code", "string", "Parent code", "上级区划代码"),
        _p("synthetic_boundary", "boolean", "Boundary is synthetic", "边界为示意"),
        _p("boundary_note", "string", "Boundary note", "边界说明", queryable=False),
    ),
)

COLLECTIONS: dict[str, Collection] = {c.id: c for c in (DISTRICTS, PROJECTS)}

STATUSES = ("not_started", "on_time", "ahead", "late_start", "behind", "late_finish", "done",
            "done_late")
# The 4D status at the status date (docs/progress.md), on schedule-tasks and bim-elements items.
STATUS_PROPERTIES = (
    _p("status_date", "string", "Status date", "状态日期", format="date", queryable=False,
       computed=True, sql="%(st_date)s::text"),
    _p("planned_percent", "number", "Planned % at the status date", "计划完成率（%）",
       queryable=False, computed=True, sql="s.planned_percent"),
    _p("reported_percent", "number", "Reported % at the status date", "实际完成率（%）",
       queryable=False, computed=True, sql="s.reported_percent"),
    _p("status", "string", "4D status at the status date", "进度状态", enum=STATUSES,
       queryable=False, computed=True, sql="s.status"),
    _p("status_colour", "string", "Colour of the status (#rrggbb)", "状态颜色", queryable=False,
       computed=True, sql="s.colour"),
)
_STATUS_NOTE = (
    "  Each item carries its 4D status at the status date: planned % and reported % (from site "
    "progress reports), status and its colour, the same as in the deviation report and the map.  "
    "The status date is the datetime parameter when it is one date or instant (default: today, "
    "Asia/Shanghai); items of a project's older model versions and of baseline schedules have "
    "none."
)

# -- 4D schedules (issue 3): one feature per task, over the view of migration 0005 ---------------

SCHEDULE_TASKS = Collection(
    id="schedule-tasks",
    title="Schedule tasks (4D)",
    title_zh="进度计划任务",
    description=(
        "Tasks of the 4D schedules read from the projects' IFC models and MS Project files: WBS, "
        "planned and baseline dates, milestones.  The geometry is the union of the footprints of "
        "the elements each task builds or works on (null for a task linked to no element).  A "
        "datetime interval selects tasks whose planned period meets it (days in Asia/Shanghai) "
        "and gives their status at its end." + _STATUS_NOTE
    ),
    table="sitewatch.schedule_task_feature",
    id_sql="t.feature_id",
    geometry_sql="t.geometry",
    geometry_type="MultiPolygon",
    temporal=("t.planned_start_day", "t.planned_finish_day"),
    status="task",
    keywords=("4D", "schedule", "BIM", "进度计划", "施工进度"),
    default_sort=("model_id", "planned_start"),
    properties=(
        _p("task_id", "string", "Task identification (WBS code / TaskId)", "任务编号"),
        _p("name", "string", "Task name", "任务名称"),
        _p("planned_start", "string", "Planned start", "计划开始时间", format="date-time"),
        _p("planned_finish", "string", "Planned finish", "计划完成时间", format="date-time"),
        _p("baseline_start", "string", "Baseline start", "基线开始时间", format="date-time"),
        _p("baseline_finish", "string", "Baseline finish", "基线完成时间", format="date-time"),
        _p("duration_days", "number", "Duration (working days)", "工期（工作日）"),
        _p("is_milestone", "boolean", "Milestone", "里程碑"),
        _p("is_summary", "boolean", "Summary task (has sub-tasks)", "汇总任务"),
        _p("parent_id", "string", "Parent task (feature id)", "上级任务"),
        _p("parent_task_id", "string", "Parent task identification", "上级任务编号"),
        _p("model_id", "integer", "BIM model id", "模型编号"),
        _p("project_code", "string", "Project code (GB/T 40058)", "项目代码"),
        _p("schedule_name", "string", "Schedule name", "进度计划名称"),
        _p("schedule_purpose", "string", "Schedule purpose", "计划类型",
           enum=("planned", "baseline", "actual", "other")),
        _p("schedule_source", "string", "Schedule source", "计划来源", enum=("ifc", "msproject")),
        _p("date_source", "string", "Where the dates come from", "日期来源"),
        _p("element_count", "integer", "Linked elements", "关联构件数"),
        *STATUS_PROPERTIES,
    ),
)
COLLECTIONS[SCHEDULE_TASKS.id] = SCHEDULE_TASKS

# -- BIM elements (issue 3): one feature per element of every parsed model version (0003) ---------

BIM_ELEMENTS = Collection(
    id="bim-elements",
    title="BIM elements",
    title_zh="BIM 构件",
    description=(
        "Elements of the projects' IFC models (walls, slabs, columns, beams, doors, ...) with their "
        "plan footprint in CGCS2000, storey, elevation range (metres above the model's datum) and "
        "quantities.  Every model version is published: filter on model_id, or latest=true for "
        "each project's newest parsed version.  The feature id is model_id:GlobalId." + _STATUS_NOTE
    ),
    table="sitewatch.bim_element_feature",
    id_sql="t.id",
    geometry_sql="t.footprint",
    geometry_type="MultiPolygon",
    status="element",
    keywords=("BIM", "IFC", "building elements", "构件"),
    default_sort=("model_id", "global_id"),
    properties=(
        _p("global_id", "string", "IFC GlobalId", "构件 GlobalId"),
        _p("ifc_class", "string", "IFC class", "IFC 类型"),
        _p("predefined_type", "string", "Predefined type", "预定义类型"),
        _p("name", "string", "Name", "名称"),
        _p("type_name", "string", "Type name", "类型名称"),
        _p("storey", "string", "Storey", "楼层"),
        _p("material", "string", "Material", "材料"),
        _p("model_id", "integer", "BIM model id", "模型编号"),
        _p("model_version", "integer", "Model version", "模型版本"),
        _p("latest", "boolean", "Element of the project's latest parsed model", "最新版本"),
        _p("project_code", "string", "Project code (GB/T 40058)", "项目代码"),
        _p("bottom_elevation", "number", "Bottom elevation (m)", "底标高（米）"),
        _p("top_elevation", "number", "Top elevation (m)", "顶标高（米）"),
        _p("volume", "number", "Volume (m³)", "体积（立方米）"),
        _p("area", "number", "Area (m²; plan area when from geometry)", "面积（平方米）"),
        _p("quantity_source", "string", "Where the quantities come from", "工程量来源",
           enum=("qto", "base_quantities", "geometry")),
        *STATUS_PROPERTIES,
    ),
)
COLLECTIONS[BIM_ELEMENTS.id] = BIM_ELEMENTS

# -- live sensors (issue 6): latest value and state per sensor; open and recent alarms (0004) ------

SENSOR_KINDS = ("pm10", "pm25", "tsp", "noise", "pit_wall_displacement", "settlement",
                "deep_displacement", "strut_force", "tilt", "crane_load_moment", "wind_speed",
                "water_level")

SENSORS = Collection(
    id="sensors",
    title="Site sensors",
    title_zh="工地监测点",
    description=(
        "IoT monitoring points on construction sites (dust, noise, excavation displacement and "
        "settlement, crane load moment, wind, ...) with the latest reading, its time, the rule "
        "state (normal, warning, alarm, no_data) and the levels of the rule that applies now.  "
        "The feature id is the sensor id of /api/v1/sensors/{id}."
    ),
    table="sitewatch.sensor_feature",
    id_sql="t.id",
    geometry_sql="t.location",
    geometry_type="Point",
    keywords=("IoT", "sensors", "monitoring", "监测", "扬尘", "噪声", "基坑监测"),
    default_sort=("project_code", "code"),
    properties=(
        _p("code", "string", "Sensor code (unique in its project)", "监测点编号"),
        _p("name", "string", "Name", "名称"),
        _p("kind", "string", "Kind", "监测类型", enum=SENSOR_KINDS),
        _p("project_code", "string", "Project code (GB/T 40058)", "项目代码"),
        _p("district_code", "string", "District code (GB/T 2260)", "行政区划代码"),
        _p("unit", "string", "Unit", "单位"),
        _p("value", "number", "Latest value", "最新读数"),
        _p("ts", "string", "Time of the latest value", "读数时间", format="date-time"),
        _p("state", "string", "Rule state", "状态",
           enum=("normal", "warning", "alarm", "no_data")),
        _p("threshold_rule", "string", "Rule the levels belong to", "当前规则"),
        _p("warning_threshold", "number", "Warning level", "预警值"),
        _p("alarm_threshold", "number", "Alarm level", "报警值"),
        _p("clear_threshold", "number", "Clear level (hysteresis)", "解除值"),
        _p("hazardous_work", "string", "Hazardous work watched", "危大工程类别"),
        _p("profile", "string", "Rule profile", "规则模板"),
        _p("open_alarm_id", "integer", "Open alarm", "未关闭报警编号"),
    ),
)
COLLECTIONS[SENSORS.id] = SENSORS

ALARMS = Collection(
    id="alarms",
    title="Sensor alarms",
    title_zh="监测报警",
    description=(
        "Alarm episodes of the site sensors: open and acknowledged ones, and those closed in the "
        "last 30 days.  One episode is one alarm: it opens when a rule crosses its warning or "
        "alarm level, escalates, and closes when the value is back below the clear level.  "
        "datetime filters on opened_at (exact instants)."
    ),
    table="sitewatch.alarm_feature",
    id_sql="t.id",
    geometry_sql="t.location",
    geometry_type="Point",
    temporal=("t.opened_at", "t.opened_at"),
    temporal_format="date-time",
    keywords=("alarms", "IoT", "报警", "预警"),
    default_sort=("opened_at",),
    properties=(
        _p("sensor_id", "integer", "Sensor id", "监测点编号（内部）"),
        _p("sensor_code", "string", "Sensor code", "监测点编号"),
        _p("sensor_kind", "string", "Sensor kind", "监测类型", enum=SENSOR_KINDS),
        _p("project_code", "string", "Project code (GB/T 40058)", "项目代码"),
        _p("district_code", "string", "District code (GB/T 2260)", "行政区划代码"),
        _p("state", "string", "State", "状态", enum=("open", "acknowledged", "closed")),
        _p("level", "string", "Highest level reached", "等级", enum=("warning", "alarm")),
        _p("rule", "string", "Rule that opened it", "触发规则"),
        _p("opened_at", "string", "Opened at (time of the reading)", "报警时间",
           format="date-time"),
        _p("opened_value", "number", "Value at opening (the rule's measure)", "触发值"),
        _p("threshold", "number", "Level crossed", "阈值"),
        _p("peak_value", "number", "Peak reading", "峰值"),
        _p("escalated_at", "string", "Escalated at", "升级时间", format="date-time"),
        _p("acknowledged_at", "string", "Acknowledged at", "确认时间", format="date-time"),
        _p("closed_at", "string", "Closed at", "解除时间", format="date-time"),
    ),
)
COLLECTIONS[ALARMS.id] = ALARMS
