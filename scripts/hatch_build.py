"""Hatchling build hook: the compiled CNI front in every standard wheel.

A standard wheel carries ``romana-cni``, the static C front of the CNI plugin
(``src/romana/integrations/cni/front/romana-cni.c``), compiled here by ``scripts/build-cni.sh``
(so with exactly its flags, ``CC`` and ``CFLAGS`` honoured) and shipped as a script: installers
put it in the environment's ``bin/``, beside the ``romana-cni-py`` console script it execs at
run time. The binary makes the wheel a platform wheel, ``py3-none-<platform>`` of the building
interpreter (``linux_x86_64``): it is static, so it depends on no Python ABI and no shared
library, but it runs only on that machine architecture.

Editable builds compile nothing: ``scripts/bootstrap.sh`` builds the front of a development
checkout itself (``scripts/build-cni.sh``, into ``.venv/bin``). ``ROMANA_BUILD_CNI_FRONT=0``
builds a pure wheel (``py3-none-any``) without the front, for machines that get it elsewhere.
A wheel build without a C compiler fails and says both ways out.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from typing import Any

from hatchling.builders.config import BuilderConfig
from hatchling.builders.hooks.plugin.interface import BuildHookInterface
from packaging.tags import platform_tags

SWITCH = "ROMANA_BUILD_CNI_FRONT"
"""``0`` leaves the front out (a pure wheel); ``1`` or unset builds it."""

SCRIPT = "scripts/build-cni.sh"
FRONT = "romana-cni"


def wanted() -> bool:
    value = os.environ.get(SWITCH, "1").strip()
    if value not in ("0", "1", ""):
        raise ValueError(
            f"{SWITCH}={value!r}: must be 1 (build the CNI front into the wheel) "
            "or 0 (a pure wheel without it)"
        )
    return value != "0"


def platform_tag() -> str:
    """This interpreter's own platform (``linux_x86_64``), not a manylinux or musllinux one:
    the front is static, but nothing here vouches for those policies."""
    return next(t for t in platform_tags() if not t.startswith(("manylinux", "musllinux")))


class CustomBuildHook(BuildHookInterface[BuilderConfig]):
    """Compiles the front for standard wheels and adds it as the script ``romana-cni``."""

    workdir: str | None = None
    """Where the front is compiled, from :meth:`initialize` until the wheel holds it."""

    def initialize(self, version: str, build_data: dict[str, Any]) -> None:
        if version != "standard" or not wanted():
            return
        cc = os.environ.get("CC", "gcc")
        if shutil.which(cc) is None:
            raise RuntimeError(
                f"romana: building the CNI front (romana-cni) needs a C compiler, and CC={cc} "
                "is not on PATH. Install one (Debian: apt-get install gcc libc6-dev) or name it "
                f"in CC, or build a pure wheel without the front with {SWITCH}=0 (then install "
                f"the front beside romana-cni-py yourself: {SCRIPT} OUTPUT)."
            )
        self.workdir = tempfile.mkdtemp(prefix="romana-cni-build-")
        output = os.path.join(self.workdir, FRONT)
        done = subprocess.run(
            ["bash", os.path.join(self.root, SCRIPT), output],
            capture_output=True,
            text=True,
            check=False,
        )
        if done.returncode != 0:
            self.remove_workdir()
            raise RuntimeError(
                f"romana: compiling the CNI front with CC={cc} failed (exit {done.returncode}, "
                "output below); its static link also needs libc.a (Debian: libc6-dev). "
                f"{SWITCH}=0 builds a pure wheel without the front.\n{done.stdout}{done.stderr}"
            )
        build_data["shared_scripts"][output] = FRONT
        build_data["pure_python"] = False
        build_data["tag"] = f"py3-none-{platform_tag()}"

    def finalize(self, version: str, build_data: dict[str, Any], artifact_path: str) -> None:
        self.remove_workdir()

    def remove_workdir(self) -> None:
        if self.workdir is not None:
            shutil.rmtree(self.workdir, ignore_errors=True)
            self.workdir = None
