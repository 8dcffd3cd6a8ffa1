"""What a closed-loop run (arms.py) shows: the adaptive step beside the same journey's fixed
split, the best arm's share per block of entries, when that share stays above 80 %, the regret
of each, and the picture of it.

Used by ``segue simulate --arms`` and ``bench/adaptive_regret.py``. The rule for "above 80 %
from entry N": the entries (those that reached the step, in time order) are cut into blocks of
``block``; N is ``k x block`` for the first block k after which every block, k included, gives
the best arm more than 80 % of its entries; None ("not reached") when the last block does not.
A trailing block shorter than ``block`` is left out.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from app.core.duplicates import DuplicateRule
from app.core.journeys.bandit import Books
from app.core.journeys.definitions import load_policies
from app.core.journeys.engine import Engine
from app.core.scoring import Scorer
from app.sim.arms import ArmsPlan, ArmsRun, run_arms, without_adaptive

#: the share the best arm must keep
THRESHOLD = 0.8


class ArmsError(ValueError):
    """A plan that cannot run (one line: the reason)."""


def adaptive_steps(journey: dict[str, Any]) -> list[str]:
    """The ids of the journey's steps with an ``adaptive`` block, in order."""
    return [s["id"] for s in journey.get("steps") or () if s.get("adaptive") is not None]


def pick_step(journey: dict[str, Any], step: str | None) -> str:
    """``step`` if it is an adaptive step of the journey, else the journey's only one."""
    found = adaptive_steps(journey)
    if step is not None:
        if step not in found:
            have = ", ".join(found) if found else "none"
            raise ArmsError(
                f"--step {step}: not an adaptive step of journey {journey['id']} "
                f"(its adaptive steps: {have})"
            )
        return step
    if not found:
        raise ArmsError(
            f"journey {journey['id']} has no adaptive step (a split or decide with an "
            "'adaptive' block): nothing to learn"
        )
    if len(found) > 1:
        raise ArmsError(
            f"journey {journey['id']} has {len(found)} adaptive steps ({', '.join(found)}): "
            "choose one with --step"
        )
    return found[0]


def step_of(journey: dict[str, Any], step: str) -> dict[str, Any]:
    for s in journey.get("steps") or ():
        if s.get("id") == step:
            return dict(s)
    raise ArmsError(f"journey {journey['id']} has no step {step}")


def arms_of(journey: dict[str, Any], step: str) -> list[str]:
    """The step's arms: a split's variants, a decide's options."""
    body = step_of(journey, step)
    if body.get("split") is not None:
        return [str(v["variant"]) for v in body["split"]]
    if body.get("decide") is not None:
        return [str(o["id"]) for o in body["decide"].get("options") or ()]
    raise ArmsError(f"step {step} is neither a split nor a decide")


def is_split(journey: dict[str, Any], step: str) -> bool:
    return step_of(journey, step).get("split") is not None


def reward_event_of(journey: dict[str, Any], step: str) -> str | None:
    """The event that rewards the step's arms: None for ``reward: goal`` (the goal's event)."""
    reward = (step_of(journey, step).get("adaptive") or {}).get("reward")
    if isinstance(reward, dict):
        event = reward.get("event")
        return event if isinstance(event, str) else None
    if isinstance(reward, str) and reward != "goal":
        return reward
    return None


def parse_convert(values: Sequence[str], arms: Sequence[str], step: str) -> dict[str, float]:
    """``ARM=P`` values (P in [0, 1]), one for every arm of the step."""
    rates: dict[str, float] = {}
    for text in values:
        name, sep, number = text.partition("=")
        name = name.strip()
        if not sep or not name:
            raise ArmsError(f"--convert {text!r}: expected ARM=P, e.g. {arms[0]}=0.05")
        try:
            p = float(number)
        except ValueError:
            raise ArmsError(
                f"--convert {text!r}: {number.strip()!r} is not a number (a probability, 0 to 1)"
            ) from None
        if name not in arms:
            raise ArmsError(
                f"--convert {text!r}: step {step} has no arm {name!r} (its arms: {', '.join(arms)})"
            )
        if not 0.0 <= p <= 1.0:  # NaN fails too
            raise ArmsError(f"--convert {text!r}: the probability must be between 0 and 1")
        if name in rates:
            raise ArmsError(f"--convert {text!r}: arm {name!r} given twice")
        rates[name] = p
    missing = [a for a in arms if a not in rates]
    if missing:
        raise ArmsError(
            f"--convert: give every arm of step {step} its probability; missing: "
            + ", ".join(f"{a}=P" for a in missing)
        )
    return rates


def best_arms(rates: dict[str, float]) -> list[str]:
    top = max(rates.values())
    return [arm for arm, p in rates.items() if p == top]


def shares(run: ArmsRun, best: Sequence[str], block: int) -> list[float]:
    """The best arms' share of the entries in consecutive full blocks of ``block``."""
    out = []
    for i in range(0, len(run.choices) - block + 1, block):
        part = run.choices[i : i + block]
        out.append(sum(c.arm in best for c in part) / block)
    return out


def stays_above(block_shares: Sequence[float], threshold: float = THRESHOLD) -> int | None:
    """The first block index from which every block's share is above ``threshold``."""
    first = None
    for k in range(len(block_shares) - 1, -1, -1):
        if block_shares[k] > threshold:
            first = k
        else:
            break
    return first


@dataclass(slots=True)
class Comparison:
    """One plan, run adaptive and with the adaptive blocks removed (the fixed split)."""

    plan: ArmsPlan
    adaptive: ArmsRun
    fixed: ArmsRun
    block: int
    split: bool = True  # a split step (else a decide)

    @property
    def best(self) -> list[str]:
        return best_arms(self.plan.rates)

    @property
    def shares(self) -> list[float]:
        return shares(self.adaptive, self.best, self.block)

    @property
    def fixed_shares(self) -> list[float]:
        return shares(self.fixed, self.best, self.block)

    @property
    def from_entry(self) -> int | None:
        """Entries before the best arm's share stays above 80 % (None: not reached)."""
        k = stays_above(self.shares)
        return None if k is None else k * self.block

    @property
    def regret(self) -> list[float]:
        return self.adaptive.regret(self.plan.rates)

    @property
    def fixed_regret(self) -> list[float]:
        return self.fixed.regret(self.plan.rates)

    def summary(self) -> str:
        rates = self.plan.rates
        best = self.best
        top = rates[best[0]]
        label = "best arm" if len(best) == 1 else "best arms"
        reached = len(self.adaptive.choices)
        step = self.plan.step
        parts = [
            f"arms: {self.plan.entries} entries ({reached} reached {step}), "
            f"{label} {', '.join(best)} ({100 * top:.1f} %)"
        ]
        block_shares = self.shares
        if block_shares:
            parts.append(
                f"best-arm share per {self.block} entries: "
                + " ".join(f"{100 * s:.0f} %" for s in block_shares)
            )
            n = self.from_entry
            parts.append(
                f"above {100 * THRESHOLD:.0f} % from entry {n} on"
                if n is not None
                else f"above {100 * THRESHOLD:.0f} %: not reached"
            )
        else:
            parts.append(f"fewer than {self.block} entries reached {step}: no block of shares")
        regret = self.regret[-1] if self.regret else 0.0
        fixed = self.fixed_regret[-1] if self.fixed_regret else 0.0
        rule = "the fixed split" if self.split else "the fixed rule"
        change = f" ({100 * (regret - fixed) / fixed:+.0f} %)" if fixed > 0 else ""
        parts.append(f"regret {regret:.1f} conversions vs {fixed:.1f} for {rule}{change}")
        return "; ".join(parts)


def engine_factory(
    partitions: int, scorer: Scorer | None = None, duplicates: DuplicateRule | None = None
) -> Callable[[dict[str, Any]], Engine]:
    """Engines as ``segue replay`` builds them (the default policies, the scorer and duplicate
    rule given), learning with one set of arm statistics per partition, as live does."""
    policies = load_policies(None)

    def make(doc: dict[str, Any]) -> Engine:
        engine = Engine([doc], policies, scorer, duplicates=duplicates)
        engine.arms = Books(partitions)
        return engine

    return make


def compare(
    plan: ArmsPlan, engine_for: Callable[[dict[str, Any]], Engine], block: int
) -> Comparison:
    """Run ``plan`` with its adaptive step and with the fixed split, on the same traffic."""
    adaptive = run_arms(plan, engine_for)
    fixed = run_arms(plan, engine_for, without_adaptive(plan.journey))
    return Comparison(plan, adaptive, fixed, block, is_split(plan.journey, plan.step))


def plot(
    path: Path,
    groups: Sequence[tuple[str, Sequence[Comparison]]],
    title: str | None = None,
) -> None:
    """Cumulative regret against entries (adaptive solid, fixed split dashed) and the best arm's
    share per block, one colour per group (its comparisons, e.g. seeds, drawn thin). Needs
    matplotlib (the ``train`` extra): ImportError without it."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    colors = ["tab:blue", "tab:orange", "tab:green", "tab:purple", "tab:red", "tab:brown"]
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(8, 7.5), sharex=True)
    for g, (label, comparisons) in enumerate(groups):
        color = colors[g % len(colors)]
        alpha = 1.0 if len(comparisons) == 1 else 0.55
        for i, c in enumerate(comparisons):
            xs = range(1, len(c.regret) + 1)
            first = i == 0
            top.plot(
                xs,
                c.regret,
                "-",
                color=color,
                alpha=alpha,
                lw=1.4,
                label=f"{label}: adaptive" if first else None,
            )
            top.plot(
                range(1, len(c.fixed_regret) + 1),
                c.fixed_regret,
                "--",
                color=color,
                alpha=alpha,
                lw=1.0,
                label=f"{label}: fixed {'split' if c.split else 'rule'}" if first else None,
            )
            ends = [(k + 1) * c.block for k in range(len(c.shares))]
            bottom.plot(
                ends,
                [100 * s for s in c.shares],
                "-o",
                color=color,
                alpha=alpha,
                ms=3,
                lw=1.2,
                label=label if first else None,
            )
    bottom.axhline(100 * THRESHOLD, color="gray", ls=":", lw=1)
    top.set_ylabel("cumulative regret (expected conversions lost)")
    top.grid(True, alpha=0.3)
    top.legend(fontsize=7)
    bottom.set_xlabel("entries (reaching the adaptive step, in time order)")
    bottom.set_ylabel("best arm's share per block (%)")
    bottom.set_ylim(0, 100)
    bottom.grid(True, alpha=0.3)
    bottom.legend(fontsize=7)
    if title:
        top.set_title(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=100, metadata={"Software": None})
    plt.close(fig)
