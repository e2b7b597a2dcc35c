"""The ledger's columns and coded values, as data: Chinese and English headers, enum labels.

Every import header is normalised (:func:`normalise_header`: NFKC, so full-width parentheses and
``㎡`` become ASCII, whitespace removed, lower case, a leading ``*`` required-marker dropped) and
looked up in :data:`HEADER_ALIASES`.  The first alias of each field is the Chinese header the flat
exports (XLSX, CSV) write, so an export re-imports unchanged; vector exports use the English name.

Examples
--------
>>> field_for_header("总投资（万元）")
'investment'
>>> field_for_header("*项目代码")
'code'
>>> ENUMS["stage"].parse("在建")
'under_construction'
>>> ENUMS["type"].parse("public_building")
'public_building'
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from spatial.collections import KEY_LIVELIHOOD, PROJECT_TYPES, STAGES

UNIT_ROLES = {  # project column -> enterprise role (sitewatch.enterprise.roles)
    "construction_unit": "construction",
    "contractor_unit": "contractor",
    "supervision_unit": "supervision",
    "survey_unit": "survey",
    "design_unit": "design",
}
_UNIT_ZH = {"construction_unit": "建设单位", "contractor_unit": "施工单位",
            "supervision_unit": "监理单位", "survey_unit": "勘察单位", "design_unit": "设计单位"}

# field -> value kind; the order is the export column order (that of PROJECTS.properties).
KINDS: dict[str, str] = {
    "code": "code", "name": "text", "stage": "enum", "type": "enum",
    "district_code": "district", "address": "text", "permit_no": "permit",
    "investment": "decimal", "floor_area": "decimal", "storeys": "int",
    "planned_start": "date", "planned_finish": "date", "actual_start": "date",
    "actual_finish": "date", "key_livelihood": "enum",
    "construction_unit": "credit", "contractor_unit": "credit", "supervision_unit": "credit",
    "survey_unit": "credit", "design_unit": "credit",
    "project_manager": "text", "chief_supervisor": "text", "image_progress": "text",
    "hazardous_works": "hazards", "footprint_estimated": "bool",
}
DB_FIELDS = tuple(KINDS)                                  # columns of sitewatch.project we write
NAME_FIELDS = {f"{unit}_name": unit for unit in UNIT_ROLES}  # enterprise names (not on project)
GEOMETRY_FIELDS = ("lon", "lat", "wkt")
REQUIRED = ("code", "name", "district_code", "type", "stage")
MAX_LENGTH = {"name": 200, "address": 500, "project_manager": 100, "chief_supervisor": 100,
              "image_progress": 500}
# numeric limits: numeric(14,2), numeric(12,2), smallint CHECK 0..200
LIMITS = {"investment": 1e12, "floor_area": 1e9, "storeys": 200}

# Headers: the first entry is the one flat exports write.
HEADERS: dict[str, tuple[str, ...]] = {
    "code": ("项目代码", "项目编号", "项目编码", "code", "project_code"),
    "name": ("项目名称", "工程名称", "name", "project_name"),
    "stage": ("建设阶段", "项目阶段", "所处阶段", "stage"),
    "type": ("项目类型", "工程类型", "项目类别", "type", "project_type"),
    "district_code": ("行政区划代码", "区划代码", "所属区县代码", "所属区划代码", "区县代码",
                      "district_code", "region_code"),
    "address": ("建设地址", "项目地址", "工程地址", "地址", "address"),
    "permit_no": ("施工许可证编号", "施工许可证号", "施工许可编号", "permit_no", "permit"),
    "investment": ("总投资（万元）", "总投资", "总投资额（万元）", "投资额（万元）", "investment"),
    "floor_area": ("建筑面积（平方米）", "建筑面积（㎡）", "建筑面积（m²）", "建筑面积",
                   "floor_area"),
    "storeys": ("层数", "建筑层数", "storeys", "floors"),
    "planned_start": ("计划开工日期", "计划开工时间", "planned_start"),
    "planned_finish": ("计划竣工日期", "计划竣工时间", "planned_finish"),
    "actual_start": ("实际开工日期", "实际开工时间", "actual_start"),
    "actual_finish": ("实际竣工日期", "实际竣工时间", "actual_finish"),
    "key_livelihood": ("重点民生工程", "民生工程", "重点民生工程类型", "key_livelihood"),
    **{unit: (zh, f"{zh}统一社会信用代码", f"{zh}信用代码", f"{zh}代码", unit)
       for unit, zh in _UNIT_ZH.items()},
    "project_manager": ("项目经理", "project_manager"),
    "chief_supervisor": ("总监理工程师", "总监", "chief_supervisor"),
    "image_progress": ("形象进度", "image_progress"),
    "hazardous_works": ("危大工程", "危险性较大的分部分项工程", "hazardous_works"),
    "footprint_estimated": ("轮廓为估算", "footprint_estimated"),
    **{f"{unit}_name": (f"{zh}名称", f"{unit}_name") for unit, zh in _UNIT_ZH.items()},
    "lon": ("经度", "lon", "lng", "long", "longitude"),
    "lat": ("纬度", "lat", "latitude"),
    "wkt": ("几何", "几何（WKT）", "geometry", "wkt", "geom", "footprint"),
}
# Columns exports write that imports skip without a warning.
IGNORED_HEADERS = ("更新时间", "updated_at", "序号", "id", "fid")


def normalise_header(text: object) -> str:
    s = unicodedata.normalize("NFKC", str(text)).strip().strip("*").lower()
    return re.sub(r"\s+", "", s)


def _alias_table() -> dict[str, str]:
    table: dict[str, str] = {}
    for field, names in HEADERS.items():
        for name in names:
            table.setdefault(normalise_header(name), field)
    # Shapefile (DBF) truncates field names to 10 bytes: accept the truncated English name for
    # the first field that yields it (credit codes come before their ``_name`` columns).
    for field, names in HEADERS.items():
        for name in names:
            if name.isascii() and len(name) > 10:
                table.setdefault(normalise_header(name[:10]), field)
    return table


HEADER_ALIASES = _alias_table()
_IGNORED = {normalise_header(h) for h in IGNORED_HEADERS}


def field_for_header(header: object) -> str | None:
    """The canonical field for a header, ``""`` for a known column to skip, None when unknown."""
    key = normalise_header(header)
    if key in _IGNORED:
        return ""
    return HEADER_ALIASES.get(key)


def export_header(field: str) -> str:
    """The Chinese header flat exports write for a field."""
    return HEADERS[field][0]


@dataclass(frozen=True)
class Enum:
    """A coded value: English codes as stored, Chinese labels (first one is the export label)."""

    codes: tuple[str, ...]
    labels: dict[str, tuple[str, ...]]

    def parse(self, value: str) -> str | None:
        key = unicodedata.normalize("NFKC", value).strip()
        code = re.sub(r"[\s-]+", "_", key.lower())
        if code in self.codes:
            return code
        for c, names in self.labels.items():
            if key in names:
                return c
        return None

    def label(self, code: str | None) -> str | None:
        return self.labels[code][0] if code in self.labels else code


ENUMS: dict[str, Enum] = {
    "type": Enum(PROJECT_TYPES, {
        "housing": ("房屋建筑", "房屋建筑工程", "住宅", "住宅工程", "房建", "房屋建设"),
        "public_building": ("公共建筑", "公共建筑工程", "公建"),
        "municipal": ("市政", "市政工程", "市政基础设施", "市政基础设施工程", "市政公用工程"),
        "industrial": ("工业", "工业建筑", "工业工程", "厂房"),
        "transport": ("交通", "交通工程", "交通运输", "道路桥梁"),
        "water": ("水利", "水利工程", "水务", "水务工程"),
    }),
    "stage": Enum(STAGES, {
        "approval": ("立项", "立项审批", "项目立项"),
        "planning_permit": ("规划许可", "工程规划许可", "规划审批"),
        "drawing_review": ("施工图审查", "图审", "施工图审查合格"),
        "tendering": ("招投标", "招标投标", "招标"),
        "supervision_registration": ("质量安全监督", "质量安全监督登记", "质监登记", "安全监督"),
        "construction_permit": ("施工许可", "施工许可证", "已取得施工许可"),
        "under_construction": ("在建", "施工中", "在施"),
        "completion_acceptance": ("竣工验收", "竣工", "已竣工"),
        "filing": ("备案", "竣工验收备案", "已备案"),
    }),
    "key_livelihood": Enum(KEY_LIVELIHOOD, {
        "affordable_housing": ("保障房", "保障性住房", "保障性安居工程", "安置房"),
        "school": ("学校", "教育"),
        "hospital": ("医院", "医疗卫生"),
    }),
}
# Values meaning "not a key livelihood project" in a 重点民生工程 column.
NONE_VALUES = frozenset({"", "否", "无", "不是", "非", "-", "—", "/", "none", "no", "n"})
TRUE_VALUES = frozenset({"是", "true", "t", "yes", "y", "1", "√"})
FALSE_VALUES = frozenset({"否", "false", "f", "no", "n", "0", "×"})
BOOL_LABELS = {True: "是", False: "否"}

# Hazardous works written as plain text (基坑、高大模板…): Chinese keyword -> category of
# spatial.projects.HazardousWork; "超过一定规模"/"超规模" marks beyond_scale.
HAZARD_KEYWORDS: tuple[tuple[str, str], ...] = (
    ("基坑", "excavation"), ("土方开挖", "excavation"), ("模板", "formwork"),
    ("支撑", "formwork"), ("起重", "lifting"), ("吊装", "lifting"), ("塔吊", "lifting"),
    ("脚手架", "scaffolding"), ("拆除", "demolition"), ("暗挖", "tunnelling"),
    ("隧道", "tunnelling"), ("幕墙", "curtain_wall"), ("钢结构", "steel_structure"),
    ("挖孔桩", "manual_piles"),
)
BEYOND_SCALE_MARKERS = ("超过一定规模", "超规模", "超危")
