"""Sphinx configuration for the flask-actions documentation.

Build with ``make docs`` (``sphinx-build -W -b html docs docs/_build/html``).
Pages are Markdown, read by MyST; the API reference uses autodoc.
"""

from __future__ import annotations

import sys
from importlib.metadata import version as _version
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

project = "flask-actions"
author = "The flask-actions developers"
copyright = "the flask-actions developers"
release = _version("flask-server-actions")
version = ".".join(release.split(".")[:2])

extensions = [
    "myst_parser",
    "sphinx.ext.autodoc",
    "sphinx.ext.viewcode",
]
source_suffix = {".md": "markdown"}
root_doc = "index"
exclude_patterns = ["_build", "Thumbs.db", ".DS_Store"]

myst_enable_extensions = ["colon_fence", "deflist"]
myst_heading_anchors = 3

autodoc_member_order = "bysource"
autodoc_typehints = "description"
autodoc_typehints_format = "short"
autodoc_preserve_defaults = True

html_theme = "alabaster"
html_title = f"flask-actions {release}"
html_theme_options = {
    "description": "Server actions for Flask",
    "fixed_sidebar": True,
}

# Protocol pages show pseudo-HTML and pseudo-JSON ("...attrs", "..."): let
# Pygments fall back to plain text for them without failing the build.
suppress_warnings = ["misc.highlighting_failure"]
