"""Adaptive steps' arms over time: the report's ``arms`` table (pure, no I/O).

An adaptive ``split`` or ``decide`` step (a multi-armed bandit) writes its choice as a ``step``
record (the arm: ``variant``) or a ``decided`` record (the arm: ``choice``) with an ``adaptive``
field saying how the arm was chosen: ``exploit`` (a Thompson draw), ``explore`` (the exploration
floor) or ``holdout`` (the fixed split or rule kept for comparison). When the entry later earns
the step's reward, a ``rewarded`` record names the step and the ``arm`` credited (at most one per
entry and step).

Per (journey, adaptive step), per time bucket of the *choice* (UTC) and per arm: the choices, the
arm's share of the step's choices in the bucket, the rewards of those choices (a reward counts
in the bucket of the choice it rewards, however late it came), the reward rate and how the
choices were made; then one whole-range row per arm (bucket ``(all)``). Records come already
deduplicated (the report's builder drops a repeated ``outcome_id``); the rows depend on the set
of records only, not on their order.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from app.core.journeys.bandit import EXPLOIT, EXPLORE, HOLDOUT
from app.core.journeys.outcome import REWARDED
from app.core.journeys.replay import time_ms
from app.core.timeutil import format_ms

Row = dict[str, Any]
#: (customer, journey, entry number, step)
Key = tuple[str, str, int, str]

MODES = (EXPLOIT, EXPLORE, HOLDOUT)
WHOLE = "(all)"  # the row over every bucket
NONE_ELIGIBLE = "(none eligible)"  # a decide that had no eligible option: no arm drawn

HOUR = 3_600_000
DAY = 24 * HOUR
#: bucket sizes by name; weeks start on Monday 00:00 UTC
SIZES = {"1h": HOUR, "6h": 6 * HOUR, "1d": DAY, "7d": 7 * DAY}
AUTO = "auto"
DEFAULT_BUCKET = "1d"
#: ``auto``: the smallest size that gives at most this many buckets (else weeks)
MAX_BUCKETS = 30
_MONDAY = 4 * DAY  # 1970-01-05, the first Monday after the epoch


def bucket_start(at: int, size: int) -> int:
    """The start (epoch ms, UTC) of the bucket of ``size`` holding ``at``."""
    offset = _MONDAY if size == SIZES["7d"] else 0
    return (at - offset) // size * size + offset


def choose_size(name: str, times: list[int]) -> str:
    """The bucket size's name: ``name`` itself, or for ``auto`` the smallest of 1h, 6h, 1d, 7d
    that splits the choices' time span into at most ``MAX_BUCKETS`` buckets."""
    if name != AUTO:
        if name not in SIZES:
            raise ValueError(f"bucket size {name!r}: one of {', '.join([*SIZES, AUTO])}")
        return name
    if not times:
        return DEFAULT_BUCKET
    first, last = min(times), max(times)
    for candidate, size in SIZES.items():
        if (bucket_start(last, size) - bucket_start(first, size)) // size + 1 <= MAX_BUCKETS:
            return candidate
    return "7d"


@dataclass(frozen=True, slots=True, order=True)
class Choice:
    at: int
    arm: str
    mode: str


@dataclass
class ArmsTable:
    rows: list[Row] = field(default_factory=list)
    #: the bucket size used (a key of SIZES)
    bucket: str = DEFAULT_BUCKET
    #: rewards of an entry whose choice of that arm is not in the records (or not in range)
    unattributed: int = 0


class Arms:
    """Feed every (deduplicated) outcome record to ``add``; ``table`` computes the rows."""

    def __init__(self) -> None:
        self.choices: dict[Key, list[Choice]] = defaultdict(list)
        self.rewards: dict[Key, tuple[int, str]] = {}  # (time, arm credited)

    def add(self, record: dict[str, Any]) -> None:
        kind = record["kind"]
        if kind == REWARDED:
            if record.get("arm") is None:
                return  # credits no arm
            key = _key(record)
            reward = (time_ms(record["event_time"]), str(record["arm"]))
            known = self.rewards.get(key)
            # at most one per entry and step; should two come, the earliest counts (any order)
            if known is None or reward < known:
                self.rewards[key] = reward
            return
        mode = record.get("adaptive")
        if mode is None or kind not in ("step", "decided"):
            return
        arm = record.get("variant") if kind == "step" else record.get("choice")
        label = NONE_ELIGIBLE if arm is None else str(arm)
        self.choices[_key(record)].append(Choice(time_ms(record["event_time"]), label, str(mode)))

    def __bool__(self) -> bool:
        return bool(self.choices)

    def table(
        self,
        bucket: str = DEFAULT_BUCKET,
        keep: Callable[[tuple[str, str, int]], bool] = lambda _: True,
    ) -> ArmsTable:
        """The rows for the entries ``keep`` accepts ((customer, journey, entry number)), in
        buckets of ``bucket`` (a key of SIZES, or ``auto``)."""
        choices = {k: sorted(v) for k, v in self.choices.items() if keep(k[:3])}
        name = choose_size(bucket, [c.at for cs in choices.values() for c in cs])
        size = SIZES[name]
        # (journey, step) -> (bucket start or None for the whole range, arm) -> counts
        counts: dict[tuple[str, str], dict[tuple[int | None, str], Counter[str]]] = defaultdict(
            lambda: defaultdict(Counter)
        )
        for (_, journey, _, step), made in choices.items():
            cells = counts[journey, step]
            for c in made:
                for where in (bucket_start(c.at, size), None):
                    cell = cells[where, c.arm]
                    cell["choices"] += 1
                    cell[c.mode] += 1
        unattributed = 0
        for key, (at, arm) in self.rewards.items():
            if not keep(key[:3]):
                continue
            rewarded = _rewarded_choice(choices.get(key, []), at, arm)
            if rewarded is None:
                unattributed += 1
                continue
            cells = counts[key[1], key[3]]
            for where in (bucket_start(rewarded.at, size), None):
                cells[where, arm]["rewards"] += 1
        rows: list[Row] = []
        for (journey, step), cells in sorted(counts.items()):
            arms = sorted({arm for _, arm in cells})
            starts = sorted({w for w, _ in cells if w is not None})
            for where in [*starts, None]:
                total = sum(cells[where, arm]["choices"] for arm in arms if (where, arm) in cells)
                for arm in arms:
                    cell = cells.get((where, arm), Counter())
                    n, won = cell["choices"], cell["rewards"]
                    rows.append(
                        {
                            "journey": journey,
                            "step": step,
                            "bucket": WHOLE if where is None else format_ms(where),
                            "bucket_size": name,
                            "arm": arm,
                            "choices": n,
                            "share": n / total if total else None,
                            "rewards": won,
                            "reward_rate": won / n if n else None,
                            **{mode: cell[mode] for mode in MODES},
                        }
                    )
        return ArmsTable(rows, name, unattributed)


def _key(record: dict[str, Any]) -> Key:
    return (record["customer_id"], record["journey"], record["entry"], record["step"])


def _rewarded_choice(made: list[Choice], at: int, arm: str) -> Choice | None:
    """The choice a reward of ``arm`` at ``at`` credits: the latest choice of that arm at or
    before the reward (an entry that passed the step more than once), else the earliest one
    after it (clocks of one moment); None when the records hold no choice of that arm."""
    same = [c for c in made if c.arm == arm]  # sorted by time
    before = [c for c in same if c.at <= at]
    if before:
        return before[-1]
    return same[0] if same else None
