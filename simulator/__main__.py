"""`python -m simulator run [--jobs N] [SCENARIO...]`: every scenario (or the named ones) in the embedded emulator,
in N worker processes (default: one per CPU);
`python -m simulator serve [--port N]`: the emulated AWS on a loopback port, for the AWS CLI."""

from __future__ import annotations

import argparse
import os
import sys

from simulator import serve
from simulator.runner import run
from simulator.scenarios import SCENARIOS, SCENARIOS_BY_NAME
from simulator.world import ServiceProfile


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m simulator", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    run_parser = commands.add_parser("run", help="run scenarios and write simulation-report.json")
    run_parser.add_argument(
        "scenarios", nargs="*", metavar="SCENARIO", help=f"default: all ({', '.join(s.name for s in SCENARIOS)})"
    )
    run_parser.add_argument(
        "--jobs",
        "-j",
        type=_positive,
        default=os.cpu_count() or 1,
        help="worker processes running scenarios side by side (default: the CPU count, %(default)s)",
    )
    commands.add_parser("list", help="list the scenarios")
    serve_parser = commands.add_parser(
        "serve", help="serve the emulated AWS (stack deployed, production seeded) to the AWS CLI until Ctrl-C"
    )
    serve.add_arguments(serve_parser, _scenario_profiles)
    args = parser.parse_args(argv)
    if args.command == "list":
        for scenario in SCENARIOS:
            print(f"{scenario.name:32} {scenario.summary}")
        return 0
    if args.command == "serve":
        return serve.serve(args.port, args.start, args.world, args.verbose)
    return run(args.scenarios, jobs=args.jobs)


def _positive(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"expected a positive number of processes, got {text!r}")
    return int(text)


def _scenario_profiles(name: str) -> dict[str, ServiceProfile]:
    if name not in SCENARIOS_BY_NAME:
        raise argparse.ArgumentTypeError(f"unknown scenario {name!r} (see `python -m simulator list`)")
    return SCENARIOS_BY_NAME[name].profiles


if __name__ == "__main__":
    sys.exit(main())
