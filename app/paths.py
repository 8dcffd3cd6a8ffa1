"""Where the project's declarative files live (topics/, journeys/, models/, templates/,
policies.yaml): one folder, ``ROOT``, holding them side by side as the checkout does.

``ROOT`` is, in this order:

1. ``SEGUE_HOME`` when set: an operator's own project folder, laid out like the checkout.
2. The checkout beside the package (a source tree or an editable install): the files are edited
   there, so they are read there, never from a copy.
3. The copies shipped inside the package, ``app/_data/`` (an installed wheel: ``pip install
   segue``). setup.py copies the checkout's folders there at build time; a wheel can only carry
   files inside its packages, and reading them through ``__file__`` works wherever pip put the
   package (venv, --user, --target, a Docker layer) without a separate data prefix.
4. The working directory, the last resort of an install that has neither (e.g. one built
   without the data): its errors then name ``./topics`` etc., where an operator can look.

Both candidate folders count only when they hold ``topics/topics.yaml``: an unrelated ``topics``
folder beside an installed package (site-packages is shared) must not pass for a checkout.
Folder arguments that default to relative paths (``segue worker --journeys journeys``) are
resolved by the CLI against the working directory as before; this module only decides where the
defaults of the data the code itself needs come from.
"""

from __future__ import annotations

import os
from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent
#: the copies an installed wheel carries (setup.py: TARGET)
PACKAGED_DATA = _PACKAGE / "_data"
_MARKER = Path("topics", "topics.yaml")


def _root() -> Path:
    if home := os.environ.get("SEGUE_HOME"):
        return Path(home).resolve()
    for candidate in (_PACKAGE.parent, PACKAGED_DATA):
        if (candidate / _MARKER).is_file():
            return candidate
    return Path.cwd()


ROOT = _root()
TOPICS_DIR = ROOT / "topics"
SCHEMAS_DIR = TOPICS_DIR / "schemas"
JOURNEYS_DIR = ROOT / "journeys"
MODELS_DIR = ROOT / "models"
TEMPLATES_DIR = ROOT / "templates"
POLICIES_FILE = ROOT / "policies.yaml"
