"""Mermaid flowchart text for a journey picture (paste into any Mermaid viewer)."""

from __future__ import annotations

from app.pictures.model import Link, Node, Picture

# Mermaid shapes by node kind: (open, close).
_SHAPES = {
    "trigger": ('(["', '"])'),
    "end": ('((("', '")))'),
    "exit": ('[/"', '"/]'),
    "goal": ('[/"', '"/]'),
    "send": ('["', '"]'),
    "wait": ('{{"', '"}}'),
    "wait_for": ('{{"', '"}}'),
    "branch": ('{"', '"}'),
    "split": ('{"', '"}'),
    "decide": ('{"', '"}'),
    "update": ('[/"', '"/]'),
}
_ARROWS = {"note": "-.->", "timeout": "-.->", "no_match": "-.->"}
_CLASSES = {
    "trigger": "fill:#e8f1ff,stroke:#3060c0",
    "end": "fill:#eeeeee,stroke:#555555",
    "exit": "fill:#fff0f0,stroke:#c03030",
    "goal": "fill:#effaef,stroke:#2f8a2f",
    "send": "fill:#fff8e6,stroke:#b07800",
    "wait": "fill:#f3eefc,stroke:#6a4fb0",
    "wait_for": "fill:#f3eefc,stroke:#6a4fb0",
    "branch": "fill:#eaf7f7,stroke:#1f7f7f",
    "split": "fill:#eaf7f7,stroke:#1f7f7f",
    "decide": "fill:#eaf7f7,stroke:#1f7f7f",
    "update": "fill:#f5f5f5,stroke:#777777",
}


def to_mermaid(picture: Picture) -> str:
    """``flowchart TD`` text: one line per box, one per arrow, then the styles."""
    out = [f"%% {picture.title}", "flowchart TD"]
    out += [f"    {_node(node)}" for node in picture.nodes]
    out += [f"    {_link(link)}" for link in picture.links]
    kinds = sorted({node.kind for node in picture.nodes} & set(_CLASSES))
    for kind in kinds:
        out.append(f"    classDef k_{kind} {_CLASSES[kind]}")  # k_: "end" is a keyword
    for kind in kinds:
        members = ",".join(node.key for node in picture.nodes if node.kind == kind)
        out.append(f"    class {members} k_{kind}")
    return "\n".join(out) + "\n"


def _node(node: Node) -> str:
    opening, closing = _SHAPES.get(node.kind, ('["', '"]'))
    text = "<br/>".join([f"<b>{_escape(node.title)}</b>", *(_escape(t) for t in node.lines)])
    return f"{node.key}{opening}{text}{closing}"


def _link(link: Link) -> str:
    arrow = _ARROWS.get(link.kind, "-->")
    if link.label:
        return f'{link.source} {arrow}|"{_escape(link.label)}"| {link.target}'
    return f"{link.source} {arrow} {link.target}"


def _escape(text: str) -> str:
    """Labels are quoted HTML: quotes and angle brackets (CEL's < and >) become entity codes."""
    return (
        text.replace("&", "#amp;").replace('"', "#quot;").replace("<", "#lt;").replace(">", "#gt;")
    )
