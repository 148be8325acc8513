"""moto's EC2 server and ``romana-aws`` for tests: their virtual environment and processes.

boto3 is the optional extra ``romana[aws]`` and moto is for tests alone, so both run from a
virtual environment of their own: :func:`aws_venv` builds it from ``requirements/aws.txt`` at
``.venv-aws/<hash of that file>/`` (about half a minute, once) and reuses it while the file is
unchanged; romana is installed into it editable and without dependencies, so its
``romana-aws`` console script runs the tree's current code.

:class:`MotoServer` serves moto's EC2 API (``moto_server``) on a free loopback port, started
and stopped by PID; the tests' own EC2 calls are made in that environment's Python
(:meth:`MotoServer.calls`), since the tests' Python has no boto3; :meth:`MotoServer.reset`
empties the account between tests.

Invariants: nothing here imports boto3 or moto; the environment is complete only once its
marker file exists, so an interrupted build is redone, not reused.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import httpx

from romana.lab import etcd, venvs
from romana.lab.romanad import terminate, wait_answering

ROOT = venvs.ROOT
REQUIREMENTS = ROOT / "requirements" / "aws.txt"
CACHE = ROOT / ".venv-aws"
READY_MARKER = "romana-aws-ready"
REGION = "us-east-1"
CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": REGION,
}
"""What boto3's standard chain finds in a test: moto accepts any key."""


def _stack(requirements: Path, cache: Path) -> venvs.Stack:
    return venvs.Stack(
        "aws",
        requirements,
        cache,
        READY_MARKER,
        "about half a minute",
        lambda where: not (where / "bin" / "romana-aws").exists(),
    )


def aws_venv(requirements: Path = REQUIREMENTS, cache: Path = CACHE) -> Path:
    """The ``bin`` directory of the AWS environment for ``requirements``, built when missing."""
    return _stack(requirements, cache).build() / "bin"


def venv_ready(requirements: Path = REQUIREMENTS, cache: Path = CACHE) -> bool:
    return _stack(requirements, cache).ready()


_CALLS = """\
import json, sys
import boto3
args = json.load(sys.stdin)
ec2 = boto3.client("ec2", endpoint_url=args["url"], region_name=args["region"])
answers = []
for operation, params in args["calls"]:
    answer = getattr(ec2, operation)(**params)
    answer.pop("ResponseMetadata", None)
    answers.append(answer)
json.dump(answers, sys.stdout, default=str)
"""


class MotoServer:
    """``moto_server`` on a loopback port; in-memory, so every start is an empty account."""

    def __init__(self, workdir: Path, bin_dir: Path) -> None:
        self.workdir = workdir
        self.bin_dir = bin_dir
        self.port = etcd.free_ports(1)[0]
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = workdir / "moto.log"
        self.env = {**os.environ, **CREDENTIALS}
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 30.0) -> MotoServer:
        self.workdir.mkdir(parents=True, exist_ok=True)
        argv = [str(self.bin_dir / "moto_server"), "-H", "127.0.0.1", "-p", str(self.port)]
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                argv, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, env=self.env
            )
        try:
            with httpx.Client(timeout=1.0, trust_env=False) as http:
                wait_answering(
                    self.process,
                    lambda: http.get(f"{self.url}/moto-api/").status_code,
                    what="moto_server",
                    timeout=timeout,
                    period=0.1,
                    log_tail=self.log_tail,
                )
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        """SIGTERM by PID; SIGKILL after a grace period."""
        terminate(self.process)

    def __enter__(self) -> MotoServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def call(self, operation: str, **params: Any) -> dict[str, Any]:
        """One boto3 EC2 call against this server (see :meth:`calls`)."""
        return self.calls([(operation, params)])[0]

    def calls(self, calls: Sequence[tuple[str, Mapping[str, Any]]]) -> list[dict[str, Any]]:
        """boto3 EC2 calls against this server, in order, made by one run of the
        environment's Python; each answer as JSON (dates as strings). A refused call raises
        CalledProcessError with boto3's message in ``stderr``."""
        request = {"url": self.url, "region": REGION, "calls": [[o, dict(p)] for o, p in calls]}
        done = subprocess.run(
            [str(self.bin_dir / "python"), "-c", _CALLS],
            input=json.dumps(request).encode(),
            capture_output=True,
            check=False,
            env=self.env,
            timeout=60,
        )
        if done.returncode != 0:
            raise subprocess.CalledProcessError(
                done.returncode, [o for o, _ in calls], done.stdout, done.stderr
            )
        answers: list[dict[str, Any]] = json.loads(done.stdout)
        return answers

    def reset(self) -> None:
        """Forget every resource: an empty account again."""
        with httpx.Client(timeout=5.0, trust_env=False) as http:
            http.post(f"{self.url}/moto-api/reset").raise_for_status()

    def log_tail(self, lines: int = 40) -> str:
        if not self.log_path.exists():
            return ""
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
