"""Start the Azure DevOps emulator by hand with one or more scenarios; serve until Ctrl-C.

    python scripts/emulator.py --scenario multi_stage_two_failed_jobs [--port 8081]
    python scripts/emulator.py --scenario large_log --size-mb 50
    python scripts/emulator.py --scenario build_history --results green,green,red,red
    python scripts/emulator.py --scenario pr_build --fault '{"method": "POST", "route": "pr_threads", "status": 429, "retry_after": 2}'

Faults can be changed while it runs: POST the same JSON to ``/_emulator/faults`` (DELETE clears them);
``GET /_emulator/requests`` lists the requests served.
"""

import argparse
import dataclasses
import inspect
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.emulators.ado import AdoEmulator  # noqa: E402  (needs the repository root on sys.path)
from tests.emulators.ado_scenarios import SCENARIOS  # noqa: E402


def parse_args(argv):
    """Return the parsed command line."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--scenario", action="append", required=True, choices=sorted(SCENARIOS),
                        help="scenario to load (repeatable)")
    parser.add_argument("--port", type=int, default=0, help="port on 127.0.0.1 (default: any free port)")
    parser.add_argument("--org", default="contoso", help="organisation name in the URL")
    parser.add_argument("--token", default="t0ken", help="the token the emulator accepts")
    parser.add_argument("--size-mb", type=float, help="log size for large_log / five_failed_tasks_with_large_logs")
    parser.add_argument("--results", help="comma-separated results for build_history, e.g. green,green,red,red")
    parser.add_argument("--fault", action="append", default=[], type=json.loads,
                        help="a fault as JSON with AdoEmulator.fault() arguments (repeatable)")
    return parser.parse_args(argv)


def scenario_arguments(builder, args):
    """Return the keyword arguments of the builder that the command line sets."""
    accepted = inspect.signature(builder).parameters
    chosen = {"size_mb": args.size_mb, "results": args.results.split(",") if args.results else None}
    return {name: value for name, value in chosen.items() if value is not None and name in accepted}


def main(argv=None):
    """Serve the chosen scenarios until interrupted."""
    args = parse_args(argv)
    emulator = AdoEmulator(token=args.token, org=args.org, port=args.port)
    for spec in args.fault:
        emulator.fault(spec.pop("method", "*"), spec.pop("route", "*"), **spec)
    with emulator:
        print(f"organisation URL : {emulator.org_url}")
        print(f"server-style URL : {emulator.server_url}")
        print(f"token            : {args.token}   (HTTP Basic with an empty user, or Bearer)")
        for name in args.scenario:
            builder = SCENARIOS[name]
            loaded = builder(emulator, **scenario_arguments(builder, args))
            print(f"\n{name}:")
            print(json.dumps(dataclasses.asdict(loaded), indent=2, default=str))
        print(f"\nfaults           : POST/DELETE {emulator.host_url}/_emulator/faults ; "
              f"requests: GET {emulator.host_url}/_emulator/requests")
        print("serving; Ctrl-C stops", flush=True)
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            print("stopped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
