"""Benchmark `azura analyze` as a pipeline step on five failed tasks with large logs, beside a full download.

    python scripts/bench_pipeline.py [--size-mb 100] [--tasks 5]

Starts the Azure DevOps emulator on 127.0.0.1, runs `python -m azura analyze` with an agent's environment,
and prints its wall time and the log bytes it downloaded; then downloads the same logs whole with the SDK
(what a tool without tail-first reading does) and prints the same figures. Targets: under 5 s, and under a
tenth of the bytes of the full download. Exits 1 when a target is missed.
"""

import argparse
import os
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.emulators.ado import AdoEmulator  # noqa: E402  (needs the repository root on sys.path)
from tests.emulators.ado_scenarios import _add_large_failed_tasks  # noqa: E402

TOKEN = "benchT0ken"
TARGET_SECONDS = 5.0
TARGET_BYTE_SHARE = 0.1


def parse_args(argv):
    """Return the parsed command line."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size-mb", type=float, default=100, help="size of each failed task's log (default 100)")
    parser.add_argument("--tasks", type=int, default=5, help="number of failed tasks (default 5)")
    return parser.parse_args(argv)


def agent_environment(emu, scenario, temp_dir):
    """Return the environment an agent gives a script step of this build."""
    return {
        "PATH": os.environ.get("PATH", ""), "PYTHONPATH": str(ROOT), "HOME": temp_dir, "TF_BUILD": "True",
        "SYSTEM_COLLECTIONURI": emu.org_url + "/", "SYSTEM_TEAMPROJECT": scenario.project,
        "BUILD_BUILDID": str(scenario.build_id), "SYSTEM_ACCESSTOKEN": TOKEN, "AGENT_TEMPDIRECTORY": temp_dir,
        "SYSTEM_TASKINSTANCEID": str(uuid.uuid4()), "BUILD_REPOSITORY_PROVIDER": "TfsGit",
    }


def run_azura(emu, scenario, temp_dir):
    """Return (seconds, log bytes served, exit code) of one `azura analyze` pipeline step."""
    emu.clear_requests()
    started = time.monotonic()
    completed = subprocess.run([sys.executable, "-m", "azura", "analyze"], capture_output=True, text=True,
                               env=agent_environment(emu, scenario, temp_dir), timeout=300, cwd=temp_dir)
    seconds = time.monotonic() - started
    if completed.returncode != 0 or "##vso[task.uploadsummary]" not in completed.stdout:
        sys.stderr.write(completed.stdout + completed.stderr)
    return seconds, emu.bytes_sent(route="build_log"), completed.returncode


def full_download(emu, scenario):
    """Return (seconds, log bytes served) of downloading every failed task's log whole, one after the other."""
    from azure.devops.v7_1.build.build_client import BuildClient
    from msrest.authentication import BasicAuthentication

    emu.clear_requests()
    started = time.monotonic()
    client = BuildClient(emu.org_url, BasicAuthentication("", TOKEN))
    for step in scenario.failed:
        for _ in client.get_build_log(scenario.project, scenario.build_id, step.log_id):
            pass
    return time.monotonic() - started, emu.bytes_sent(route="build_log")


def main(argv=None):
    """Run both measurements, print the figures, and return 0 when both targets are met."""
    args = parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="azura-bench-") as temp_dir:
        os.environ["AZURE_DEVOPS_CACHE_DIR"] = os.path.join(temp_dir, "sdk-cache")
        with AdoEmulator(token=TOKEN) as emu:
            scenario = _add_large_failed_tasks(emu, args.tasks, args.size_mb, "bench")
            azura_seconds, azura_bytes, exit_code = run_azura(emu, scenario, temp_dir)
            full_seconds, full_bytes = full_download(emu, scenario)
    share = azura_bytes / full_bytes if full_bytes else float("inf")
    print(f"{args.tasks} failed tasks, logs of {args.size_mb:g} MB each")
    print(f"azura analyze (pipeline step): {azura_seconds:6.2f} s  {azura_bytes / 2**20:9.2f} MiB of logs  "
          f"(exit {exit_code})")
    print(f"full download (SDK, whole logs): {full_seconds:6.2f} s  {full_bytes / 2**20:9.2f} MiB of logs")
    print(f"bytes: {share:.2%} of the full download (target < {TARGET_BYTE_SHARE:.0%}); "
          f"time: {azura_seconds:.2f} s (target < {TARGET_SECONDS:g} s)")
    met = exit_code == 0 and azura_seconds < TARGET_SECONDS and share < TARGET_BYTE_SHARE
    print("targets met" if met else "TARGET MISSED")
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())
