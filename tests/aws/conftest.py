"""The AWS rig: moto's EC2 server, a real romanad, and ``romana-aws`` run as a process.

moto, boto3 and romana-aws run from the AWS environment (``romana.lab.aws``), built on first
use (about half a minute) and cached by the hash of ``requirements/aws.txt``; when it cannot be
built a test skips, or fails under ``CI=true``. moto and romanad are started once per module
and stopped by PID; moto's account is emptied before each test, which then builds its own VPC
(:class:`aws.vpcrig.Vpc`): a subnet, one route table, and one instance per host at its
address. romana-aws signs in as a ``service``-role user whose password it reads from
``ROMANA_AWS_PASSWORD``.
"""

from __future__ import annotations

import secrets
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from aws.vpcrig import USER, Publisher
from romana.client import Client
from romana.lab import aws as lab_aws
from romana.lab.romanad import Romanad
from support import env
from support import romanad as romanad_support


@pytest.fixture(scope="session")
def aws_bin() -> Path:
    try:
        return lab_aws.aws_venv()
    except (OSError, subprocess.CalledProcessError) as exc:
        env.need(False, f"the AWS environment (requirements/aws.txt) cannot be built: {exc}")
        raise


@pytest.fixture(scope="module")
def moto(aws_bin: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[lab_aws.MotoServer]:
    with lab_aws.MotoServer(tmp_path_factory.mktemp("moto"), aws_bin) as server:
        yield server


romanad = romanad_support.sqlite_fixture("aws-romanad")


admin = romanad_support.admin_fixture()


@pytest.fixture(scope="module")
def password(admin: Client) -> str:
    secret = secrets.token_urlsafe(18)
    admin.create_user(USER, secret, "service")
    return secret


@pytest.fixture
def publisher(
    aws_bin: Path,
    romanad: Romanad,
    moto: lab_aws.MotoServer,
    password: str,
    tmp_path: Path,
) -> Publisher:
    return Publisher(aws_bin, romanad, moto, password, tmp_path / "state")
