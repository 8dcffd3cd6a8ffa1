"""A simple layered layout (Sugiyama-style, without the fancy parts) for journey pictures.

Boxes go in layers from the trigger down to the end: each box one layer below the lowest box that
leads to it (arrows that go back up, i.e. loops, are ignored for layering). Inside a layer boxes
are ordered by where their parents are, which keeps most arrows short and uncrossed. The
exit/goal notes sit beside the end box. Text is measured with an average glyph width: good
enough for a sans-serif font, and it needs no font files.
"""

from __future__ import annotations

import textwrap
from dataclasses import dataclass, field
from itertools import pairwise

from app.pictures.model import FINISH, Link, Picture

CHAR_W = 7.0  # average width of a 12.5px sans-serif glyph
LINE_H = 17.0
PAD_X = 14.0
PAD_Y = 10.0
GAP_X = 56.0
GAP_Y = 86.0
MARGIN = 30.0
WRAP = 46  # characters per line inside a box
NOTE_KINDS = ("exit", "goal")


@dataclass(slots=True)
class Box:
    key: str
    kind: str
    title: str
    lines: list[str]
    layer: int = 0
    x: float = 0.0  # centre
    y: float = 0.0  # top
    w: float = 0.0
    h: float = 0.0


@dataclass(slots=True)
class Route:
    link: Link
    d: str  # SVG path data
    label_at: tuple[float, float]
    back: bool = False  # an arrow going up (a loop)


@dataclass(slots=True)
class Layout:
    boxes: dict[str, Box]  # includes invisible "dummy" boxes that long arrows pass through
    routes: list[Route]
    width: float
    height: float
    layers: list[list[str]] = field(default_factory=list)


def layout(picture: Picture) -> Layout:
    boxes = {n.key: _measure(Box(n.key, n.kind, n.title, _wrap(n.lines))) for n in picture.nodes}
    main_links = [link for link in picture.links if link.kind != "note"]
    layers = _layers(list(boxes), main_links, boxes)
    chains = _dummies(main_links, boxes, layers)
    _order(layers, _chain_links(main_links, chains))
    width = _place(layers, boxes)
    routes, width = _route(picture.links, boxes, chains, width)
    height = max(b.y + b.h for b in boxes.values()) + MARGIN
    return Layout(boxes, routes, width, height, layers)


def _wrap(lines: list[str]) -> list[str]:
    out: list[str] = []
    for line in lines:
        out.extend(textwrap.wrap(line, WRAP, break_long_words=True) or [""])
    return out


def _measure(box: Box) -> Box:
    longest = max([len(box.title) * 1.1, *(len(line) for line in box.lines)])
    box.w = max(90.0, longest * CHAR_W + 2 * PAD_X)
    box.h = (1 + len(box.lines)) * LINE_H + 2 * PAD_Y
    return box


def _layers(keys: list[str], links: list[Link], boxes: dict[str, Box]) -> list[list[str]]:
    """Longest-path layering of the graph without its back edges."""
    main = [k for k in keys if boxes[k].kind not in NOTE_KINDS and k != FINISH]
    following: dict[str, list[str]] = {k: [] for k in keys}
    for link in links:
        following[link.source].append(link.target)
    forward = _forward_edges(main[0], following)
    order = _topological(main, forward)
    layer = dict.fromkeys(main, 0)
    for key in order:
        for target in forward.get(key, []):
            if target in layer:
                layer[target] = max(layer[target], layer[key] + 1)
    last = max(layer.values(), default=0) + 1
    rows: list[list[str]] = [[] for _ in range(last + 2)]
    for key in main:
        rows[layer[key]].append(key)
    rows[last] = [FINISH]
    rows[last + 1] = [k for k in keys if boxes[k].kind in NOTE_KINDS]
    for index, row in enumerate(rows):
        for key in row:
            boxes[key].layer = index
    return [row for row in rows if row]


def _forward_edges(root: str, following: dict[str, list[str]]) -> dict[str, list[str]]:
    """Depth-first from the trigger; an edge to a box still on the path is a back edge."""
    forward: dict[str, list[str]] = {}
    state: dict[str, int] = {}  # 1 on the current path, 2 done
    stack = [(root, iter(following.get(root, [])))]
    state[root] = 1
    while stack:
        node, children = stack[-1]
        for child in children:
            if state.get(child) == 1:
                continue  # back edge: a loop
            forward.setdefault(node, []).append(child)
            if child not in state:
                state[child] = 1
                stack.append((child, iter(following.get(child, []))))
                break
        else:
            state[node] = 2
            stack.pop()
    return forward


def _topological(keys: list[str], forward: dict[str, list[str]]) -> list[str]:
    incoming = dict.fromkeys(keys, 0)
    for source in keys:
        for target in forward.get(source, []):
            if target in incoming:
                incoming[target] += 1
    ready = [k for k in keys if incoming[k] == 0]
    order: list[str] = []
    while ready:
        key = ready.pop(0)
        order.append(key)
        for target in forward.get(key, []):
            if target in incoming:
                incoming[target] -= 1
                if incoming[target] == 0:
                    ready.append(target)
    return order


def _dummies(
    links: list[Link], boxes: dict[str, Box], layers: list[list[str]]
) -> dict[int, list[str]]:
    """Invisible boxes in each layer a long downward arrow crosses, so it goes round boxes."""
    chains: dict[int, list[str]] = {}
    for index, link in enumerate(links):
        top, bottom = boxes[link.source].layer, boxes[link.target].layer
        if bottom - top < 2:
            continue
        chain = []
        for level in range(top + 1, bottom):
            key = f"~{index}_{level}"
            boxes[key] = Box(key, "dummy", "", [], layer=level, w=14.0)
            layers[level].append(key)
            chain.append(key)
        chains[index] = chain
    return chains


def _chain_links(links: list[Link], chains: dict[int, list[str]]) -> list[Link]:
    out: list[Link] = []
    for index, link in enumerate(links):
        stops = [link.source, *chains.get(index, []), link.target]
        out += [Link(a, b, link.kind) for a, b in pairwise(stops)]
    return out


def _order(layers: list[list[str]], links: list[Link]) -> None:
    """Two downward sweeps ordering each layer by the mean position of its parents."""
    parents: dict[str, list[str]] = {}
    for link in links:
        parents.setdefault(link.target, []).append(link.source)
    for _ in range(2):
        for above, row in pairwise(layers):
            position = {key: i for i, key in enumerate(above)}
            original = {key: i for i, key in enumerate(row)}
            weights = {key: _mean_parent(key, parents, position, original) for key in row}
            row.sort(key=lambda k: (weights[k], original[k]))


def _mean_parent(
    key: str, parents: dict[str, list[str]], position: dict[str, int], original: dict[str, int]
) -> float:
    spots = [position[p] for p in parents.get(key, []) if p in position]
    return sum(spots) / len(spots) if spots else float(original[key])


def _place(layers: list[list[str]], boxes: dict[str, Box]) -> float:
    widths = [sum(boxes[k].w for k in row) + GAP_X * (len(row) - 1) for row in layers]
    width = max(widths) + 2 * MARGIN
    y = MARGIN
    for row, row_width in zip(layers, widths, strict=True):
        x = (width - row_width) / 2
        for key in row:
            box = boxes[key]
            box.x = x + box.w / 2
            box.y = y
            x += box.w + GAP_X
        row_height = max(boxes[k].h for k in row)
        for key in row:
            if boxes[key].kind == "dummy":
                boxes[key].h = row_height
        y += row_height + GAP_Y
    return width


def _route(
    links: list[Link], boxes: dict[str, Box], chains: dict[int, list[str]], width: float
) -> tuple[list[Route], float]:
    """Downward arrows leave a box's bottom and enter the next's top, passing their dummies;
    loops go round the right-hand side; notes point up into the end box."""
    routes: list[Route] = []
    outgoing: dict[str, list[Link]] = {}
    for link in links:
        outgoing.setdefault(link.source, []).append(link)
    main_index = {id(link): i for i, link in enumerate(x for x in links if x.kind != "note")}
    lane = width - MARGIN / 2
    first_lane = lane

    def next_stop(link: Link) -> Box:
        chain = chains.get(main_index.get(id(link), -1))
        return boxes[chain[0]] if chain else boxes[link.target]

    for link in links:
        src, dst = boxes[link.source], boxes[link.target]
        if link.kind == "note" or dst.layer > src.layer:
            # Spread the arrows leaving one box in the order of where they go: no crossings.
            siblings = sorted(
                (x for x in outgoing[link.source] if boxes[x.target].layer > src.layer),
                key=lambda x: next_stop(x).x,
            )
            spread = min(src.w * 0.6, 40.0 * len(siblings))
            offset = 0.0
            if len(siblings) > 1:
                offset = -spread / 2 + spread * siblings.index(link) / (len(siblings) - 1)
            if link.kind == "note":  # from the note's top up into the end box
                start, end = (src.x, src.y), (dst.x, dst.y + dst.h)
                stops: list[Box] = []
            else:
                start, end = (src.x + offset, src.y + src.h), (dst.x, dst.y)
                stops = [boxes[k] for k in chains.get(main_index.get(id(link), -1), [])]
            d, first = _through(start, stops, end)
            routes.append(Route(link, d, _bezier_mid(first)))
        else:
            # A loop: down out of the box into the gap below its row, right to a free lane,
            # up to the gap above the target's row, and down into the target. The gaps between
            # rows hold no boxes, so the arrow only ever crosses other arrows.
            lane += 26
            step = 7 * ((lane - first_lane) // 26)
            below = src.y + src.h + 14 + step
            above = dst.y - 14 - step
            x0, x1 = src.x + src.w / 4, dst.x + dst.w / 4
            d = (
                f"M{x0:.1f},{src.y + src.h:.1f} L{x0:.1f},{below:.1f} L{lane:.1f},{below:.1f} "
                f"L{lane:.1f},{above:.1f} L{x1:.1f},{above:.1f} L{x1:.1f},{dst.y:.1f}"
            )
            routes.append(Route(link, d, (lane, (below + above) / 2), back=True))
    return routes, (width if lane == first_lane else max(width, lane + MARGIN))


Point = tuple[float, float]


def _through(start: Point, stops: list[Box], end: Point) -> tuple[str, list[Point]]:
    """Path data from start to end, straight down through each dummy box; and the first curve."""
    d = f"M{start[0]:.1f},{start[1]:.1f}"
    here = start
    first: list[Point] | None = None
    for box in stops:
        top = (box.x, box.y)
        segment = _vertical_curve(here, top)
        first = first or segment
        d += _curve(segment, move=False) + f" L{box.x:.1f},{box.y + box.h:.1f}"
        here = (box.x, box.y + box.h)
    segment = _vertical_curve(here, end)
    return d + _curve(segment, move=False), first or segment


def _vertical_curve(a: Point, b: Point) -> list[Point]:
    bend = (b[1] - a[1]) * 0.5
    return [a, (a[0], a[1] + bend), (b[0], b[1] - bend), b]


def _curve(points: list[Point], move: bool = True) -> str:
    (x0, y0), (x1, y1), (x2, y2), (x3, y3) = points
    head = f"M{x0:.1f},{y0:.1f} " if move else " "
    return f"{head}C{x1:.1f},{y1:.1f} {x2:.1f},{y2:.1f} {x3:.1f},{y3:.1f}"


def _bezier_mid(points: list[tuple[float, float]]) -> tuple[float, float]:
    (x0, y0), (x1, y1), (x2, y2), (x3, y3) = points
    return ((x0 + 3 * x1 + 3 * x2 + x3) / 8, (y0 + 3 * y1 + 3 * y2 + y3) / 8)
