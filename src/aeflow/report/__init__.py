"""Reports a person opens: a study's results rendered with Jinja2 templates as report.html (self-contained:
every image inlined, no network needed), report.md and report.json."""

from aeflow.report.render import render_report

__all__ = ["render_report"]
