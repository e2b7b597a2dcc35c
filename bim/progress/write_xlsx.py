"""The deviation report as XLSX: the task table (frozen header, number formats, status fills)
and a summary sheet."""

from __future__ import annotations

import io
from datetime import datetime

from openpyxl import Workbook  # type: ignore[import-untyped]
from openpyxl.cell import WriteOnlyCell  # type: ignore[import-untyped]
from openpyxl.styles import Font, PatternFill  # type: ignore[import-untyped]
from openpyxl.utils import get_column_letter  # type: ignore[import-untyped]

from bim.progress.compute import STATUS_COLOURS
from bim.progress.write_csv import COLUMNS, DATE_KEYS

SUMMARY = [
    ("pv", "计划完成率 PV", "0.0%"), ("ev", "挣得完成率 EV", "0.0%"),
    ("sv", "进度偏差 SV", "0.0%"), ("spi", "进度绩效指数 SPI", "0.000"),
    ("es", "挣得进度 ES (days)", "0.0"), ("at", "实际时间 AT (days)", "0.0"),
    ("sv_t", "时间偏差 SV(t) (days)", "0.0"), ("spi_t", "时间绩效指数 SPI(t)", "0.000"),
    ("planned_start", "计划开始 planned start", None),
    ("planned_finish", "计划完成 planned finish", None),
    ("forecast_finish", "预测完成 forecast finish", None), ("card", "红黄牌 card", None),
]
_NUMBER_KEYS = {"planned_percent", "reported_percent", "variance", "start_variance",
                "finish_variance"}


def write_xlsx(result: dict) -> bytes:
    """A workbook with sheets 任务 Tasks and 汇总 Summary, as bytes (write-only: fast and lean)."""
    book = Workbook(write_only=True)
    sheet = book.create_sheet("任务 Tasks")
    sheet.freeze_panes = "A2"
    for col, (_, title) in enumerate(COLUMNS, start=1):
        sheet.column_dimensions[get_column_letter(col)].width = max(12, len(title) + 4)
    bold, white = Font(bold=True), Font(color="FFFFFF")
    fills = {c: PatternFill("solid", start_color=c.lstrip("#").upper(),
                            end_color=c.lstrip("#").upper()) for c in STATUS_COLOURS.values()}

    def cell(value: object, *, font: Font | None = None, fill: PatternFill | None = None,
             number_format: str | None = None) -> WriteOnlyCell:
        c = WriteOnlyCell(sheet, value=value)
        if font is not None:
            c.font = font
        if fill is not None:
            c.fill = fill
        if number_format:
            c.number_format = number_format
        return c

    sheet.append([cell(title, font=bold) for _, title in COLUMNS])
    for task in result["tasks"]:
        row = []
        for key, _ in COLUMNS:
            value = task.get(key)
            if key == "status":
                row.append(cell(value, font=white, fill=fills.get(task["colour"])))
            elif key in _NUMBER_KEYS:
                row.append(cell(value, number_format="0.0"))
            elif key in DATE_KEYS and value:
                # Excel has no time zones: local (Asia/Shanghai) wall time, as the columns say.
                row.append(cell(datetime.fromisoformat(value).replace(tzinfo=None),
                                number_format="yyyy-mm-dd hh:mm"))
            else:
                row.append(value)
        sheet.append(row)

    summary = book.create_sheet("汇总 Summary")
    summary.column_dimensions["A"].width = 28
    summary.column_dimensions["B"].width = 30
    summary.append(["项目 project", result["project"]])
    summary.append(["状态日期 status date", result["status_date"]])
    for key, title, fmt in SUMMARY:
        summary.append([title, cell(result["summary"].get(key), number_format=fmt)])
    summary.append([])
    summary.append([cell("滞后构件 late elements: 楼层 storey", font=bold),
                    cell("IFC 类型 class", font=bold), cell("数量 count", font=bold)])
    for group in result.get("late_elements", []):
        summary.append([group["storey"] or "—", group["ifc_class"], group["count"]])
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()
