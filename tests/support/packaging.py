"""romana's distributions in tests: the sdist and wheel built from this checkout, installed.

:func:`build` runs ``python -m build`` on the checkout as a packager does: an isolated build
(hatchling comes from PyPI, or pip's cache) of the sdist, then of the wheel from that sdist,
so the wheel proves the sdist complete. :func:`install` puts a wheel into a fresh virtual
environment with no C compiler reachable, as on a machine of a cluster; its dependencies come
from PyPI (or pip's cache). Both take tens of seconds; callers do them once per module or
session.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
COMPILERS = ("gcc", "cc", "c99", "clang", "tcc")
"""Names a build could reach a C compiler by; none is on PATH during :func:`install`."""


@dataclasses.dataclass(frozen=True)
class Built:
    """The two files of one ``python -m build`` run, and how long it took."""

    sdist: Path
    wheel: Path
    seconds: float


@dataclasses.dataclass(frozen=True)
class Installed:
    """A fresh virtual environment holding one wheel, and how long the install took."""

    venv: Path
    seconds: float
    path: str
    """The PATH the install ran with: the environment's ``bin/`` and nothing else."""

    @property
    def bin(self) -> Path:
        return self.venv / "bin"

    def environ(self) -> dict[str, str]:
        """This process's environment with PATH limited to the environment's ``bin/``."""
        return clean_environ(self.path)


def clean_environ(path: str) -> dict[str, str]:
    """The test process's environment with ``path`` as PATH and no trace of its own venv."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env["PATH"] = path
    return env


def build(outdir: Path) -> Built:
    """The sdist and the wheel built from it, in ``outdir`` (created if missing)."""
    outdir.mkdir(parents=True, exist_ok=True)
    start = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "build", "--outdir", str(outdir), str(ROOT)],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    seconds = time.monotonic() - start
    if done.returncode != 0:
        raise RuntimeError(f"python -m build failed:\n{done.stdout}\n{done.stderr}")
    (sdist,) = outdir.glob("romana-*.tar.gz")
    (wheel,) = outdir.glob("romana-*.whl")
    return Built(sdist, wheel, seconds)


def build_wheel(outdir: Path) -> Path:
    """The wheel (built from the sdist) in ``outdir``."""
    return build(outdir).wheel


def install(wheel: Path, venv: Path) -> Installed:
    """A new virtual environment at ``venv`` with ``wheel`` installed, no compiler on PATH."""
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    path = str(venv / "bin")
    reachable = {name: shutil.which(name, path=path) for name in COMPILERS}
    assert not any(reachable.values()), (
        f"a compiler is reachable on the install's PATH: {reachable}"
    )
    start = time.monotonic()
    done = subprocess.run(
        [str(venv / "bin" / "python"), "-m", "pip", "install", "--disable-pip-version-check",
         "-q", str(wheel)],
        env=clean_environ(path),
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )  # fmt: skip
    seconds = time.monotonic() - start
    if done.returncode != 0:
        raise RuntimeError(f"pip install {wheel.name} failed:\n{done.stdout}\n{done.stderr}")
    return Installed(venv, seconds, path)
