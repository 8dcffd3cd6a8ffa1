"""Draw a laid-out journey picture as one standalone SVG document (no fonts, no scripts)."""

from __future__ import annotations

from html import escape

from app.pictures.layout import CHAR_W, LINE_H, PAD_Y, Box, Layout, Route, layout
from app.pictures.model import Picture

# (fill, stroke) per kind of box; kept in step with the Mermaid classes.
PALETTE = {
    "trigger": ("#e8f1ff", "#3060c0"),
    "end": ("#eeeeee", "#555555"),
    "exit": ("#fff0f0", "#c03030"),
    "goal": ("#effaef", "#2f8a2f"),
    "send": ("#fff8e6", "#b07800"),
    "wait": ("#f3eefc", "#6a4fb0"),
    "wait_for": ("#f3eefc", "#6a4fb0"),
    "branch": ("#eaf7f7", "#1f7f7f"),
    "split": ("#eaf7f7", "#1f7f7f"),
    "decide": ("#eaf7f7", "#1f7f7f"),
    "update": ("#f5f5f5", "#777777"),
}
DASHED = {"note", "timeout", "no_match"}
FONT = "font-family='Helvetica, Arial, sans-serif' font-size='12.5'"


def to_svg(picture: Picture) -> str:
    """The picture as SVG text."""
    laid = layout(picture)
    width = laid.width
    labels: list[tuple[float, float, float, str]] = []
    for route in laid.routes:
        if route.link.label:
            labels.append(_label(route, labels))
    for _, right, _, _ in labels:
        width = max(width, right + 20)
    parts = [
        f"<svg xmlns='http://www.w3.org/2000/svg' width='{width:.0f}' height='{laid.height:.0f}' "
        f"viewBox='0 0 {width:.0f} {laid.height:.0f}' role='img'>",
        f"<title>{escape(picture.title)}</title>",
        "<defs><marker id='arrow' viewBox='0 0 10 10' refX='9' refY='5' markerWidth='8' "
        "markerHeight='8' orient='auto-start-reverse'><path d='M0,0 L10,5 L0,10 z' "
        "fill='#444'/></marker></defs>",
        f"<rect width='{width:.0f}' height='{laid.height:.0f}' fill='white'/>",
    ]
    parts += [_arrow(route) for route in laid.routes]
    parts += [_box(box) for box in _in_order(laid)]
    parts += [svg for _, _, _, svg in labels]
    parts.append("</svg>")
    return "\n".join(parts) + "\n"


def _in_order(laid: Layout) -> list[Box]:
    return [
        laid.boxes[key] for row in laid.layers for key in row if laid.boxes[key].kind != "dummy"
    ]


def _box(box: Box) -> str:
    fill, stroke = PALETTE.get(box.kind, ("#ffffff", "#333333"))
    left, top = box.x - box.w / 2, box.y
    radius = {"trigger": box.h / 2, "end": box.h / 2, "branch": 2, "split": 2, "decide": 2}
    rx = min(radius.get(box.kind, 8), 22)
    dash = " stroke-dasharray='5 3'" if box.kind in ("exit", "goal") else ""
    out = [
        f"<g class='node {box.kind}' id='{escape(box.key)}'>",
        f"<rect x='{left:.1f}' y='{top:.1f}' width='{box.w:.1f}' height='{box.h:.1f}' "
        f"rx='{rx:.1f}' fill='{fill}' stroke='{stroke}' stroke-width='1.5'{dash}/>",
    ]
    if box.kind in ("branch", "split", "decide"):  # a corner mark: "decides where to go"
        out.append(
            f"<path d='M{left:.1f},{top + 12:.1f} L{left + 12:.1f},{top:.1f}' stroke='{stroke}'/>"
        )
    y = top + PAD_Y + LINE_H - 4
    out.append(
        f"<text x='{box.x:.1f}' y='{y:.1f}' text-anchor='middle' {FONT} font-weight='bold' "
        f"fill='#222'>{escape(box.title)}</text>"
    )
    for line in box.lines:
        y += LINE_H
        out.append(
            f"<text x='{box.x:.1f}' y='{y:.1f}' text-anchor='middle' {FONT} fill='#333'>"
            f"{escape(line)}</text>"
        )
    out.append("</g>")
    return "".join(out)


def _arrow(route: Route) -> str:
    dash = " stroke-dasharray='6 4'" if route.link.kind in DASHED else ""
    colour = "#c03030" if route.link.kind == "note" and "exit" in route.link.source else "#444"
    return (
        f"<path class='edge {route.link.kind}' d='{route.d}' fill='none' stroke='{colour}' "
        f"stroke-width='1.4'{dash} marker-end='url(#arrow)'/>"
    )


def _label(
    route: Route, placed: list[tuple[float, float, float, str]]
) -> tuple[float, float, float, str]:
    """(left, right, top, svg) of an arrow's label on a white plate, clear of earlier labels."""
    text = route.link.label
    if len(text) > 60:
        text = text[:57] + "..."
    width = len(text) * CHAR_W * 0.92 + 10
    x, y = route.label_at
    left = x + 6 if route.back else x - width / 2
    top = y - 11
    while any(
        left < right and other_left < left + width and abs(top - other_top) < 17
        for other_left, right, other_top, _ in placed
    ):
        top += 17
    svg = (
        f"<g class='label'><rect x='{left:.1f}' y='{top:.1f}' width='{width:.1f}' "
        f"height='16' rx='3' fill='white' fill-opacity='0.92'/>"
        f"<text x='{left + width / 2:.1f}' y='{top + 12:.1f}' text-anchor='middle' {FONT} "
        f"font-style='italic' fill='#333'>{escape(text)}</text></g>"
    )
    return left, left + width, top, svg
