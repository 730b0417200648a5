"""`python -m simulator serve`: the scenarios' emulated AWS on a loopback port, for the real AWS CLI.

What runs is what a scenario's Harness sets up: the synthesized stack deployed (state machines, the real
Lambda handlers run in this process, tables, topics, parameters) and the simulated production seeded. An HTTP
endpoint (`EmbeddedAws.serve_http`) lets `aws --endpoint-url ...` start any runbook, read its history and look
at ECS; the handlers' own boto3 clients keep reaching the same emulated backends in-process.

Time while a human drives (`LiveClock`): it runs at wall-clock speed from `--start` (default: now), and every
Wait state or Retry back-off jumps it forward at once, as in the scenarios, so a restart-agent run that waits
for its rollout ends in seconds. The simulated production moves on after each jump and once a wall-clock
minute: rollouts complete and a new utilization sample is published.
"""

from __future__ import annotations

import json
import logging
import signal
import socket
import sys
import threading
import time
from collections.abc import Callable
from contextlib import ExitStack
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TextIO

from simulator.emulator import VirtualClock
from simulator.harness import Harness
from simulator.synthesized import ACCOUNT_ID, REGION
from simulator.world import ServiceProfile

DEFAULT_PORT = 5050
LAMBDA_LOG_PATH = Path("simulation-output/serve-lambda-logs.jsonl")
CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": REGION}
WORLD_TICK_SECONDS = 60.0
LOG = logging.getLogger(__name__)


class LiveClock(VirtualClock):
    """Wall-clock time since `start`, plus every jump made so far: idle time passes, Waits cost none."""

    def __init__(self, start: datetime | None = None) -> None:
        super().__init__(start or datetime.now(UTC))
        self._origin, self._started = self._now, time.monotonic()
        self._skipped = timedelta()

    def _current(self) -> datetime:  # the caller holds the lock
        return self._origin + timedelta(seconds=time.monotonic() - self._started) + self._skipped

    def now(self) -> datetime:
        with self._lock:
            return self._current()

    def advance(self, seconds: float) -> datetime:
        if seconds < 0:
            raise ValueError(f"cannot move a LiveClock backwards ({seconds} s)")
        with self._lock:
            self._skipped += timedelta(seconds=seconds)
            now, listeners = self._current(), list(self._listeners)
        if seconds > 0:
            for listener in listeners:
                listener(seconds)
        return now

    def advance_to(self, instant: datetime) -> datetime:
        if instant.tzinfo is None:
            raise ValueError("advance_to needs a timezone-aware datetime")
        return self.advance(max(0.0, (instant.astimezone(UTC) - self.now()).total_seconds()))


def serve(
    port: int = DEFAULT_PORT,
    start: datetime | None = None,
    profiles: dict[str, ServiceProfile] | None = None,
    verbose: bool = False,
    console: TextIO | None = None,
) -> int:
    """Serve until SIGINT (Ctrl-C) or SIGTERM; returns the exit status."""
    console = console or sys.stdout  # the Harness sends stdout to the handler log (Lambda's CloudWatch Logs)
    logging.getLogger("moto").setLevel(logging.CRITICAL)
    logging.getLogger("werkzeug").setLevel(logging.INFO if verbose else logging.WARNING)  # one line per request
    if port and not _port_free(port):  # before the synthesis, which takes a while
        print(f"Cannot listen on 127.0.0.1:{port}: it is in use (try --port 0)", file=console, flush=True)
        return 1
    print("Synthesizing the stack and deploying it into the emulator...", file=console, flush=True)
    LAMBDA_LOG_PATH.parent.mkdir(parents=True, exist_ok=True)
    try:
        with ExitStack() as running:
            lambda_logs = running.enter_context(LAMBDA_LOG_PATH.open("w"))
            harness = running.enter_context(Harness(profiles, lambda_logs, clock=LiveClock(start)))
            running.callback(_stop_executions, harness)  # once the endpoint is closed, before AWS stops (LIFO)
            endpoint = running.enter_context(harness.aws.serve_http("127.0.0.1", port))
            stop = threading.Event()  # from now on Ctrl-C or SIGTERM stops serving, then tears down in order
            for signum in (signal.SIGINT, signal.SIGTERM):
                signal.signal(signum, lambda *_: stop.set())
            print(_banner(harness, endpoint), file=console, flush=True)
            _run_world(harness, stop)
    except KeyboardInterrupt:  # Ctrl-C while starting
        print("Interrupted.", file=console, flush=True)
        return 130
    print("Stopped.", file=console, flush=True)
    return 0


def _port_free(port: int) -> bool:
    try:
        socket.create_server(("127.0.0.1", port)).close()
    except OSError:
        return False
    return True


def _run_world(harness: Harness, stop: threading.Event) -> None:
    """Until stopped: once a wall-clock minute the simulated production moves on (as after a Wait)."""
    while not stop.wait(WORLD_TICK_SECONDS):
        try:
            harness.world.advance(WORLD_TICK_SECONDS)
        except Exception:  # the server keeps serving; the next tick tries again
            LOG.exception("the simulated production could not move on")


def _stop_executions(harness: Harness) -> None:
    """Executions still running (started from the CLI) are stopped while AWS is still emulated."""
    sfn = harness.aws.client("stepfunctions")
    for arn in harness.stack.state_machines.values():
        for execution in sfn.list_executions(stateMachineArn=arn, statusFilter="RUNNING")["executions"]:
            sfn.stop_execution(executionArn=execution["executionArn"], error="Emulator.Stopped")


def _banner(harness: Harness, endpoint: str) -> str:
    settings, stack = harness.settings, harness.stack
    aws = f"aws --endpoint-url {endpoint}"
    restart = harness.state_machine("restart-agent")
    services = " ".join(settings["serviceNamePrefix"] + agent for agent in settings["agents"])
    inbox = f"https://sqs.{REGION}.amazonaws.com/{ACCOUNT_ID}/inbox-l1"
    machines = "\n".join(f"  {name:44} {arn}" for name, arn in sorted(stack.state_machines.items()))
    example_input = json.dumps({"service": "supervisor", "reason": "demo"}, separators=(",", ":"))
    return f"""
Emulated AWS (account {ACCOUNT_ID}, {REGION}) serving at {endpoint}  - Ctrl-C to stop.

Credentials (dummy; nothing leaves this machine):
  export {" ".join(f"{name}={value}" for name, value in CREDENTIALS.items())}
  export AWS_ENDPOINT_URL={endpoint}   # optional: then plain `aws ...` reaches the emulator

State machines:
{machines}

Try:
  {aws} stepfunctions start-execution --state-machine-arn {restart} --input '{example_input}'
  {aws} stepfunctions describe-execution --execution-arn <executionArn>
  {aws} stepfunctions get-execution-history --execution-arn <executionArn>
  {aws} ecs describe-services --cluster {settings["clusterName"]} --services {services}
  {aws} sqs receive-message --queue-url {inbox}   # notifications: inbox-l1 .. inbox-l4
  {aws} dynamodb scan --table-name {stack.state_table}   # audit records and leases

Virtual time: {harness.clock.now():%Y-%m-%d %H:%M:%S} UTC now; it runs with the wall clock and Waits jump it.
Handler logs: {LAMBDA_LOG_PATH}
"""


def parse_start(text: str) -> datetime:
    """`2026-11-27T09:00:00Z` (any ISO 8601 instant; a naive one is UTC)."""
    instant = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return instant if instant.tzinfo else instant.replace(tzinfo=UTC)


def add_arguments(parser: Any, profiles_of: Callable[[str], dict[str, ServiceProfile]]) -> None:
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"default {DEFAULT_PORT}; 0 picks a free one")
    parser.add_argument("--start", type=parse_start, help="virtual time at start, ISO 8601 (default: now)")
    parser.add_argument(
        "--world",
        metavar="SCENARIO",
        type=profiles_of,
        help="seed the simulated production with this scenario's service profiles (default: all healthy)",
    )
    parser.add_argument("--verbose", action="store_true", help="log every HTTP request")
