"""Packaging hook: ship the checkout's declarative folders inside the wheel as ``app/_data/``.

Everything else (name, dependencies, extras, entry point) is in pyproject.toml; this file only
adds one step to setuptools' ``build_py``.

The project's data lives at the top of the checkout (``topics/``, ``journeys/``, ``templates/``,
``models/``, ``policies.yaml``), beside ``app/`` rather than inside it, and that layout stays: the
Makefile, the docs, the tests and operators edit those folders there. A wheel, though, can only
carry files inside its packages, so at build time ``build_py`` copies them into
``<build_lib>/app/_data/`` and app/paths.py finds them there when there is no checkout. Why this
way and not another:

- ``[tool.setuptools.package-data]`` only reaches files under a package's own directory;
  mapping a package onto the repository root (``package-dir``) to reach them would make the root
  an importable package, with every top-level folder visible in an editable install.
- ``[tool.setuptools.data-files]`` is deprecated and installs under ``sys.prefix/share``, a place
  the package cannot find reliably (user installs, --target, zipapps, Docker layers).
- Symlinks into ``app/`` break on Windows checkouts and in sdists.

The copy is by pattern (``SHIPPED`` below): whole folders for ``topics/`` (new schema files, e.g.
``.avsc``, are picked up without touching this file), ``journeys/`` (including the journey and
policy JSON Schemas in ``journeys/schema/``) and ``templates/``; only the scoring artifacts of
``models/`` (not the 2 MB of training data in ``models/data/``, nor ``train.py``). A missing
source folder fails the build instead of producing a wheel without its data (e.g. an sdist built
without MANIFEST.in). Editable installs copy nothing: app/paths.py uses the checkout itself.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

HERE = Path(__file__).resolve().parent
#: the package folder the copies go to (app/paths.py: PACKAGED_DATA)
TARGET = Path("app", "_data")
#: top-level source (a folder or a file) -> glob patterns relative to it of what ships
SHIPPED: dict[str, tuple[str, ...]] = {
    "topics": ("**/*",),
    "journeys": ("**/*",),
    "templates": ("**/*",),
    "models": ("*.json", "*.card.md"),  # manifest.json, churn.json, intent.json, the cards
    "policies.yaml": (),
}
SKIPPED_PARTS = ("__pycache__",)


def shipped_files(root: Path = HERE) -> list[tuple[Path, Path]]:
    """Every (source, path under app/_data) pair the wheel ships, sorted."""
    pairs: dict[Path, Path] = {}
    for name, patterns in SHIPPED.items():
        source = root / name
        if not source.exists():
            raise FileNotFoundError(f"{source} is missing: the wheel would ship without it")
        if source.is_file():
            pairs[Path(name)] = source
            continue
        for pattern in patterns:
            for path in source.glob(pattern):
                relative = path.relative_to(root)
                hidden = any(p.startswith(".") or p in SKIPPED_PARTS for p in relative.parts)
                if path.is_file() and not hidden:
                    pairs[relative] = path
    return sorted((source, relative) for relative, source in pairs.items())


class BuildPyWithData(build_py):
    """``build_py`` that also copies the shipped data into ``app/_data/`` (not when editable)."""

    def run(self) -> None:
        super().run()
        if self.editable_mode:
            return
        target = Path(self.build_lib) / TARGET
        shutil.rmtree(target, ignore_errors=True)  # no stale files from an earlier build
        for source, relative in shipped_files():
            out = target / relative
            out.parent.mkdir(parents=True, exist_ok=True)
            self.copy_file(str(source), str(out))

    def get_outputs(self, include_bytecode: bool = True) -> list[str]:
        outputs = super().get_outputs(include_bytecode)
        if self.editable_mode:
            return outputs
        target = Path(self.build_lib) / TARGET
        return [*outputs, *(str(target / relative) for _, relative in shipped_files())]


setup(cmdclass={"build_py": BuildPyWithData})
