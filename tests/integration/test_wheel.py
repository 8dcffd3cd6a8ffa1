"""The built wheel works outside the checkout (issue 17): data packaged, scoring without sklearn.

One test, about 30 s on 2 cores (most of it the two replays and reports), no broker:

1. Copy the checkout's sources to a temp dir (not its venv, git, state or caches), build an sdist
   there with setuptools' PEP 517 backend and the wheel from that sdist, offline
   (``pip wheel --no-deps --no-build-isolation``), as ``python -m build`` would. So MANIFEST.in
   and setup.py are both exercised, and the checkout gets no build/ folder.
2. The wheel carries, as ``app/_data/``, byte for byte, every file of ``topics/`` (any name:
   schemas added later included), ``journeys/`` (with the JSON Schemas in ``journeys/schema/``),
   ``templates/``, the model artifacts and cards, and ``policies.yaml``; nothing of
   ``models/data/`` or ``train.py``. Its metadata asks for scikit-learn and matplotlib only
   through extras, scipy (``segue report``) in the core.
3. A fresh venv (``python3.11 -m venv --without-pip``) gets the wheel with ``--no-deps``. There is
   no package index here (pip's find-links, /opt/wheels, is empty), so the dependencies come from
   the project's venv through a ``.pth`` file naming a folder of links to its site-packages
   entries, minus scikit-learn, matplotlib and the editable install of this checkout. What that
   proves: the installed package runs from its own files (``app`` imports from the fresh venv,
   its data from ``app/_data``) with the pinned dependency versions and with scikit-learn and
   matplotlib absent (neither importable nor in the metadata). What it does not prove: that pip
   resolves the dependency list from an index (the metadata is checked, not resolved), nor that
   the dependencies' own wheels install on a clean machine.
4. From a temp working directory, with no ``SEGUE_*`` in the environment: ``segue journeys
   validate``, ``segue replay`` of simulated traffic (timers fired with ``--until``) with the
   packaged journeys, policies and (by default, beside the journeys) models, ``segue report`` on
   its outcomes, and each action's message rendered from the packaged templates, all equal to
   what the checkout's own venv gives from the checkout. The scorer loads and scores in the
   fresh venv without sklearn, and ``models/train.py`` there stops with the one-line hint.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import zipfile
from collections.abc import Sequence
from email.parser import Parser
from importlib import metadata
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.integration

CHECKOUT = Path(__file__).resolve().parents[2]
CHECKOUT_SEGUE = Path(sys.executable).with_name("segue")
#: top-level entries not copied for the build: environments, VCS, state, outputs, caches
NOT_SOURCES = {".venv", ".git", ".kafka", ".state", ".hypothesis", "build", "dist", "report", "out"}
NOT_SOURCES_ANYWHERE = shutil.ignore_patterns(
    "__pycache__", ".*_cache", "*.egg-info", "test-output"
)
#: distributions the fresh venv must not see (``segue`` is this checkout's editable install)
HIDDEN_DISTRIBUTIONS = ("scikit-learn", "matplotlib", "segue")
SIMULATE = ["--rate", "10", "--duration", "1800", "--seed", "17", "--quiet"]  # 18,000 events
UNTIL = "2026-12-10T00:00:00Z"  # fires the journeys' timers (days-long waits)
WHEEL_SIZE_LIMIT = 2_000_000  # bytes; the data is about 0.1 MB of it

RENDER = """
import json, sys
from app.sinks.templates import Renderer, template_context
renderer = Renderer()
out = []
for line in open(sys.argv[1], encoding="utf-8"):
    action = json.loads(line)
    out.append(renderer.message(action.get("template"), template_context(action, action.get("profile"))))
json.dump(out, sys.stdout)
"""

SCORE_WITHOUT_SKLEARN = """
import importlib.util, json, sys
from importlib import metadata
assert importlib.util.find_spec("sklearn") is None, "sklearn is importable"
try:
    metadata.version("scikit-learn")
    raise AssertionError("scikit-learn's metadata is visible")
except metadata.PackageNotFoundError:
    pass
from app.core.profile import new_profile
from app.models.artifact import installed_versions
from app.models.scorer import ModelScorer
from app.paths import MODELS_DIR
scorer = ModelScorer.load(MODELS_DIR)
scores = scorer.score(new_profile("c-1"), 1_790_000_000_000)
assert not {"sklearn", "matplotlib"} & set(sys.modules), "scoring imported a training library"
print(json.dumps({"installed": installed_versions(), "version": scorer.version, "scores": scores}))
"""

WHERE = """
import json, app, app.paths as p
print(json.dumps({"app": app.__file__, "root": str(p.ROOT), "packaged": str(p.PACKAGED_DATA)}))
"""


def _run(
    args: Sequence[object], cwd: Path, env: dict[str, str], check: bool = True
) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        [str(a) for a in args], cwd=cwd, env=env, capture_output=True, text=True, timeout=120
    )
    if check and done.returncode != 0:
        pytest.fail(
            f"{' '.join(map(str, args))} failed ({done.returncode}):\n{done.stderr[-3000:]}"
        )
    return done


def _clean_env() -> dict[str, str]:
    """The environment without anything that could point back at the checkout."""
    drop = ("PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME", "PYTHONSTARTUP", "PYTHONSAFEPATH")
    return {k: v for k, v in os.environ.items() if not k.startswith("SEGUE_") and k not in drop}


def _shipped(sources: Path) -> dict[str, bytes]:
    """What the wheel must carry under app/_data/, from the sources (independently of setup.py)."""
    files = [
        p for folder in ("topics", "journeys", "templates") for p in (sources / folder).rglob("*")
    ]
    files += [*(sources / "models").glob("*.json"), *(sources / "models").glob("*.card.md")]
    files.append(sources / "policies.yaml")
    shipped = {}
    for path in files:
        relative = path.relative_to(sources)
        if path.is_file() and not any(
            p.startswith(".") or p == "__pycache__" for p in relative.parts
        ):
            shipped[relative.as_posix()] = path.read_bytes()
    return shipped


def _dependency_folder(into: Path) -> Path:
    """Links to the project venv's site-packages entries, minus ``HIDDEN_DISTRIBUTIONS``' files."""
    site = Path(str(metadata.distribution("jinja2").locate_file("")))
    hidden: set[str] = set()
    for name in HIDDEN_DISTRIBUTIONS:
        try:
            dist = metadata.distribution(name)
        except metadata.PackageNotFoundError:
            continue
        for file in dist.files or ():
            top = Path(str(dist.locate_file(file)))
            if top.is_relative_to(site):
                hidden.add(top.relative_to(site).parts[0])
    into.mkdir()
    for entry in site.iterdir():
        if entry.name not in hidden and not entry.name.endswith(".pth"):
            (into / entry.name).symlink_to(entry)
    return into


def _build_wheel(tmp: Path, env: dict[str, str]) -> Path:
    sources = tmp / "src"

    def ignore(folder: str, names: list[str]) -> set[str]:
        skipped = set(NOT_SOURCES_ANYWHERE(folder, names))
        return skipped | (NOT_SOURCES & set(names) if Path(folder) == CHECKOUT else set())

    shutil.copytree(CHECKOUT, sources, ignore=ignore, symlinks=True)
    backend = "import sys, setuptools.build_meta as b; print(b.build_sdist(sys.argv[1]))"
    sdist = tmp / "sdist"
    name = (
        _run([sys.executable, "-c", backend, sdist], sources, env).stdout.strip().splitlines()[-1]
    )
    wheels = tmp / "wheels"
    pip_wheel = ["-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index", "-q"]
    _run([sys.executable, *pip_wheel, "-w", wheels, sdist / name], tmp, env)
    (wheel,) = wheels.glob("segue-*.whl")
    return wheel


def _check_wheel(wheel: Path, sources: Path) -> None:
    with zipfile.ZipFile(wheel) as zf:
        data = {
            n.removeprefix("app/_data/"): zf.read(n)
            for n in zf.namelist()
            if n.startswith("app/_data/") and not n.endswith("/")
        }
        (meta_name,) = [n for n in zf.namelist() if n.endswith(".dist-info/METADATA")]
        meta = Parser().parsestr(zf.read(meta_name).decode())
    expected = _shipped(sources)
    assert sorted(data) == sorted(expected)
    assert data == expected
    for must in (
        "topics/topics.yaml",
        "journeys/schema/journey.schema.json",
        "models/manifest.json",
    ):
        assert must in data
    assert not [n for n in data if n.startswith("models/data/") or n.endswith(".py")]
    requires = meta.get_all("Requires-Dist") or []
    core = {r.split(";")[0].split("==")[0].split("[")[0].strip() for r in requires if ";" not in r}
    assert "scipy" in core  # segue report's exact tests: a core command
    assert not core & {"scikit-learn", "matplotlib"}
    train = [r for r in requires if r.startswith(("scikit-learn", "matplotlib"))]
    assert any(r.startswith("scikit-learn==") and 'extra == "train"' in r for r in train)
    assert all("extra ==" in r for r in train)
    assert wheel.stat().st_size < WHEEL_SIZE_LIMIT


def _replay_and_report(
    segue: Path, root: Path, events: Path, out: Path, cwd: Path, env: dict[str, str]
) -> dict[str, Any]:
    out.mkdir()
    _run([segue, "journeys", "validate", root / "journeys"], cwd, env)
    replay: list[object] = [segue, "replay", "--events", events, "--journeys", root / "journeys"]
    replay += [
        "--policies",
        root / "policies.yaml",
        "--until",
        UNTIL,
        "--out",
        out / "actions.jsonl",
    ]
    replay += ["--decisions", out / "decisions.jsonl", "--outcomes", out / "outcomes.jsonl"]
    log = _run(replay, cwd, env).stderr
    assert f"from {root / 'models'}" in log  # scored with the models beside the journeys
    _run([segue, "report", "--outcomes", out / "outcomes.jsonl", "--out", out / "report"], cwd, env)
    python = segue.with_name("python")
    rendered = _run([python, "-c", RENDER, out / "actions.jsonl"], cwd, env).stdout
    return {
        "actions": (out / "actions.jsonl").read_bytes(),
        "decisions": (out / "decisions.jsonl").read_bytes(),
        "outcomes": (out / "outcomes.jsonl").read_bytes(),
        "report": (out / "report" / "report.json").read_bytes(),
        "rendered": json.loads(rendered),
    }


def test_the_wheel_runs_outside_the_checkout_with_its_data_and_without_sklearn(
    tmp_path: Path,
) -> None:
    env = _clean_env()
    wheel = _build_wheel(tmp_path, env)
    _check_wheel(wheel, tmp_path / "src")

    venv = tmp_path / "venv"
    base_python = getattr(sys, "_base_executable", None) or shutil.which("python3.11")
    assert base_python is not None
    _run([base_python, "-m", "venv", "--without-pip", venv], tmp_path, env)
    python, segue = venv / "bin" / "python", venv / "bin" / "segue"
    install = ["-m", "pip", "--python", python, "install", "--no-deps", "--no-index", "-q"]
    _run([sys.executable, *install, wheel], tmp_path, env)
    site = Path(_run([python, "-c", "import site; print(site.getsitepackages()[0])"], tmp_path, env).stdout.strip())  # fmt: skip
    deps = _dependency_folder(tmp_path / "deps")
    (site / "segue_test_dependencies.pth").write_text(f"{deps}\n", encoding="utf-8")

    work = tmp_path / "elsewhere"  # the working directory: no topics/, journeys/, .env
    work.mkdir()
    where = json.loads(_run([python, "-c", WHERE], work, env).stdout)
    packaged = Path(where["packaged"])
    assert Path(where["app"]).is_relative_to(site), where  # the installed package, not the checkout
    assert Path(where["root"]) == packaged == site / "app" / "_data", where

    events = tmp_path / "events.jsonl"
    _run([segue, "simulate", *SIMULATE, "--out", events], work, env)
    mine = _replay_and_report(segue, packaged, events, tmp_path / "installed", work, env)
    checkout = _replay_and_report(
        CHECKOUT_SEGUE, CHECKOUT, events, tmp_path / "checkout", CHECKOUT, env
    )
    assert mine["actions"], "the replay emitted no actions: nothing was compared"
    for part in ("actions", "decisions", "outcomes", "report", "rendered"):
        assert mine[part] == checkout[part], f"{part} differ between the wheel and the checkout"

    scored = json.loads(_run([python, "-c", SCORE_WITHOUT_SKLEARN], work, env).stdout)
    assert scored["installed"] == {"scikit-learn": "not installed"}
    assert scored["version"] in mine["actions"].decode()
    assert all(0.0 < p < 1.0 for p in scored["scores"].values())

    train = _run([python, CHECKOUT / "models" / "train.py"], work, env, check=False)
    assert train.returncode != 0
    assert train.stderr.strip().startswith("install segue[train] to train models")
    assert len(train.stderr.strip().splitlines()) == 1
