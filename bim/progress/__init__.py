"""Progress reported from site and planned-vs-earned at a status date (docs/progress.md)."""

from bim.progress.check_cards import check_cards
from bim.progress.compute import STATUS_COLOURS, compute
from bim.progress.record_reports import MAX_BATCH, record_reports

__all__ = ["MAX_BATCH", "STATUS_COLOURS", "check_cards", "compute", "record_reports"]
