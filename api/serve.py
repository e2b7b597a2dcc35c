"""Run the app under gunicorn (never Flask's development server).

Workers × threads come from the core count (``AppSettings.worker_layout``); each worker builds
its own app and connection pool.  The running instance writes ``server.url`` and ``server.pid``
under ``$SITEWATCH_DATA/run`` so other tools can find it.
"""

from __future__ import annotations

import logging

from gunicorn.app.base import BaseApplication

from api.settings import Settings

logger = logging.getLogger(__name__)


class _Gunicorn(BaseApplication):
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        super().__init__()

    def load_config(self) -> None:
        app = self.settings.app
        workers, threads = app.worker_layout()
        run_dir = app.run_dir
        options = {
            "bind": f"{app.host}:{app.port}",
            "workers": workers,
            "threads": threads,
            "worker_class": "gthread",
            "timeout": 120,
            "graceful_timeout": 10,
            "keepalive": 5,
            "pidfile": str(run_dir / "server.pid"),
            "accesslog": None,
            "errorlog": "-",
            "loglevel": "warning",
            "proc_name": "sitewatch",
            "limit_request_line": 16384,
        }
        for key, value in options.items():
            self.cfg.set(key, value)

    def load(self):
        from api import create_app

        return create_app(self.settings)


def run(settings: Settings) -> None:
    app = settings.app
    app.run_dir.mkdir(parents=True, exist_ok=True)
    (app.run_dir / "server.url").write_text(app.base_url + "\n", encoding="utf-8")
    try:
        _Gunicorn(settings).run()
    finally:
        (app.run_dir / "server.url").unlink(missing_ok=True)
