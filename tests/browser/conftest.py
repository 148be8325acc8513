"""The web view's browser rig: a real romanad holding the demo's world, and chromium.

romanad is started once per module (its own SQLite store, stopped by PID) and populated by
:func:`support.uiworld.populate`. Playwright runs from its own environment
(:mod:`romana.lab.browser`, built on first use from ``requirements/browser.txt``) and drives
Debian's chromium; when either is missing a test skips, or fails under ``CI=true``. Each
browser fixture is one chromium process, stopped by PID.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from romana.client import Client
from romana.lab import browser as lab_browser
from romana.lab.romanad import Romanad
from support import env, uiworld
from support import romanad as romanad_support


@pytest.fixture(scope="session")
def browser_bin() -> Path:
    env.need(
        os.access(lab_browser.CHROMIUM, os.X_OK),
        f"needs {lab_browser.CHROMIUM} (Debian's chromium, installed by scripts/bootstrap.sh)",
    )
    try:
        return lab_browser.browser_venv()
    except (OSError, subprocess.CalledProcessError) as exc:
        env.need(
            False, f"the browser environment (requirements/browser.txt) cannot be built: {exc}"
        )
        raise


romanad = romanad_support.sqlite_fixture("ui-romanad")


admin = romanad_support.admin_fixture()


@pytest.fixture(scope="module")
def world(admin: Client) -> uiworld.World:
    return uiworld.populate(admin)


@pytest.fixture(scope="module")
def page(
    browser_bin: Path, romanad: Romanad, world: uiworld.World
) -> Iterator[lab_browser.Browser]:
    with lab_browser.Browser(browser_bin, romanad.url) as b:
        yield b
