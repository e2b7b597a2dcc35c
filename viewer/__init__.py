"""The supervisor's map page: templates and assets (served by ``api.viewer``).

This package holds no Flask code; ``TEMPLATES`` is where the page templates live.
"""

from importlib import resources

TEMPLATES = str(resources.files("viewer") / "templates")
