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


PROJECTS = Collection(
    id="projects",
    title="Construction projects",
    title_zh="在建工程项目",
    description=(
        "The project ledger (项目台账) of the housing-and-construction bureau: one footprint per "
        "project with its district, lifecycle stage, parties, investment and dates."
    ),
    table="sitewatch.project",
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
