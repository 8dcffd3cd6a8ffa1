"""``segue simulate --arms``: the closed loop of an adaptive step from the command line. Its
events replay (``segue replay``) to the same choices, its summary has the promised shape and
figures, its plot is a PNG, and every mistake is one line and exit 2."""

from __future__ import annotations

import copy
import re
from pathlib import Path
from typing import Any

import orjson
import pytest
import yaml
from typer.testing import CliRunner, Result

from app.cli import _register, app
from app.core.journeys.definitions import load_journey_file
from app.sim import DEFAULT_START_MS
from app.sim import simulate as generate
from app.sim.arms import ArmsPlan
from app.sim.arms_report import Comparison, compare, engine_factory, stays_above

_register()  # every command on ``app``
runner = CliRunner()
ROOT = Path(__file__).parents[2]
FOLDER = ROOT / "journeys" / "adaptive"
JOURNEY = FOLDER / "cart_offer_adaptive.yaml"
RATES = {"discount": 0.04, "free_shipping": 0.08}
CONVERT = ["--convert", "discount=0.04", "--convert", "free_shipping=0.08"]
SMALL = ["--entries", "800", "--per-hour", "200", "--seed", "3"]


def simulate(*args: str) -> Result:
    return runner.invoke(app, ["simulate", *args])


def direct(partitions: int, entries: int = 800, per_hour: float = 200, seed: int = 3) -> Comparison:
    """The same plan run without the command line."""
    plan = ArmsPlan(
        journey=load_journey_file(JOURNEY),
        step="offer",
        rates=RATES,
        entries=entries,
        per_hour=per_hour,
        seed=seed,
    )
    return compare(plan, engine_factory(partitions), max(1, entries // 10))


def lines(data: bytes) -> list[dict[str, Any]]:
    return [orjson.loads(line) for line in data.splitlines()]


def summary_of(result: Result) -> str:
    found = [line for line in result.stderr.splitlines() if line.startswith("arms: ")]
    assert len(found) == 1, result.stderr
    return found[0]


def one_line(result: Result) -> str:
    assert result.exit_code == 2, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    out = result.stderr.strip().splitlines()
    assert len(out) == 1, result.stderr
    return out[0]


# -- the closed loop and its replay ------------------------------------------------------------


def test_the_simulated_traffic_replays_to_the_same_choices(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SEGUE_PARTITIONS", "3")  # the learner's books: one per partition
    events = tmp_path / "events.jsonl"
    result = simulate("--arms", str(JOURNEY), *CONVERT, *SMALL, "--out", str(events))
    assert result.exit_code == 0, result.output
    expected = direct(partitions=3)
    # the command ran the plan (with the deployment's partition count): the same events
    assert events.read_bytes() == b"".join(
        orjson.dumps(e) + b"\n" for e in expected.adaptive.events
    )
    assert summary_of(result) == expected.summary()
    again = tmp_path / "again.jsonl"
    assert simulate("--arms", str(JOURNEY), *CONVERT, *SMALL, "--out", str(again)).exit_code == 0
    assert again.read_bytes() == events.read_bytes()

    outcomes = tmp_path / "outcomes.jsonl"
    replayed = runner.invoke(
        app,
        [
            *("replay", "--journeys", str(FOLDER), "--events", str(events)),
            *("--out", str(tmp_path / "actions.jsonl"), "--outcomes", str(outcomes)),
        ],
    )
    assert replayed.exit_code == 0, replayed.output
    chosen = {
        o["customer_id"]: o["variant"]
        for o in lines(outcomes.read_bytes())
        if o["kind"] == "step" and o["step"] == "offer" and o.get("variant") is not None
    }
    simulated = {c.customer: c.arm for c in expected.adaptive.choices}
    assert len(simulated) == 800
    assert chosen == simulated
    assert {c.mode for c in expected.adaptive.choices} == {"explore", "exploit", "holdout"}
    # the books are per partition: one partition learns from other statistics, other choices
    assert {c.customer: c.arm for c in direct(partitions=1).adaptive.choices} != simulated


def test_partitions_can_be_given_and_events_go_to_stdout_without_out() -> None:
    result = simulate("--arms", str(JOURNEY), *CONVERT, *SMALL, "--partitions", "1")
    assert result.exit_code == 0, result.output
    expected = direct(partitions=1)
    assert [orjson.loads(line) for line in result.stdout.splitlines()] == expected.adaptive.events
    assert summary_of(result) == expected.summary()


def test_the_summary_line_has_its_shape_and_the_figures_of_both_runs(tmp_path: Path) -> None:
    result = simulate(
        "--arms", str(JOURNEY), *CONVERT, *SMALL, "--partitions", "2", "--out",
        str(tmp_path / "e.jsonl"),
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    line = summary_of(result)
    shape = (
        r"arms: 800 entries \(800 reached offer\), best arm free_shipping \(8\.0 %\); "
        r"best-arm share per 80 entries: (\d+ % ){9}\d+ %; "
        r"(above 80 % from entry (\d+) on|above 80 %: not reached); "
        r"regret (\d+\.\d) conversions vs (\d+\.\d) for the fixed split \(([+-]\d+) %\)"
    )
    match = re.fullmatch(shape, line)
    assert match, line
    expected = direct(partitions=2)
    assert float(match[4]) == round(expected.regret[-1], 1)
    assert float(match[5]) == round(expected.fixed_regret[-1], 1)
    # the fixed split: the adaptive blocks removed, about half the entries on each arm
    assert {c.mode for c in expected.fixed.choices} == {None}
    assert 0.4 < sum(c.arm == "free_shipping" for c in expected.fixed.choices) / 800 < 0.6
    assert expected.fixed_regret[-1] > expected.regret[-1]


def test_above_80_percent_from_the_first_block_after_which_every_block_is_above() -> None:
    assert stays_above([0.5, 0.85, 0.7, 0.81, 0.9]) == 3
    assert stays_above([0.9, 0.95]) == 0
    assert stays_above([0.9, 0.8]) is None  # 80 % is not above 80 %
    assert stays_above([]) is None


def test_plot_writes_a_png(tmp_path: Path) -> None:
    picture = tmp_path / "regret.png"
    result = simulate(
        "--arms", str(JOURNEY), *CONVERT, "--entries", "300", "--per-hour", "200",
        "--out", str(tmp_path / "e.jsonl"), "--plot", str(picture),
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert picture.read_bytes().startswith(b"\x89PNG\r\n\x1a\n")
    assert picture.stat().st_size > 10_000


# -- mistakes: one line, exit 2 ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("convert", "says"),
    [
        (["discount"], "--convert 'discount': expected ARM=P"),
        (["discount=lots", "free_shipping=0.1"], "'lots' is not a number"),
        (["=0.1"], "expected ARM=P"),
        (["vip=0.1"], "step offer has no arm 'vip' (its arms: discount, free_shipping)"),
        (["discount=1.5", "free_shipping=0.1"], "must be between 0 and 1"),
        (["discount=-0.1", "free_shipping=0.1"], "must be between 0 and 1"),
        (["discount=0.1"], "missing: free_shipping=P"),
        (["discount=0.1", "discount=0.2"], "arm 'discount' given twice"),
        ([], "--arms needs --convert ARM=P for every arm of step offer"),
    ],
)
def test_a_bad_convert_is_one_line(convert: list[str], says: str, tmp_path: Path) -> None:
    args = [x for value in convert for x in ("--convert", value)]
    out = tmp_path / "e.jsonl"
    line = one_line(simulate("--arms", str(JOURNEY), *args, "--out", str(out)))
    assert says in line
    assert not out.exists()


def write_journey(folder: Path, doc: dict[str, Any]) -> Path:
    path = folder / f"{doc['id']}.yaml"
    path.write_text(yaml.safe_dump(doc))
    return path


def example() -> dict[str, Any]:
    doc: dict[str, Any] = yaml.safe_load(JOURNEY.read_text())
    return doc


def test_a_journey_without_an_adaptive_step_is_one_line(tmp_path: Path) -> None:
    doc = example()
    del doc["steps"][1]["adaptive"]
    path = write_journey(tmp_path, doc)
    line = one_line(simulate("--arms", str(path), *CONVERT))
    assert line == (
        "journey cart_offer_adaptive has no adaptive step (a split or decide with an "
        "'adaptive' block): nothing to learn"
    )


def test_several_adaptive_steps_need_step_and_step_must_be_adaptive(tmp_path: Path) -> None:
    doc = example()
    first = copy.deepcopy(doc["steps"][1])
    first["id"] = "first_offer"
    for variant in first["split"]:
        variant["goto"] = "offer"
    doc["steps"].insert(1, first)
    path = write_journey(tmp_path, doc)
    line = one_line(simulate("--arms", str(path), *CONVERT))
    assert line == (
        "journey cart_offer_adaptive has 2 adaptive steps (first_offer, offer): "
        "choose one with --step"
    )
    line = one_line(simulate("--arms", str(JOURNEY), *CONVERT, "--step", "wait_1h"))
    assert line == (
        "--step wait_1h: not an adaptive step of journey cart_offer_adaptive "
        "(its adaptive steps: offer)"
    )


def test_an_invalid_journey_is_refused_as_replay_refuses_it(tmp_path: Path) -> None:
    doc = example()
    doc["steps"][1]["adaptive"]["floor"] = 0.6  # 2 arms x 0.6 > 1
    path = write_journey(tmp_path, doc)
    result = simulate("--arms", str(path), *CONVERT)
    assert result.exit_code == 2
    replay = runner.invoke(
        app,
        [
            *("replay", "--journeys", str(tmp_path), "--events", str(tmp_path / "none.jsonl")),
            *("--out", str(tmp_path / "a.jsonl")),
        ],
    )
    assert replay.exit_code == 2
    assert result.stderr.startswith("invalid definitions:\n")
    problems = result.stderr.splitlines()[1:]
    assert problems and all("steps[1].adaptive.floor" in p for p in problems), result.stderr
    assert problems == [
        line for line in replay.stderr.splitlines() if "steps[1].adaptive.floor" in line
    ]


def test_a_folder_instead_of_the_journey_file_is_one_line() -> None:
    line = one_line(simulate("--arms", str(FOLDER), *CONVERT))
    assert line.endswith("is a folder; give the journey's file (JOURNEY.yaml)")


def test_options_of_the_other_mode_are_refused_in_one_line() -> None:
    line = one_line(simulate("--arms", str(JOURNEY), *CONVERT, "--rate", "5", "--publish"))
    assert line == (
        "--arms runs the closed loop: --rate, --publish are for the open-loop generator"
    )
    line = one_line(simulate("--rate", "5", "--duration", "2", "--entries", "100"))
    assert line == "--entries: only with --arms JOURNEY.yaml (the closed loop)"
    line = one_line(simulate("--duration", "2"))
    assert line.startswith("Missing option '--rate'")


def test_the_open_loop_generator_is_unchanged(tmp_path: Path) -> None:
    out = tmp_path / "events.jsonl"
    result = simulate("--rate", "5", "--duration", "4", "--seed", "2", "--quiet", "--out", str(out))
    assert result.exit_code == 0, result.output
    expected = list(generate(2, 5.0, 4.0, DEFAULT_START_MS, None, 0.0))
    assert lines(out.read_bytes()) == expected
