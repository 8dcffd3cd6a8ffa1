"""VADER (app/core/sentiment.py) against the human ratings of its own paper's four sets.

Usage (from the repository root, after `make sentiment-data`):
    .venv/bin/python bench/sentiment_accuracy.py [--data DIR]

The sets (Hutto & Gilbert, ICWSM 2014; in the vaderSentiment sdist): sentence-level texts, each
rated by at least 20 screened human raters on -4..+4; the file holds the raters' mean
(``<set>_GroundTruth.txt``: id TAB mean TAB text). Per set:

  n         texts
  binary    share of texts whose compound has the sign of the human mean, over the texts the
            humans did not rate neutral (a compound of exactly 0 has no sign: counted a miss)
  3-class   share of texts in the same class, VADER's thresholds on both sides: the compound
            >= 0.05 positive, <= -0.05 negative, else neutral; the human mean normalised to
            [-1, 1] (/4) with the same thresholds, as the paper does (its Table 4)
  pearson   Pearson's r of the compound and the human mean, over every text
  signed    share of those non-neutral texts VADER gives a sign at all (compound != 0: a text
            with no word of its lexicon scores 0), and ``binary|signed`` the binary accuracy on
            them alone

Scoring goes through ``app.core.sentiment.score``, so the texts are cut as the engine cuts them
(none of these is longer than its limit).
"""

from __future__ import annotations

import argparse
import math
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from app.core.sentiment import label, score  # noqa: E402

DATA_DIR = ROOT / ".data" / "sentiment"
#: the sets, as named in their files, in the order reported
SETS = ("tweets", "movieReviewSnippets", "amazonReviewSnippets", "nytEditorialSnippets")
#: the rating scale's bound: the human means are in [-SCALE, SCALE]
SCALE = 4.0
MISSING = "the sentiment sets are missing from {dir}: run `make sentiment-data`"


@dataclass(frozen=True)
class Rated:
    text: str
    human: float  # the raters' mean, -4..+4


@dataclass(frozen=True)
class Accuracy:
    name: str
    n: int
    polar: int  # texts the humans did not rate neutral
    binary: float
    three_class: float
    pearson: float
    signed: float
    binary_signed: float


def load(name: str, data_dir: Path = DATA_DIR) -> list[Rated]:
    """One set's texts and human means. FileNotFoundError (saying what to run) when absent."""
    path = data_dir / f"{name}_GroundTruth.txt"
    if not path.is_file():
        raise FileNotFoundError(MISSING.format(dir=data_dir))
    rated = []
    # (the movie set is UTF-8, the others ASCII; a few stray bytes are replaced, not fatal)
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        parts = line.split("\t", 2)
        if len(parts) != 3:
            continue
        rated.append(Rated(parts[2], float(parts[1])))
    return rated


def human_label(mean: float) -> str:
    return label(mean / SCALE)


def _sign(x: float) -> int:
    return (x > 0) - (x < 0)


def pearson(xs: list[float], ys: list[float]) -> float:
    n = len(xs)
    mx, my = math.fsum(xs) / n, math.fsum(ys) / n
    sxy = math.fsum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True))
    sxx = math.fsum((x - mx) ** 2 for x in xs)
    syy = math.fsum((y - my) ** 2 for y in ys)
    return sxy / math.sqrt(sxx * syy)


def measure(name: str, data_dir: Path = DATA_DIR) -> Accuracy:
    rated = load(name, data_dir)
    compounds = [score(r.text) for r in rated]
    humans = [r.human for r in rated]
    polar = [(c, h) for c, h in zip(compounds, humans, strict=True) if human_label(h) != "neutral"]
    right = sum(1 for c, h in polar if _sign(c) == _sign(h))
    signed = sum(1 for c, _ in polar if c != 0)
    same = sum(
        1 for c, h in zip(compounds, humans, strict=True) if label(c) == human_label(h)
    ) / len(rated)
    return Accuracy(
        name,
        n=len(rated),
        polar=len(polar),
        binary=right / len(polar),
        three_class=same,
        pearson=pearson(compounds, humans),
        signed=signed / len(polar),
        binary_signed=right / signed,
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DATA_DIR, help="the unpacked sets")
    args = parser.parse_args(argv)
    try:
        results = [measure(name, args.data) for name in SETS]
    except FileNotFoundError as exc:
        print(exc, file=sys.stderr)
        return 1
    print(
        f"{'set':<22} {'n':>6} {'polar':>6} {'binary':>7} {'3-class':>8} {'pearson':>8}"
        f" {'signed':>7} {'binary|signed':>14}"
    )
    for r in results:
        print(
            f"{r.name:<22} {r.n:>6} {r.polar:>6} {r.binary:>7.3f} {r.three_class:>8.3f}"
            f" {r.pearson:>8.3f} {r.signed:>7.3f} {r.binary_signed:>14.3f}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
