"""The adaptive split of the example journey against its fixed 50/50 split, with a known best arm.

    .venv/bin/python bench/adaptive_regret.py [--entries 20000] [--seeds 5] [--block 500]
        [--partitions 4] [--jobs 2] [--plot bench/adaptive_regret.png]

The closed loop of ``segue simulate --arms`` (app/sim/arms.py, app/sim/arms_report.py) on
journeys/adaptive/cart_offer_adaptive.yaml, for a few pairs of conversion rates (discount,
free_shipping), each over several seeds: customers arrive at ``--per-hour`` (100) with the
trigger, the step ``offer`` chooses (10 % holdout on the fixed split, a 5 % floor per arm), each
customer converts with the chosen arm's probability. Printed per rate pair: the entries until
the best arm's share stays above 80 % (median and worst over the seeds; the rule is
arms_report.py's: blocks of ``--block`` entries, the first block after which every block is
above 80 %), the final share, and the final regret (expected conversions lost against always
playing the best arm) of the adaptive step and of the fixed split. Counts, not timings: the
same arguments print the same table. The picture: cumulative regret, adaptive (solid) and fixed
(dashed), and the best arm's share per block, every seed.
"""

from __future__ import annotations

import argparse
import statistics
import sys
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run as a script from anywhere
    sys.path.insert(0, str(ROOT))

from app.core.journeys.definitions import load_journey_file  # noqa: E402
from app.sim.arms import ArmsPlan  # noqa: E402
from app.sim.arms_report import THRESHOLD, Comparison, compare, engine_factory, plot  # noqa: E402

JOURNEY = ROOT / "journeys" / "adaptive" / "cart_offer_adaptive.yaml"
STEP = "offer"
#: (discount, free_shipping) conversion probabilities
PAIRS = ((0.04, 0.08), (0.06, 0.04), (0.05, 0.06))


def run_one(
    pair: tuple[float, float], seed: int, entries: int, per_hour: float, block: int, partitions: int
) -> Comparison:
    journey = load_journey_file(JOURNEY)
    rates = {"discount": pair[0], "free_shipping": pair[1]}
    plan = ArmsPlan(
        journey=journey, step=STEP, rates=rates, entries=entries, per_hour=per_hour, seed=seed
    )
    return compare(plan, engine_factory(partitions), block)


def label(pair: tuple[float, float]) -> str:
    return f"discount {100 * pair[0]:.0f} %, free_shipping {100 * pair[1]:.0f} %"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--entries", type=int, default=20_000)
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--block", type=int, default=500)
    parser.add_argument("--per-hour", type=float, default=100.0)
    parser.add_argument("--partitions", type=int, default=4, help="the deployment's default")
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--plot", type=Path, default=ROOT / "bench" / "adaptive_regret.png")
    args = parser.parse_args()
    seeds = list(range(1, args.seeds + 1))
    jobs = [(pair, seed) for pair in PAIRS for seed in seeds]
    with ProcessPoolExecutor(max_workers=args.jobs) as pool:
        futures = [
            pool.submit(
                run_one, pair, seed, args.entries, args.per_hour, args.block, args.partitions
            )
            for pair, seed in jobs
        ]
        results = [f.result() for f in futures]
    by_pair: dict[tuple[float, float], list[Comparison]] = {pair: [] for pair in PAIRS}
    for (pair, _), result in zip(jobs, results, strict=True):
        by_pair[pair].append(result)

    above = f"{100 * THRESHOLD:.0f} %"
    print(
        f"{JOURNEY.relative_to(ROOT)}, step {STEP}: {args.entries} entries at {args.per_hour:g}/h, "
        f"{args.partitions} partitions, seeds {seeds[0]}-{seeds[-1]}, blocks of {args.block}"
    )
    print()
    print(
        f"| rates | share stays above {above} from entry: median | worst | reached "
        "| best-arm share, last block (median) | regret adaptive (median, worst) "
        "| regret fixed split | change |"
    )
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for pair, comparisons in by_pair.items():
        found = [c.from_entry for c in comparisons]
        reached = [n for n in found if n is not None]
        # "not reached" counts as worse than any entry count
        ranked = sorted(found, key=lambda n: float("inf") if n is None else n)
        median = ranked[len(ranked) // 2]
        worst = ranked[-1]
        last = statistics.median(c.shares[-1] for c in comparisons)
        regrets = [c.regret[-1] for c in comparisons]
        fixed = statistics.median(c.fixed_regret[-1] for c in comparisons)
        reg = statistics.median(regrets)
        print(
            f"| {label(pair)} | {'not reached' if median is None else median} "
            f"| {'not reached' if worst is None else worst} | {len(reached)}/{len(found)} "
            f"| {100 * last:.0f} % | {reg:.1f}, {max(regrets):.1f} | {fixed:.1f} "
            f"| {100 * (reg - fixed) / fixed:+.0f} % |"
        )
    print()
    for comparisons in by_pair.values():
        for seed, c in zip(seeds, comparisons, strict=True):
            print(f"seed {seed}: {c.summary()}")
    args.plot.parent.mkdir(parents=True, exist_ok=True)
    plot(
        args.plot,
        [(label(pair), comparisons) for pair, comparisons in by_pair.items()],
        f"{JOURNEY.stem} / {STEP}: adaptive (solid) vs fixed 50/50 split (dashed), "
        f"{len(seeds)} seeds, {args.partitions} partitions",
    )
    print(f"\nplot: {args.plot}")


if __name__ == "__main__":
    main()
