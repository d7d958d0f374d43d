"""Benchmark `azura analyze` as a pipeline step on five failed tasks with large logs, beside a full download.

    python scripts/bench_pipeline.py [--size-mb 100] [--tasks 5] [--failed-tests 3000] [--red-builds 3]

Starts the Azure DevOps emulator on 127.0.0.1, runs `python -m azura analyze` with an agent's environment,
and prints its wall time and the log bytes it downloaded; then downloads the same logs whole with the SDK
(what a tool without tail-first reading does) and prints the same figures. Targets: under 5 s, and under a
tenth of the bytes of the full download. Exits 1 when a target is missed.

The build also published test runs with `--failed-tests` failures (each shard its own run), names the failing
line of a test file at its commit, and follows a green build and `--red-builds` red ones, each with commits
that touched that file: every lookup beyond the logs runs at its worst. Their requests are counted by lookup
and held against the stated bound (EXTRA_REQUEST_BOUND); more is a missed target too.
"""

import argparse
import os
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.emulators.ado import AdoEmulator, case_result, commit  # noqa: E402  (needs the repository root on sys.path)
from tests.emulators.ado_scenarios import _add_large_failed_tasks, build_history  # noqa: E402

TOKEN = "benchT0ken"
TARGET_SECONDS = 5.0
TARGET_BYTE_SHARE = 0.1
# Requests the Test Results, source-line and commit-file lookups may add to a run (README, "Requests per run"):
# the Test Results API 1 + MAX_RUNS + MAX_PAGES = 11, MAX_WINDOWS = 3 source files, the files of
# MAX_COMMIT_READS = 5 commits, the resource-area lookups of their two clients, and 1 more list of changes
# for the history (the commits since the first failed build).
EXTRA_REQUEST_BOUND = 11 + 3 + 5 + 2 + 1
OFF = ("--no-test-results", "--no-source-lines")
TEST_FILE = "tests/Widgets.Tests/Orders/TaxTests.cs"


def parse_args(argv):
    """Return the parsed command line."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size-mb", type=float, default=100, help="size of each failed task's log (default 100)")
    parser.add_argument("--tasks", type=int, default=5, help="number of failed tasks (default 5)")
    parser.add_argument("--failed-tests", type=int, default=3000,
                        help="failed tests published by the shards' test runs, all together (default 3000)")
    parser.add_argument("--red-builds", type=int, default=3,
                        help="red builds between the last green one and the analysed one (default 3)")
    return parser.parse_args(argv)


def add_published_tests(emu, scenario, failed_tests):
    """Give each failed shard a test run with its share of `failed_tests`, framed at a line of TEST_FILE."""
    build = emu.build(scenario.build_id)
    per_shard = max(1, failed_tests // len(scenario.failed))
    for index, step in enumerate(scenario.failed, start=1):
        results = [case_result(f"Widgets.Tests.Orders.TaxTests.Total_{index}_{n}",
                               message=f"Expected 32.54\nActual {n}",
                               stack_trace=f"   at Widgets.Tests.Orders.TaxTests.Total_{index}_{n}() in "
                                           f"/home/vsts/work/1/s/{TEST_FILE}:line {10 + index}")
                   for n in range(per_shard)]
        emu.add_test_run(build.id, f"VSTest shard {index}", results,
                         job=("Test", step.job.replace(" ", "_"), "__default", 1))
    emu.add_file(build.repository, build.source_version, TEST_FILE, "\n".join(f"// {n}" for n in range(1, 200)))


def add_red_streak(emu, red_builds):
    """Add a green build and `red_builds` red ones (the analysed build comes next); return their commits."""
    history = build_history(emu, ("green",) + ("red",) * red_builds, commits_per_build=2)
    return [change for item in history.builds[1:] for change in item.commits]


def touching_the_test_file(emu, scenario, commits):
    """Give the analysed build a commit, and make it and `commits` touch TEST_FILE."""
    build = emu.build(scenario.build_id)
    build.changes = [commit(f"{scenario.build_id:04d}" + "e" * 36, "Round tax half-up", "Ana Lopez")]
    for change in list(commits) + build.changes:
        emu.set_commit_changes(build.repository, change["id"], [(TEST_FILE, "edit"), ("README.md", "edit")])


def extra_requests(with_lookups, without_lookups):
    """Return the requests the lookups added, by route: a run with them less a run without them.

    The history's second list of changes is in both runs; it counts as added too (history asked for one before).
    """
    added = with_lookups - without_lookups
    added["changes_between_builds (history)"] = with_lookups["changes_between_builds"] + \
        with_lookups["build_changes"] - 1
    return +added


def agent_environment(emu, scenario, temp_dir):
    """Return the environment an agent gives a script step of this build."""
    return {
        "PATH": os.environ.get("PATH", ""), "PYTHONPATH": str(ROOT), "HOME": temp_dir, "TF_BUILD": "True",
        "SYSTEM_COLLECTIONURI": emu.org_url + "/", "SYSTEM_TEAMPROJECT": scenario.project,
        "BUILD_BUILDID": str(scenario.build_id), "SYSTEM_ACCESSTOKEN": TOKEN, "AGENT_TEMPDIRECTORY": temp_dir,
        "SYSTEM_TASKINSTANCEID": str(uuid.uuid4()), "BUILD_REPOSITORY_PROVIDER": "TfsGit",
    }


def run_azura(emu, scenario, temp_dir, *args):
    """Return (seconds, log bytes served, exit code, requests by route) of one `azura analyze` pipeline step.

    Each run gets a fresh SDK cache, as a fresh agent does.
    """
    emu.clear_requests()
    env = agent_environment(emu, scenario, temp_dir)
    env["AZURE_DEVOPS_CACHE_DIR"] = tempfile.mkdtemp(prefix="sdk-cache-", dir=temp_dir)
    started = time.monotonic()
    completed = subprocess.run([sys.executable, "-m", "azura", "analyze", *args], capture_output=True, text=True,
                               env=env, timeout=300, cwd=temp_dir)
    seconds = time.monotonic() - started
    if completed.returncode != 0 or "##vso[task.uploadsummary]" not in completed.stdout:
        sys.stderr.write(completed.stdout + completed.stderr)
    routes = Counter(request.route for request in emu.requests())
    return seconds, emu.bytes_sent(route="build_log"), completed.returncode, routes


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
            streak = add_red_streak(emu, args.red_builds)
            scenario = _add_large_failed_tasks(emu, args.tasks, args.size_mb, "bench")
            add_published_tests(emu, scenario, args.failed_tests)
            touching_the_test_file(emu, scenario, streak)
            azura_seconds, azura_bytes, exit_code, routes = run_azura(emu, scenario, temp_dir)
            without_seconds, *_, routes_without = run_azura(emu, scenario, temp_dir, *OFF)
            full_seconds, full_bytes = full_download(emu, scenario)
    share = azura_bytes / full_bytes if full_bytes else float("inf")
    print(f"{args.tasks} failed tasks, logs of {args.size_mb:g} MB each")
    print(f"azura analyze (pipeline step): {azura_seconds:6.2f} s  {azura_bytes / 2**20:9.2f} MiB of logs  "
          f"(exit {exit_code})")
    print(f"full download (SDK, whole logs): {full_seconds:6.2f} s  {full_bytes / 2**20:9.2f} MiB of logs")
    print(f"bytes: {share:.2%} of the full download (target < {TARGET_BYTE_SHARE:.0%}); "
          f"time: {azura_seconds:.2f} s (target < {TARGET_SECONDS:g} s)")
    extra = extra_requests(routes, routes_without)
    total = sum(extra.values())
    print(f"with the test-result, source-line and commit-file lookups: {sum(routes.values())} requests, "
          f"{azura_seconds:.2f} s; with {' '.join(OFF)}: {sum(routes_without.values())} requests, "
          f"{without_seconds:.2f} s")
    print("added by them: " + ", ".join(f"{route} {count}" for route, count in sorted(extra.items())) +
          f"; {total} in all (bound {EXTRA_REQUEST_BOUND})")
    met = exit_code == 0 and azura_seconds < TARGET_SECONDS and share < TARGET_BYTE_SHARE \
        and total <= EXTRA_REQUEST_BOUND
    print("targets met" if met else "TARGET MISSED")
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())
