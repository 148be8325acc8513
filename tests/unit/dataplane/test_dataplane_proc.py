"""The subprocess gateway and the bounded retry, with real short-lived processes."""

from __future__ import annotations

import pytest

from romana.core.errors import InvalidInput, NotFound, Unavailable
from romana.dataplane import proc


def test_run_feeds_input_and_returns_the_output() -> None:
    done = proc.run(["cat"], "hello\n")
    assert done == proc.Completed(("cat",), 0, "hello\n", "")


def test_a_failure_carries_argv_rc_output_and_input() -> None:
    script = "echo out; echo err >&2; exit 3"
    with pytest.raises(proc.CommandFailed) as exc:
        proc.run(["sh", "-c", script], "the input")
    failed = exc.value
    assert (failed.argv, failed.rc, failed.stdout, failed.stderr, failed.input) == (
        ("sh", "-c", script),
        3,
        "out\n",
        "err\n",
        "the input",
    )
    assert not failed.temporary
    assert str(failed) == f"sh -c {script} exited with 3: err"


def test_check_false_returns_a_non_zero_exit() -> None:
    assert proc.run(["sh", "-c", "exit 1"], check=False).rc == 1


def test_env_adds_to_the_environment() -> None:
    assert proc.run(["sh", "-c", "echo $ROMANA_X"], env={"ROMANA_X": "y"}).stdout == "y\n"


def test_a_missing_program_is_rc_127() -> None:
    with pytest.raises(proc.CommandFailed) as exc:
        proc.run(["romana-no-such-program"])
    assert exc.value.rc == 127 and "not installed" in str(exc.value)


def test_a_timeout_is_temporary_and_has_no_exit_code() -> None:
    with pytest.raises(proc.CommandFailed) as exc:
        proc.run(["sleep", "5"], timeout=0.1)
    assert exc.value.rc is None and exc.value.temporary
    assert "timed out (after 0.1 s)" in str(exc.value)


def test_in_netns_prefixes_nsenter() -> None:
    assert proc.in_netns(["nft", "-f", "-"], None) == ("nft", "-f", "-")
    assert proc.in_netns(["nft"], "/run/netns/x") == ("nsenter", "--net=/run/netns/x", "--", "nft")


def test_retry_repeats_temporary_errors_with_growing_jittered_delays() -> None:
    calls: list[int] = []
    slept: list[float] = []

    def flaky() -> str:
        calls.append(1)
        if len(calls) < 3:
            raise Unavailable("busy")
        return "done"

    assert proc.retry(flaky, base_delay=0.1, sleep=slept.append, jitter=lambda: 0.5) == "done"
    assert len(calls) == 3
    assert slept == pytest.approx([0.1, 0.2])


def test_retry_gives_up_after_the_budget_and_on_permanent_errors() -> None:
    slept: list[float] = []

    def busy() -> None:
        raise Unavailable("still busy")

    with pytest.raises(Unavailable):
        proc.retry(busy, attempts=3, sleep=slept.append)
    assert len(slept) == 2

    def missing() -> None:
        raise NotFound("gone")

    with pytest.raises(NotFound):
        proc.retry(missing, sleep=slept.append)
    assert len(slept) == 2
    with pytest.raises(InvalidInput, match="attempts: must be >= 1"):
        proc.retry(missing, attempts=0)
