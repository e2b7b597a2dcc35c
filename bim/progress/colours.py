"""One colour per 4D status (docs/progress.md): the deviation report, the OGC properties and the
map all use these."""

STATUS_COLOURS = {
    "done": "#2e7d32", "done_late": "#6a1b9a", "late_finish": "#b71c1c",
    "not_started": "#9e9e9e", "late_start": "#ef6c00", "behind": "#e53935",
    "ahead": "#1e88e5", "on_time": "#43a047",
}
