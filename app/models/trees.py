"""Gradient-boosted trees as flat arrays, checked, and compiled to one plain Python function.

An ensemble is stored (artifact key ``"trees"``) as parallel lists over all nodes of all trees::

    {"base": b0, "roots": [r0, r1, ...],           # index of each tree's root node
     "feature": [...], "threshold": [...],         # split: go left when x[feature] <= threshold
     "left": [...], "right": [...],                # child node indices (leaves: -1, -1)
     "value": [...]}                               # leaf values (already shrunk); 0.0 at splits

with ``feature == -1`` marking a leaf. The raw score (log-odds) is ``base`` plus the value of the
leaf each tree sends ``x`` to: exactly what scikit-learn's HistGradientBoostingClassifier computes
for inputs without NaN (features are never NaN here).

Walking the arrays in Python costs ~100 ns a node; :func:`compile_trees` instead turns the checked
numbers into the source of one function of nested conditional expressions (``(v1 if x3 <= t else
v2)``, one per tree, summed) and compiles it once at load: ~15-25 ns a node. The source is made
only of validated ints and ``repr`` of finite floats, so an artifact still cannot carry code.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any

#: limits that keep a compiled ensemble small and its source shallow (checked at load)
MAX_NODES = 20_000
MAX_DEPTH = 12
_TERMS_PER_LINE = 32


class TreeError(ValueError):
    """The ``trees`` block is malformed (the artifact loader reports it as an ArtifactError)."""


def _ints(value: Any, length: int | None, what: str) -> list[int]:
    if not isinstance(value, list) or (length is not None and len(value) != length):
        raise TreeError(f"{what}: expected a list of {length or 'some'} integers")
    if any(isinstance(v, bool) or not isinstance(v, int) for v in value):
        raise TreeError(f"{what}: not all integers")
    return value


def _floats(value: Any, length: int, what: str) -> list[float]:
    if not isinstance(value, list) or len(value) != length:
        raise TreeError(f"{what}: expected a list of {length} numbers")
    for v in value:
        if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v):
            raise TreeError(f"{what}: {v!r} is not a finite number")
    return [float(v) for v in value]


def check_trees(doc: Any, n_features: int) -> dict[str, Any]:
    """Validate a ``trees`` block: every tree a finite binary tree over known features."""
    if not isinstance(doc, Mapping):
        raise TreeError("trees: not a JSON object")
    feature = _ints(doc.get("feature"), None, "trees.feature")
    size = len(feature)
    if not 0 < size <= MAX_NODES:
        raise TreeError(f"trees: {size} nodes, expected 1 to {MAX_NODES}")
    threshold = _floats(doc.get("threshold"), size, "trees.threshold")
    value = _floats(doc.get("value"), size, "trees.value")
    left = _ints(doc.get("left"), size, "trees.left")
    right = _ints(doc.get("right"), size, "trees.right")
    roots = _ints(doc.get("roots"), None, "trees.roots")
    base = _floats([doc.get("base")], 1, "trees.base")[0]
    if not roots:
        raise TreeError("trees: no trees")
    for node, split in enumerate(feature):  # every node, reached or not: the source names them
        if split != -1 and not 0 <= split < n_features:
            raise TreeError(f"trees: node {node} splits on unknown feature {split}")
    seen = [False] * size
    for root in roots:
        stack = [(root, 0)]
        while stack:  # children must be new nodes: no cycles, no sharing, bounded depth
            node, depth = stack.pop()
            if not 0 <= node < size or seen[node]:
                raise TreeError(f"trees: node {node} is out of range or reached twice")
            if depth > MAX_DEPTH:
                raise TreeError(f"trees: deeper than {MAX_DEPTH}")
            seen[node] = True
            if feature[node] == -1:
                continue
            stack += ((left[node], depth + 1), (right[node], depth + 1))
    return {
        "base": base,
        "roots": roots,
        "feature": feature,
        "threshold": threshold,
        "left": left,
        "right": right,
        "value": value,
    }


def walk_trees(trees: Mapping[str, Any], x: list[float]) -> float:
    """The raw score by walking the arrays (the reference :func:`compile_trees` must match)."""
    feature, threshold = trees["feature"], trees["threshold"]
    left, right, value = trees["left"], trees["right"], trees["value"]
    total = trees["base"]
    for node in trees["roots"]:
        while (index := feature[node]) != -1:
            node = left[node] if x[index] <= threshold[node] else right[node]
        total += value[node]
    return float(total)


def tree_source(trees: Mapping[str, Any], name: str = "raw") -> str:
    """The Python source of ``name(x) -> raw score`` for a checked ensemble."""
    feature, threshold = trees["feature"], trees["threshold"]
    left, right, value = trees["left"], trees["right"], trees["value"]

    def expr(node: int) -> str:
        if feature[node] == -1:
            return repr(value[node])
        return (
            f"({expr(left[node])} if x{feature[node]} <= {threshold[node]!r} "
            f"else {expr(right[node])})"
        )

    reached: set[int] = set()
    stack = list(trees["roots"])
    while stack:
        node = stack.pop()
        if feature[node] != -1:
            reached.add(feature[node])
            stack += (left[node], right[node])
    used = sorted(reached)
    lines = [f"def {name}(x):"]
    lines += [f"    x{f} = x[{f}]" for f in used]
    lines.append(f"    s = {trees['base']!r}")
    roots = trees["roots"]
    for start in range(0, len(roots), _TERMS_PER_LINE):
        terms = " + ".join(expr(root) for root in roots[start : start + _TERMS_PER_LINE])
        lines.append(f"    s += {terms}")
    lines.append("    return s")
    return "\n".join(lines) + "\n"


def compile_trees(trees: Mapping[str, Any]) -> Callable[[list[float]], float]:
    """One compiled function computing the raw score of a checked ensemble."""
    namespace: dict[str, Any] = {}
    exec(compile(tree_source(trees), "<segue-trees>", "exec"), {"__builtins__": {}}, namespace)
    function: Callable[[list[float]], float] = namespace["raw"]
    return function


def export_hgb(model: Any) -> dict[str, Any]:
    """The flat arrays of a fitted binary HistGradientBoostingClassifier (training side only)."""
    feature: list[int] = []
    threshold: list[float] = []
    left: list[int] = []
    right: list[int] = []
    value: list[float] = []
    roots: list[int] = []
    for (predictor,) in model._predictors:
        offset = len(feature)
        roots.append(offset)
        for node in predictor.nodes:
            if node["is_leaf"]:
                feature.append(-1)
                threshold.append(0.0)
                left.append(-1)
                right.append(-1)
                value.append(float(node["value"]))
            else:
                if node["is_categorical"]:
                    raise TreeError("categorical splits are not supported")
                feature.append(int(node["feature_idx"]))
                threshold.append(float(node["num_threshold"]))
                left.append(offset + int(node["left"]))
                right.append(offset + int(node["right"]))
                value.append(0.0)
    return {
        "base": float(model._baseline_prediction.ravel()[0]),
        "roots": roots,
        "feature": feature,
        "threshold": threshold,
        "left": left,
        "right": right,
        "value": value,
    }
