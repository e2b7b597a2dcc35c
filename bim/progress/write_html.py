"""The deviation report as one self-contained HTML page for people (no scripts, no CDN).

Chinese headings with English beside them, the summary, an S-curve (the planned curve PV(t) with
the earned value at the status date and the earned schedule marked) and the task table coloured
by status, the earned curve EV(t) up to the status date (when computed with ``history``) and the
late elements grouped by storey and IFC class.
"""

from __future__ import annotations

from jinja2 import Environment

from bim.progress.compute import STATUS_COLOURS
from bim.progress.write_csv import COLUMNS

_TEMPLATE = """<!doctype html>
<html lang="zh-CN"><head><meta charset="utf-8">
<title>进度偏差报告 Deviation report — {{ r.project }} — {{ r.status_date }}</title>
<style>
body { font-family: "Noto Sans CJK SC", "Microsoft YaHei", sans-serif; margin: 2em; }
table { border-collapse: collapse; font-size: 13px; }
th, td { border: 1px solid #ccc; padding: 3px 6px; text-align: left; }
th { background: #f0f0f0; position: sticky; top: 0; }
td.num { text-align: right; }
.status { color: #fff; }
.legend span { display: inline-block; padding: 2px 8px; margin: 2px; color: #fff; }
</style></head><body>
<h1>进度偏差报告 Deviation report</h1>
<p>项目 Project: <b>{{ r.project }}</b> · 状态日期 Status date: <b>{{ r.status_date }}</b>
 · 容差 Tolerance: {{ r.tolerance }} 个百分点 points</p>
<h2>汇总 Summary</h2>
<table>{% for label, value in summary %}
<tr><th>{{ label }}</th><td class="num">{{ value }}</td></tr>{% endfor %}</table>
<h2>S 曲线 S-curve</h2>
{{ svg | safe }}
<h2>滞后构件 Late elements (按楼层与 IFC 类型 by storey and IFC class)</h2>
{% if late %}<table><tr><th>楼层 Storey</th><th>IFC 类型 class</th><th>数量 Count</th></tr>
{% for g in late %}<tr><td>{{ g.storey or "—" }}</td><td>{{ g.ifc_class }}</td>
<td class="num">{{ g.count }}</td></tr>{% endfor %}</table>
{% else %}<p>无 None.</p>{% endif %}
<h2>任务 Tasks</h2>
<p class="legend">{% for s, c in colours.items() %}
<span style="background:{{ c }}">{{ s }}</span>{% endfor %}</p>
<table><tr>{% for _, title in columns %}<th>{{ title }}</th>{% endfor %}</tr>
{% for row, colour in rows %}<tr>{% for value, is_status in row %}
<td{% if is_status %} class="status" style="background:{{ colour }}"{% endif %}>{{ value }}</td>
{% endfor %}</tr>{% endfor %}</table>
</body></html>
"""


def _fmt(value: object, digits: int = 1) -> str:
    if value is None:
        return "—"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    if isinstance(value, bool):
        return "是 yes" if value else ""
    text = str(value)
    if len(text) >= 16 and text[4] == "-" and text[10] == "T":   # an ISO instant: local minutes
        return text[:16].replace("T", " ")
    return text


def _svg(summary: dict) -> str:
    curve = summary.get("curve")
    if not curve or len(curve) < 2:
        return "<p>无计划曲线 No planned curve.</p>"
    w, h, pad = 640, 300, 40
    n = len(curve) - 1
    history = summary.get("earned_curve") or []
    # Past the planned finish the axis runs on to the status date (the plan stays at 100 %).
    span = max(float(n), *(p["day"] for p in history)) if history else float(n)

    def xy(day: float, frac: float) -> tuple[float, float]:
        return pad + (w - 2 * pad) * day / span, h - pad - (h - 2 * pad) * frac

    planned = [*enumerate(curve), *([(span, 1.0)] if span > n else [])]
    points = " ".join("{:.1f},{:.1f}".format(*xy(k, v)) for k, v in planned)
    earned = " ".join("{:.1f},{:.1f}".format(*xy(p["day"], p["ev"]))
                      for p in [{"day": 0.0, "ev": 0.0}, *history])
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}">',
             f'<rect x="{pad}" y="{pad}" width="{w - 2 * pad}" height="{h - 2 * pad}" '
             'fill="none" stroke="#999"/>',
             f'<polyline fill="none" stroke="#1e88e5" stroke-width="2" points="{points}"/>',
             f'<text x="{pad}" y="{pad - 8}" font-size="12">计划 PV(t)（蓝 blue）与挣得 EV(t)'
             f'（红 red）, 0–100%, 横轴: 天 days 0–{span:.0f}</text>']
    if summary.get("earned_curve"):
        parts.append(f'<polyline fill="none" stroke="#e53935" stroke-width="2" '
                     f'points="{earned}"/>')
    at, es, ev = summary.get("at"), summary.get("es"), summary.get("ev")
    if at is not None and ev is not None and 0 <= at <= span:
        x, y = xy(at, ev)
        parts.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="5" fill="#e53935"/>'
                     f'<text x="{x + 8:.1f}" y="{y:.1f}" font-size="12">EV @ AT</text>')
    if es is not None and ev is not None:
        x, y = xy(es, ev)
        parts.append(f'<line x1="{x:.1f}" y1="{y:.1f}" x2="{x:.1f}" y2="{h - pad}" '
                     'stroke="#43a047" stroke-dasharray="4"/>'
                     f'<text x="{x + 4:.1f}" y="{h - pad - 4}" font-size="12">ES</text>')
    parts.append("</svg>")
    return "".join(parts)


def _pct(value: float | None) -> str:
    return "—" if value is None else f"{100 * value:.1f}%"


def write_html(result: dict) -> str:
    """The page as a string."""
    s = result["summary"]
    summary = [("计划完成率 PV", _pct(s.get("pv"))), ("挣得完成率 EV", _pct(s.get("ev"))),
               ("进度偏差 SV", _pct(s.get("sv"))), ("进度绩效指数 SPI", _fmt(s.get("spi"), 3)),
               ("挣得进度 ES (天 days)", _fmt(s.get("es"))),
               ("实际时间 AT (天 days)", _fmt(s.get("at"))),
               ("时间偏差 SV(t) (天 days)", _fmt(s.get("sv_t"))),
               ("时间绩效指数 SPI(t)", _fmt(s.get("spi_t"), 3)),
               ("计划开始 Planned start", _fmt(s.get("planned_start"))),
               ("计划完成 Planned finish", _fmt(s.get("planned_finish"))),
               ("预测完成 Forecast finish", _fmt(s.get("forecast_finish"))),
               ("红黄牌 Card", _fmt(s.get("card")))]
    rows = [([(_fmt(t.get(k)), k == "status") for k, _ in COLUMNS], t["colour"])
            for t in result["tasks"]]
    env = Environment(autoescape=True)
    return env.from_string(_TEMPLATE).render(r=result, summary=summary, svg=_svg(s), rows=rows,
                                             columns=COLUMNS, colours=STATUS_COLOURS,
                                             late=result.get("late_elements", []))
