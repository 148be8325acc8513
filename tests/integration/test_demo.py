"""``make demo`` as the quick start runs it: every probe as expected, every cell explained.

The demo measures its reachability matrix with real TCP connections and asks ``romana
explain`` about every cell; it exits non-zero when any probe or answer disagrees.
"""

from __future__ import annotations

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
