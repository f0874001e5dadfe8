"""report.html, report.md and report.json from a study's results (a dict of JSON-able values and dataclasses)."""

from __future__ import annotations

import base64
import html
from pathlib import Path
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

from aeflow.config import to_dict
from aeflow.files import atomic_write_text, write_json


def _environment() -> Environment:
    env = Environment(loader=PackageLoader("aeflow.report", "templates"), autoescape=select_autoescape(["html"]),
                      undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    env.filters["num"] = _number
    return env


def _number(value: Any, digits: int = 2) -> str:
    if value is None:
        return "—"
    if isinstance(value, list) and all(isinstance(v, (int, float)) for v in value):
        return ", ".join(_number(v, digits) for v in value) or "none"
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return str(value)
    if isinstance(value, int) or float(value).is_integer() and abs(value) >= 100:
        return f"{int(value):,}"
    return f"{value:,.{digits}f}"


def render_report(report: dict[str, Any], out: str | Path, study: str = "lineage") -> dict[str, Path]:
    """Write the three files into `out` (where the report's figure paths are relative to) with the `study`'s
    templates; return their paths."""
    out = Path(out)
    env = _environment()

    def inline(relative: str) -> str:
        """A PNG of the study as a data: URI, so that the HTML file stands alone."""
        data = base64.b64encode((out / relative).read_bytes()).decode("ascii")
        return f"data:image/png;base64,{data}"

    paths = {"html": out / "report.html", "md": out / "report.md", "json": out / "report.json"}
    atomic_write_text(paths["html"], env.get_template(f"{study}.html.j2").render(r=report, inline=inline,
                                                                               escape=html.escape))
    atomic_write_text(paths["md"], env.get_template(f"{study}.md.j2").render(r=report))
    write_json(paths["json"], to_dict(report))
    return paths
