"""The agent keeps no library resident that it does not use.

An agent without ``--docker-socket`` never imports the Docker plugin, whose Docker API client
(httpx) brings Rich, Click and Pygments with it (httpx's command line): about 6 MB resident
for nothing. Checked in a fresh process, so that what this test process imported does not
count.
"""

from __future__ import annotations

import subprocess
import sys

HEAVY = ("httpx", "httpcore", "rich", "click", "pygments", "romana.integrations.docker.plugin")

IMPORTS = """
import sys
import romana.agent.main
print(" ".join(sorted(sys.modules)))
"""


def test_an_agent_without_docker_imports_neither_the_plugin_nor_its_http_client() -> None:
    done = subprocess.run(
        [sys.executable, "-c", IMPORTS], capture_output=True, text=True, check=True, timeout=60
    )
    loaded = set(done.stdout.split())
    assert "romana.agent.main" in loaded
    assert not {m for m in loaded if m in HEAVY or m.split(".")[0] in HEAVY}
