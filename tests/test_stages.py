"""scripts/stages.sh, which scripts/test.sh and scripts/ci_task.sh run their stages with: every stage runs,
each ends at its first failing command, and the summary names what failed."""
import shutil
import subprocess

import pytest

from tests.scripts import REPO_ROOT

BASH = shutil.which("bash")
pytestmark = pytest.mark.skipif(BASH is None, reason="bash is not installed")


def run_stages(script: str) -> subprocess.CompletedProcess:
    return subprocess.run([BASH, "-c", f"set -uo pipefail; source scripts/stages.sh; {script}; finish_stages"],
                          cwd=REPO_ROOT, capture_output=True, text=True, timeout=60)


def test_a_failed_stage_stops_at_its_failing_command_and_the_next_stage_still_runs():
    run = run_stages('broken() { false; echo "after the failure"; }; stage "build" broken; stage "pytest" echo ran')

    assert run.returncode == 1
    assert "after the failure" not in run.stdout and "\nran\n" in run.stdout
    assert "-- build: FAILED (exit 1) in " in run.stdout and "-- pytest: ok in " in run.stdout
    summary = run.stdout.split("== summary\n")[1]
    assert summary.splitlines()[0].startswith("FAILED") and summary.rstrip().endswith("1 stage(s) failed")


def test_stages_that_all_pass_end_with_exit_zero_and_a_summary():
    run = run_stages('stage "one" true; stage "two" true')

    assert run.returncode == 0
    assert [line.split()[0] for line in run.stdout.split("== summary\n")[1].splitlines()] == ["ok", "ok"]
