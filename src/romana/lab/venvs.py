"""Virtual environments of the optional stacks (Neutron, moto and boto3), built on demand.

A heavy stack runs from an environment of its own, never from the project's: :class:`Stack`
builds it from a pinned requirements file at ``<cache>/<hash of that file>/`` (once) and
reuses it while the file is unchanged; romana is installed into it editable and without
dependencies, so the stack runs the tree's current code (and, once ``stale`` says so after
pyproject changed, is installed again).

Invariant: an environment is complete only once its marker file exists, so an interrupted
build is redone, not reused.
"""

from __future__ import annotations

import hashlib
import subprocess
import sys
import time
import venv
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]


def requirements_hash(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()[:16]


@dataclass(frozen=True)
class Stack:
    """One optional stack's environment."""

    name: str
    """How progress names it (``openstack``, ``aws``)."""
    requirements: Path
    cache: Path
    marker: str
    took: str
    """How long a build takes, as the progress line says it (``about a minute``)."""
    stale: Callable[[Path], bool] = lambda where: False
    """Whether romana must be installed again into the ready environment at ``where``."""

    def where(self) -> Path:
        return self.cache / requirements_hash(self.requirements)

    def ready(self) -> bool:
        return (self.where() / self.marker).exists()

    def say(self, message: str) -> None:
        print(f"[{self.name} venv] {message}", file=sys.stderr, flush=True)

    def install_romana(self, python: Path) -> None:
        argv = [str(python), "-m", "pip", "install", "-q", "--no-deps", "-e", str(ROOT)]
        subprocess.run(argv, check=True)

    def build(self) -> Path:
        """The environment's directory, built when missing."""
        where = self.where()
        python = where / "bin" / "python"
        if self.ready():
            if self.stale(where):
                self.say("re-installing romana: its entry points changed")
                self.install_romana(python)
            return where
        started = time.monotonic()
        self.say(f"building {where} from {self.requirements} ({self.took}, once) ...")
        venv.EnvBuilder(clear=True, with_pip=True).create(where)
        self.say(f"installing {self.requirements.name} (pinned) ...")
        argv = [str(python), "-m", "pip", "install", "-q", "-r", str(self.requirements)]
        subprocess.run(argv, check=True)
        self.say("installing romana (editable, without dependencies) ...")
        self.install_romana(python)
        (where / self.marker).write_text(requirements_hash(self.requirements) + "\n")
        self.say(f"ready in {time.monotonic() - started:.0f} s")
        return where
