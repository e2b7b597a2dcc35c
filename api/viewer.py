"""Serves the viewer page at ``/`` from the viewer package's templates."""

from __future__ import annotations

from flask import Blueprint, current_app, render_template

import viewer

bp = Blueprint("viewer", __name__, template_folder=viewer.TEMPLATES)


@bp.get("/")
def index() -> str:
    settings = current_app.config["SITEWATCH_SETTINGS"].app
    return render_template("index.html", base_url=settings.base_url)
