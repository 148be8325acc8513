"""A real browser for tests: Playwright driving Debian's chromium, from its own environment.

Playwright is for tests alone, so it runs from a virtual environment of its own:
:func:`browser_venv` builds it from ``requirements/browser.txt`` at
``.venv-browser/<hash of that file>/`` (a few seconds, once) and reuses it while the file is
unchanged. No browser is ever downloaded (``PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD``; nothing calls
``playwright install``): :class:`Browser` launches the ``chromium`` Debian installs
(:data:`CHROMIUM`, from ``scripts/bootstrap.sh``) through Playwright's ``executable_path``.

:class:`Browser` runs one headless chromium page in a child process of that environment's
Python, started and stopped by PID, and drives it through a line of JSON per command
(:meth:`Browser.do`): the tests' own Python needs no Playwright. A command that fails answers
its error, which :meth:`Browser.do` raises as :class:`BrowserError` naming the command.

Invariants: nothing here imports Playwright; the environment is complete only once its marker
file exists, so an interrupted build is redone, not reused.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
from pathlib import Path
from typing import IO, Any

from romana.lab import venvs
from romana.lab.romanad import terminate

ROOT = venvs.ROOT
REQUIREMENTS = ROOT / "requirements" / "browser.txt"
CACHE = ROOT / ".venv-browser"
READY_MARKER = "romana-browser-ready"
CHROMIUM = "/usr/bin/chromium"
NO_DOWNLOAD = {"PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD": "1"}


def _stack(requirements: Path, cache: Path) -> venvs.Stack:
    return venvs.Stack("browser", requirements, cache, READY_MARKER, "a few seconds")


def browser_venv(requirements: Path = REQUIREMENTS, cache: Path = CACHE) -> Path:
    """The ``bin`` directory of the browser environment, built when missing (Playwright's
    wheel downloads nothing when installed: only ``playwright install`` would)."""
    return _stack(requirements, cache).build() / "bin"


_DRIVER = """\
import json, os, sys
from playwright.sync_api import sync_playwright

args = json.loads(sys.argv[1])
flags = ["--no-sandbox"] if os.geteuid() == 0 else []
with sync_playwright() as p:
    browser = p.chromium.launch(executable_path=args["chromium"], headless=True, args=flags)
    context = browser.new_context(viewport={"width": 1280, "height": 900}, base_url=args["url"])
    page = context.new_page()
    page.set_default_timeout(args["timeout_ms"])
    errors = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))

    def run(op, a):
        if op == "goto":
            page.goto(a["url"])
            return page.url
        if op == "fill":
            page.fill(a["selector"], a["text"])
        elif op == "type":
            page.locator(a["selector"]).press_sequentially(a["text"], delay=a.get("delay", 20))
        elif op == "click":
            page.click(a["selector"])
        elif op == "select":
            page.select_option(a["selector"], a["value"])
        elif op == "wait_text":
            page.locator(a["selector"]).filter(has_text=a["text"]).first.wait_for()
        elif op == "wait_url":
            page.wait_for_url(a["pattern"])
        elif op == "text":
            return page.inner_text(a["selector"])
        elif op == "texts":
            return page.locator(a["selector"]).all_inner_texts()
        elif op == "attrs":
            return [e.get_attribute(a["name"]) for e in page.locator(a["selector"]).all()]
        elif op == "screenshot":
            page.screenshot(path=a["path"], full_page=True)
        elif op == "cookies":
            return context.cookies()
        elif op == "url":
            return page.url
        elif op == "errors":
            return list(errors)
        else:
            raise ValueError(f"no such command {op!r}")
        return None

    print(json.dumps({"ok": True, "value": browser.version}), flush=True)
    for line in sys.stdin:
        command = json.loads(line)
        try:
            value = run(command["op"], command)
            print(json.dumps({"ok": True, "value": value}), flush=True)
        except Exception as exc:
            print(json.dumps({"ok": False, "error": f"{type(exc).__name__}: {exc}"}), flush=True)
    browser.close()
"""


class BrowserError(RuntimeError):
    """A browser command failed; the message names the command and Playwright's error."""


class Browser:
    """One headless chromium page, driven from the browser environment's Python."""

    def __init__(
        self, bin_dir: Path, url: str, *, chromium: str = CHROMIUM, timeout: float = 10.0
    ) -> None:
        self.bin_dir = bin_dir
        self.url = url
        self.chromium = chromium
        self.timeout = timeout
        self.version = ""
        self.process: subprocess.Popen[str] | None = None

    def start(self) -> Browser:
        args = {"chromium": self.chromium, "url": self.url, "timeout_ms": self.timeout * 1000}
        self.process = subprocess.Popen(
            [str(self.bin_dir / "python"), "-c", _DRIVER, json.dumps(args)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env={**os.environ, **NO_DOWNLOAD},
        )
        try:
            self.version = str(self._answer("launch"))
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        """Close its input (the driver then closes chromium), then stop it by PID."""
        if self.process is not None and self.process.stdin is not None:
            self.process.stdin.close()
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(5.0)
        terminate(self.process)

    def __enter__(self) -> Browser:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def _answer(self, what: str) -> Any:
        assert self.process is not None
        out: IO[str] | None = self.process.stdout
        line = out.readline() if out is not None else ""
        if not line:
            raise BrowserError(f"{what}: the browser driver exited ({self.process.poll()})")
        reply = json.loads(line)
        if not reply["ok"]:
            raise BrowserError(f"{what}: {reply['error']}")
        return reply["value"]

    def do(self, op: str, **args: Any) -> Any:
        """Run one command (``goto``, ``fill``, ``type``, ``click``, ``select``,
        ``wait_text``, ``wait_url``, ``text``, ``texts``, ``attrs``, ``screenshot``,
        ``cookies``, ``url``, ``errors``) and return its value."""
        assert self.process is not None and self.process.stdin is not None
        self.process.stdin.write(json.dumps({"op": op, **args}) + "\n")
        self.process.stdin.flush()
        return self._answer(f"{op} {args}")
