"""The fuzz tests (tests/fuzz) with the full budget (issue 11): ``--examples`` generated inputs per
target (a full turn of the `form` and `pipeline` agents, two turns each, with the backend tables'
fingerprints compared; the schema loader), with hypothesis's statistics. CI runs the same tests with
60 and 150 examples.

    TOD_DATA_DIR=../shared/data python bench/fuzz.py --examples 10000 --out docs/runs/fuzz_10000.txt
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--examples", type=int, default=10000)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    env = {**os.environ, "TOD_FUZZ_EXAMPLES": str(args.examples)}
    command = [
        sys.executable,
        "-m",
        "pytest",
        "-q",
        "tests/fuzz",
        "--hypothesis-show-statistics",
        "-p",
        "no:cacheprovider",
    ]
    start = time.perf_counter()
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    minutes = (time.perf_counter() - start) / 60
    report = (
        f"$ TOD_FUZZ_EXAMPLES={args.examples} {' '.join(command[1:])}\n{done.stdout}{done.stderr}\n"
        f"exit {done.returncode}, {minutes:.1f} min\n"
    )
    print(report)
    if args.out:
        args.out.write_text(report)
    sys.exit(done.returncode)


if __name__ == "__main__":
    main()
