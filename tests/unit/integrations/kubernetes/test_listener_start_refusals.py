"""``romana-listener`` refuses settings it cannot use before it opens the store or calls the
API server: a ``--kube-api`` that is no http(s) URL, a token or etcd password file that
cannot be read, an unknown log level. Exit 2 and one line naming the flag, never a
traceback or a listener retrying a URL it can never reach. Its help teaches an operator."""

from __future__ import annotations

from pathlib import Path

import pytest

from romana.integrations.kubernetes import main


def _refused(capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    assert main.main(list(argv)) == 2
    err = capsys.readouterr().err.strip()
    assert "Traceback" not in err
    assert len(err.splitlines()) == 1, err
    return err


def test_a_kube_api_that_is_no_url_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    store = f"sqlite:///{tmp_path / 'state' / 'romana.db'}"
    err = _refused(capsys, "--kube-api", "k8s.example:6443", "--store", store)
    assert (
        err == "romana-listener: --kube-api: 'k8s.example:6443' must start with http:// or https://"
    )
    assert not (tmp_path / "state").exists()


@pytest.mark.parametrize("flag", ["--token-file", "--etcd-password-file"])
def test_an_unreadable_secret_file_is_refused_naming_the_flag(
    flag: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    store = f"sqlite:///{tmp_path / 'state' / 'romana.db'}"
    missing = tmp_path / "missing"
    err = _refused(capsys, "--kube-api", "http://127.0.0.1:9", "--store", store, flag, str(missing))
    assert err == f"romana-listener: {flag}: cannot read '{missing}': No such file or directory"
    assert not (tmp_path / "state").exists()


def test_an_unknown_log_level_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as done:
        main.main(["--kube-api", "http://127.0.0.1:9", "--store", "memory://", "--log-level", "x"])
    assert done.value.code == 2
    assert "argument --log-level: invalid choice: 'x'" in capsys.readouterr().err


def test_help_says_what_it_does_with_an_example_and_exit_codes() -> None:
    text = " ".join(main.parser().format_help().split())
    assert "Keep romana in step with a Kubernetes cluster" in text
    assert "example: romana-listener --kube-api https://" in text
    assert "exit codes: 0 after a stop" in text
