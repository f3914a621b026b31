"""``eco2 loadtest`` refuses bad input before it runs: one ``eco2: error:`` line, exit 2."""

from __future__ import annotations

from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from eco2.entrypoints.cli.loadtest import write_report
from eco2.entrypoints.cli.main import app
from tests.fakes.server import free_port


def loadtest(*args: str, report: Path) -> tuple[int, str]:
    # A short run against a port nothing listens on: without the checks, each case would run
    # (and fail every request) instead of stopping at once.
    base = ["loadtest", "--users", "1", "--duration", "0.1", "--think", "0"]
    result = CliRunner().invoke(app, [*base, "--report", str(report), *args])
    return result.exit_code, result.output


@pytest.mark.parametrize(
    "args",
    [
        ["--url", ":::"],
        ["--url", "notaurl"],
        ["--url", "ftp://127.0.0.1/"],
        ["--metrics-url", ":::"],
        ["--metrics-url", "worker=127.0.0.1:9101/metrics"],
        ["--find-max", "--levels", "0", "--stage", "0.1"],
        ["--find-max", "--levels", "5,-3", "--stage", "0.1"],
        ["--find-max", "--levels", "five", "--stage", "0.1"],
    ],
)
def test_bad_urls_and_levels_are_usage_errors(args: list[str], tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    code, out = loadtest("--url", url, *args, report=tmp_path / "r")
    assert code == 2, out
    assert "eco2: error:" in out and "Traceback" not in out
    assert not (tmp_path / "r" / "summary.json").exists()


def test_a_report_directory_that_cannot_be_written_is_refused_before_the_run(
    tmp_path: Path,
) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    for report in (Path("/proc/eco2-loadtest"), blocker / "out"):
        code, out = loadtest("--url", f"http://127.0.0.1:{free_port()}", report=report)
        assert code == 2, out
        assert "eco2: error: --report" in out and "VERDICT" not in out  # nothing ran


def test_a_report_that_cannot_be_written_after_the_run_fails_with_a_message(
    tmp_path: Path,
) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    with pytest.raises(typer.Exit) as exited:
        write_report(blocker / "out", {"timeline": []})
    assert exited.value.exit_code == 1
