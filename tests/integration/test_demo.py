"""``make demo`` as the quick start runs it: every probe as expected, every cell explained.

The demo measures its reachability matrix with real TCP connections and asks ``romana
explain`` about every cell; it exits non-zero when any probe or answer disagrees.
"""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

from support import env

pytestmark = pytest.mark.root


def test_the_demo_measures_tenant_and_segment_isolation_and_explain_agrees() -> None:
    env.need_root()
    for binary in ("ip", "nft"):
        env.need_binary(binary)
    done = subprocess.run(
        [sys.executable, "-m", "romana.demo"],
        capture_output=True,
        text=True,
        timeout=180,
        env={"COLUMNS": "200", "PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "TERM": "dumb"},
        check=False,
    )
    out = done.stdout
    assert done.returncode == 0, out + done.stderr
    assert "isolation romana (segments isolated)" in out
    assert "romana explain agrees with 30 of 30 measured cells" in out
    assert "every probe as expected" in out
    assert "allocations left in romanad after DEL: 0" in out


def test_the_kept_demo_names_its_web_view_which_answers_from_the_control_namespace() -> None:
    env.need_root()
    for binary in ("ip", "nft"):
        env.need_binary(binary)
    run_env = {"COLUMNS": "300", "PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "TERM": "dumb"}
    done = subprocess.run(
        [sys.executable, "-m", "romana.demo", "--keep"],
        capture_output=True,
        text=True,
        timeout=180,
        env=run_env,
        check=False,
    )
    out = done.stdout
    down = re.search(r"--down (\S+)", out)
    try:
        assert done.returncode == 0, out + done.stderr
        view = re.search(r"The web view \(docs/ui.md\) is at (http\S+/ui),", out)
        ctl = re.search(r"ip netns exec (\S+) chromium", out)
        assert view and ctl, out
        fetch = (
            "import urllib.request, sys; "
            "r = urllib.request.urlopen(sys.argv[1] + '/login', timeout=10); "
            "print(r.status, r.headers['Content-Security-Policy']); print(r.read().decode())"
        )
        page = subprocess.run(
            ["ip", "netns", "exec", ctl[1], sys.executable, "-c", fetch, view[1]],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
        assert page.returncode == 0, page.stderr
        status, _, rest = page.stdout.partition(" ")
        assert status == "200" and "script-src 'self'" in rest
        assert 'name="password"' in rest
    finally:
        if down is not None:
            subprocess.run(
                [sys.executable, "-m", "romana.demo", "--down", down[1]],
                capture_output=True,
                timeout=120,
                env=run_env,
                check=False,
            )
