"""`python -m simulator serve` driven by the real AWS CLI (awscli from requirements-dev.txt), as a human would:
start the restart-agent runbook, follow the execution, read its history, look at ECS."""

from __future__ import annotations

import json
import os
import queue
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import suppress
from pathlib import Path
from typing import Any

import pytest

PROJECT_ROOT = Path(__file__).resolve().parents[2]
AWS_CLI = Path(sys.executable).parent / "aws"
START = "2026-11-27T09:00:00Z"  # a Friday morning, outside every maintenance window
STARTUP_TIMEOUT_S = 300  # synthesizing the CDK app takes ~30 s on an idle laptop, much more on a busy CI runner
EXECUTION_TIMEOUT_S = 120
CLUSTER = "acso-production-cluster"
SERVICE = "acso-production-supervisor"


class Server:
    def __init__(self, process: subprocess.Popen[str], endpoint: str, banner: str, workdir: Path) -> None:
        self.process, self.endpoint, self.banner, self.workdir = process, endpoint, banner, workdir

    def aws(self, *args: str) -> Any:
        """The real `aws` executable against the emulator, with dummy credentials and no user config."""
        environment = {
            "PATH": os.environ.get("PATH", ""),
            "HOME": str(self.workdir),
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_CONFIG_FILE": str(self.workdir / "no-aws-config"),
            "AWS_SHARED_CREDENTIALS_FILE": str(self.workdir / "no-aws-credentials"),
        }
        command = [str(AWS_CLI), "--endpoint-url", self.endpoint, "--region", "eu-west-1", "--output", "json", *args]
        done = subprocess.run(command, env=environment, capture_output=True, text=True, timeout=60, check=False)
        assert done.returncode == 0, f"{' '.join(args)} failed ({done.returncode}):\n{done.stderr}"
        return json.loads(done.stdout) if done.stdout.strip() else None


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    if not AWS_CLI.exists():
        pytest.fail(f"{AWS_CLI} not found: install requirements-dev.txt (awscli) into this environment")
    workdir = tmp_path_factory.mktemp("serve")
    environment = os.environ | {
        "PYTHONPATH": str(PROJECT_ROOT),
        "PYTHONUNBUFFERED": "1",
        "JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION": "20",
    }
    stderr = (workdir / "serve.stderr").open("w")
    process = subprocess.Popen(
        [sys.executable, "-m", "simulator", "serve", "--port", "0", "--start", START],
        cwd=workdir,  # its handler log goes to workdir/simulation-output
        env=environment,
        stdout=subprocess.PIPE,
        stderr=stderr,
        text=True,
        start_new_session=True,  # its own process group: the jsii (node) child goes down with it
    )
    try:
        endpoint, banner = _wait_until_serving(process, workdir / "serve.stderr")
        yield Server(process, endpoint, banner, workdir)
    finally:
        _stop(process)
        stderr.close()


def _wait_until_serving(process: subprocess.Popen[str], stderr_path: Path) -> tuple[str, str]:
    lines: queue.Queue[str | None] = queue.Queue()

    def read() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            lines.put(line)
        lines.put(None)

    threading.Thread(target=read, daemon=True).start()
    seen: list[str] = []
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    while time.monotonic() < deadline:
        with suppress(queue.Empty):
            line = lines.get(timeout=1)
            if line is None:
                break
            seen.append(line)
            if "Handler logs:" in line:  # the banner's last line
                banner = "".join(seen)
                return re.search(r"serving at (http://127\.0\.0\.1:\d+)", banner).group(1), banner
    pytest.fail(f"serve did not start:\n{''.join(seen)}\n{stderr_path.read_text()[-4000:]}")


def _stop(process: subprocess.Popen[str]) -> None:
    """Ctrl-C's path (SIGTERM is handled the same way); then make sure nothing of it is left."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        with suppress(subprocess.TimeoutExpired):
            process.wait(timeout=30)
    with suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait(timeout=10)


def _supervisor(server: Server) -> dict:
    return server.aws("ecs", "describe-services", "--cluster", CLUSTER, "--services", SERVICE)["services"][0]


def test_the_aws_cli_restarts_an_agent_and_reads_the_history(server: Server) -> None:
    machines = server.aws("stepfunctions", "list-state-machines")["stateMachines"]
    restart_agent = next(m["stateMachineArn"] for m in machines if m["name"] == "acso-production-restart-agent")
    assert restart_agent in server.banner  # printed for the human, with the credentials to export
    assert "AWS_ACCESS_KEY_ID=testing" in server.banner
    before = _supervisor(server)

    started = server.aws(
        "stepfunctions",
        "start-execution",
        "--state-machine-arn",
        restart_agent,
        "--input",
        json.dumps({"service": "supervisor", "reason": "cli test"}),
    )
    execution = _wait_for_end(server, started["executionArn"])
    events = server.aws("stepfunctions", "get-execution-history", "--execution-arn", started["executionArn"])["events"]
    after = _supervisor(server)
    inbox = server.aws("sqs", "get-queue-url", "--queue-name", "inbox-l1")["QueueUrl"]
    notifications = server.aws("sqs", "receive-message", "--queue-url", inbox, "--max-number-of-messages", "10")

    assert execution["status"] == "SUCCEEDED", execution
    assert json.loads(execution["output"])["decision"]["decision"] == "acted"
    entered = [event["stateEnteredEventDetails"]["name"] for event in events if "stateEnteredEventDetails" in event]
    assert entered[:4] == ["NormalizeRequest", "AcquireGuard", "IsGuardClear", "ForceNewDeployment"]
    assert {"WaitForRollout", "CheckRollout", "CheckAgentLogs", "RecordDecision"} <= set(entered)
    assert events[-1]["type"] == "ExecutionSucceeded"
    # The effect on ECS: a new deployment (the forced restart, rolled out), the desired count unchanged.
    assert after["deployments"][0]["id"] != before["deployments"][0]["id"]
    assert after["deployments"][0]["rolloutState"] == "COMPLETED"
    assert (after["desiredCount"], after["runningCount"]) == (before["desiredCount"], before["desiredCount"])
    # The on-call human was told (SNS -> the L1 inbox the emulator subscribed).
    messages = [json.loads(message["Body"]) for message in notifications["Messages"]]
    assert any(SERVICE in message["Subject"] + message["Message"] for message in messages)


def _wait_for_end(server: Server, execution_arn: str) -> dict:
    deadline = time.monotonic() + EXECUTION_TIMEOUT_S
    while True:
        execution = server.aws("stepfunctions", "describe-execution", "--execution-arn", execution_arn)
        if execution["status"] != "RUNNING" or time.monotonic() > deadline:
            return execution
        time.sleep(0.5)
