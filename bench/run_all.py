"""Run every benchmark in ``bench/`` one after another, then write ``docs/benchmarks.md``.

Each benchmark runs in its own process so one failing does not stop the others; the report
shows what was measured and names what was not.

    python -m bench.run_all [--only ipam,api]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time

from bench import report

BENCHMARKS = report.ORDER  # run in the order the report shows them


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", default="", help="comma-separated subset, e.g. ipam,api")
    args = parser.parse_args()
    chosen = [b for b in BENCHMARKS if not args.only or b in args.only.split(",")]
    failed = []
    for name in chosen:
        print(f"== bench.{name}", flush=True)
        started = time.monotonic()
        rc = subprocess.call([sys.executable, "-m", f"bench.{name}"])
        print(f"== bench.{name}: exit {rc} after {time.monotonic() - started:.0f} s", flush=True)
        if rc:
            failed.append(name)
    report.main()
    if failed:
        print("benchmarks that failed:", ", ".join(failed), file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
