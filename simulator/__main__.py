"""`python -m simulator run [SCENARIO...]`: every scenario (or the named ones) in the embedded emulator."""

from __future__ import annotations

import argparse
import sys

from simulator.runner import run
from simulator.scenarios import SCENARIOS


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m simulator", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    run_parser = commands.add_parser("run", help="run scenarios and write simulation-report.json")
    run_parser.add_argument(
        "scenarios", nargs="*", metavar="SCENARIO", help=f"default: all ({', '.join(s.name for s in SCENARIOS)})"
    )
    commands.add_parser("list", help="list the scenarios")
    args = parser.parse_args(argv)
    if args.command == "list":
        for scenario in SCENARIOS:
            print(f"{scenario.name:32} {scenario.summary}")
        return 0
    return run(args.scenarios)


if __name__ == "__main__":
    sys.exit(main())
