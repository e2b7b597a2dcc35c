"""An app on the session database with the sample city loaded, and a live server for clients
that need a real socket (ogrinfo, requests)."""

from __future__ import annotations

import socket
import threading

import pytest
from werkzeug.serving import make_server

from api import create_app
from api.settings import AppSettings, Settings
from spatial import db, sample_city
from spatial.settings import DatabaseSettings
from tests.conftest import fresh_database

SAMPLE_PROJECTS = 300
SAMPLE_SEED = 7


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def city_url(database_url: str) -> str:
    """A database of its own with the sample city (300 projects, seed 7): other tests may
    empty the shared one."""
    url = fresh_database(database_url, "sitewatch_city")
    with db.connect(url) as conn:
        sample_city.load(conn, projects=SAMPLE_PROJECTS, seed=SAMPLE_SEED)
    return url


@pytest.fixture(scope="session")
def server_port() -> int:
    return _free_port()


@pytest.fixture(scope="session")
def app(city_url: str, server_port: int, tmp_path_factory: pytest.TempPathFactory):
    data = tmp_path_factory.mktemp("app-data")
    settings = Settings(
        app=AppSettings(data=data, port=server_port, host="127.0.0.1"),
        database=DatabaseSettings(database_url=city_url, data=data),
    )
    application = create_app(settings)
    application.config["TESTING"] = True
    return application


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture(scope="session")
def live_server(app, server_port: int):
    """The same app on a real socket (threaded WSGI server, for outside clients)."""
    server = make_server("127.0.0.1", server_port, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server_port}"
    server.shutdown()


@pytest.fixture(scope="session")
def city_conn(city_url: str):
    with db.connect(city_url, autocommit=True) as conn:
        yield conn
