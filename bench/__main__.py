"""`python -m bench NAME`: run one benchmark, print its table and write its JSON."""

from __future__ import annotations

import argparse
import importlib
import sys

SUITES = {
    "api": "bench.api",
    "controllers": "bench.controllers",
    "instructions": "bench.instructions",
    "storage": "bench.storage",
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("suite", choices=sorted(SUITES), help="which benchmark to run")
    parser.add_argument(
        "--out", default=None, help="JSON output path (default bench/results/NAME.json)"
    )
    parser.add_argument(
        "--quick", action="store_true", help="fewer events: a smoke run, not figures"
    )
    args = parser.parse_args(argv)
    module = importlib.import_module(SUITES[args.suite])
    return module.main(out=args.out, quick=args.quick)


if __name__ == "__main__":
    sys.exit(main())
