"""Ingest: check, store, queue, parse (in a child process), write, re-place."""

from bim.ingest.check_file import SUPPORTED_SCHEMAS, IfcHeader, check_file
from bim.ingest.jobs import enqueue, recover_stale, take_job
from bim.ingest.load_model import load_model
from bim.ingest.parse_model import ParsedModel, parse_model
from bim.ingest.place_model import place_model
from bim.ingest.read_model import get_model, list_models
from bim.ingest.run_parse import mark_failed, run_parse, warm_up
from bim.ingest.store_file import StoredFile, file_path, store_file
from bim.ingest.submit_model import submit_model
from bim.ingest.worker import Worker, run_next
from bim.ingest.write_model import write_model

__all__ = [
    "SUPPORTED_SCHEMAS", "IfcHeader", "ParsedModel", "StoredFile", "Worker", "check_file",
    "enqueue", "file_path", "get_model", "list_models", "load_model", "mark_failed", "parse_model",
    "place_model", "recover_stale", "run_next", "run_parse", "store_file", "submit_model",
    "take_job", "warm_up", "write_model",
]
