"""A self-contained HTML page for a journey: the SVG inline, its facts, and the Mermaid source."""

from __future__ import annotations

from html import escape
from typing import Any

from app.pictures.mermaid import to_mermaid
from app.pictures.model import journey_picture
from app.pictures.svg import to_svg

_STYLE = """
body { font-family: Helvetica, Arial, sans-serif; margin: 24px; color: #222; }
h1 { font-size: 20px; margin: 0 0 4px; }
p.meta { color: #555; margin: 0 0 16px; }
.figure { overflow: auto; border: 1px solid #ddd; padding: 8px; }
details { margin-top: 16px; }
pre { background: #f6f6f6; padding: 12px; overflow: auto; font-size: 12px; }
"""


_LEGEND = (
    "Solid arrows: next step, branch case, split variant, awaited event. Dashed arrows: "
    "timeout, branch with no matching case, and exit_on / goal, which end the entry from any "
    "step. Yellow: send; violet: wait; teal: branch, split, decide; grey: update."
)


def to_html(journey: dict[str, Any]) -> str:
    """One page, no external resources: it opens offline in any browser."""
    picture = journey_picture(journey)
    facts = [
        f"version {journey['version']}",
        journey.get("category", "promotional"),
        f"priority {journey.get('priority', 0)}",
        f"source {journey.get('source', '?')}",
    ]
    description = journey.get("description") or ""
    return (
        "<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'>"
        f"<title>{escape(picture.title)}</title><style>{_STYLE}</style></head><body>\n"
        f"<h1>{escape(journey['id'])}</h1>\n"
        f"<p class='meta'>{escape(description)}<br>{escape(' · '.join(facts))}</p>\n"
        f"<div class='figure'>\n{to_svg(picture)}</div>\n"
        f"<p class='meta'>{_LEGEND}</p>\n"
        "<details><summary>Mermaid source</summary>"
        f"<pre>{escape(to_mermaid(picture))}</pre></details>\n"
        "</body></html>\n"
    )
