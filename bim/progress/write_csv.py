"""The deviation report's task table as CSV (UTF-8 with BOM, so Excel opens the Chinese right)."""

from __future__ import annotations

import csv
import io

COLUMNS = [
    ("task_id", "任务编号 task id"), ("name", "名称 name"), ("wbs_parent", "上级 WBS parent"),
    ("planned_start", "计划开始 planned start"), ("planned_finish", "计划完成 planned finish"),
    ("baseline_start", "基线开始 baseline start"), ("baseline_finish", "基线完成 baseline finish"),
    ("actual_start", "实际开始 actual start"), ("actual_finish", "实际完成 actual finish"),
    ("planned_percent", "计划% planned %"), ("reported_percent", "实际% reported %"),
    ("variance", "偏差(百分点) variance (points)"),
    ("start_variance", "开始偏差(天) start variance (days)"),
    ("finish_variance", "完成偏差(天) finish variance (days)"), ("status", "状态 status"),
    ("colour", "颜色 colour"), ("critical", "关键任务 critical"), ("is_summary", "汇总任务 summary"),
    ("is_milestone", "里程碑 milestone"), ("element_count", "构件数 element count"),
    ("done_element_count", "已完成构件数 done element count"),
    ("late_element_count", "滞后构件数 late element count"),
]
DATE_KEYS = {"planned_start", "planned_finish", "baseline_start", "baseline_finish",
             "actual_start", "actual_finish"}


def write_csv(result: dict) -> str:
    """The tasks of a ``compute`` result, one row each, percentages rounded to 0.1."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow([title for _, title in COLUMNS])
    for task in result["tasks"]:
        row = []
        for key, _ in COLUMNS:
            value = task.get(key)
            if isinstance(value, float):
                value = round(value, 1)
            row.append("" if value is None else value)
        writer.writerow(row)
    return "\ufeff" + buffer.getvalue()
