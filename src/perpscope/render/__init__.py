"""perpscope.render: PNG and HTML output of an estimated liquidation heatmap, and a text summary."""

from __future__ import annotations

from .html import render_html
from .png import render_png
from .summary import render_summary

__all__ = ["render_html", "render_png", "render_summary"]
