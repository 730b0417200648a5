"""Embedded AWS for offline runbook simulation: moto's Step Functions interpreter + Python Lambda handlers.

Why this module exists: the runbooks are Step Functions state machines whose Lambda tasks are Python
handlers. To prove them offline we run the real ASL definition in moto's interpreter
(``execute_state_machine``), route Lambda invocations to the Python handlers in-process, replace real
sleeping (Wait states, Retry back-off) by a virtual clock, and count the AWS API calls the product makes.
Scenarios can also make AWS misbehave at a precise step: an API call failing (``inject_fault``), the world
changing just before a handler runs (``before_invoke``), a Lambda function timing out (``hang_function``).

This is the ONLY module that touches moto internals. Each patch is installed on ``EmbeddedAws.__enter__``,
removed on ``__exit__``, and has a canary test in ``tests/unit/test_emulator.py`` so that a moto upgrade
that moves the hooked code fails loudly instead of silently sleeping or miscounting.
"""

from __future__ import annotations

import ast
import copy
import decimal
import functools
import io
import json
import logging
import math
import os
import re
import threading
import time
import traceback
import urllib.parse
import uuid
import zipfile
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any, Self
from unittest import mock

import boto3
import botocore.client
import botocore.session
from antlr4.RuleContext import RuleContext
from botocore.awsrequest import AWSPreparedRequest
from botocore.compat import HTTPHeaders
from botocore.exceptions import ClientError
from botocore.utils import parse_timestamp
from moto import mock_aws
from moto.awslambda_simple.models import LambdaSimpleBackend
from moto.backup import urls as backup_urls
from moto.backup.models import backup_backends
from moto.cloudwatch.models import CloudWatchBackend, Statistics, cloudwatch_backends
from moto.cloudwatch.responses import CloudWatchResponse
from moto.core import DEFAULT_ACCOUNT_ID
from moto.core import responses as moto_responses
from moto.core.models import botocore_stubber, patch_client
from moto.core.responses import ActionResult, EmptyResult
from moto.dynamodb.models import DynamoDBBackend
from moto.ecr.models import ecr_backends
from moto.ecs.models import Task as EcsTask
from moto.ecs.models import ecs_backends
from moto.events.models import EventPattern
from moto.iam.exceptions import NotFoundException as IamNotFound
from moto.iam.models import iam_backends
from moto.iam.responses import IamResponse
from moto.kms import models as kms_models
from moto.logs.models import logs_backends
from moto.logs.utils import EventMessageFilter
from moto.s3.models import s3_backends
from moto.sqs.models import sqs_backends
from moto.stepfunctions.parser.asl.component.common.error_name.failure_event import FailureEventException
from moto.stepfunctions.parser.asl.component.common.retry import retrier_decl
from moto.stepfunctions.parser.asl.component.state.exec import execute_state
from moto.stepfunctions.parser.asl.component.state.exec.execute_state import ExecutionState
from moto.stepfunctions.parser.asl.component.state.exec.state_task import lambda_eval_utils
from moto.stepfunctions.parser.asl.component.state.exec.state_task.service.resource import ResourceCondition
from moto.stepfunctions.parser.asl.component.state.wait.wait_function.timestamp import Timestamp
from moto.stepfunctions.parser.asl.component.state.wait.wait_function.wait_function import WaitFunction
from moto.stepfunctions.parser.asl.parse import asl_parser
from moto.stepfunctions.parser.asl.parse.preprocessor import Preprocessor
from moto.stepfunctions.parser.models import StepFunctionsParserBackend, stepfunctions_parser_backends
from moto.stepfunctions.responses import StepFunctionResponse
from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

from simulator.widget_image import WidgetLine, render_png

__all__ = [
    "ACCOUNT_ID",
    "EmbeddedAws",
    "ExecutionResult",
    "ExecutionStillRunningError",
    "FaultHandle",
    "InvokeHandle",
    "LambdaContext",
    "LambdaHandler",
    "VirtualClock",
    "event_pattern_matches",
    "log_filter_matches",
]

LOG = logging.getLogger(__name__)

LambdaHandler = Callable[[Any, "LambdaContext"], Any]

MOTO_CONFIG: dict[str, Any] = {
    "stepfunctions": {"execute_state_machine": True},
    "lambda": {"use_docker": False},
}
ACCOUNT_ID = DEFAULT_ACCOUNT_ID
SIMULATOR_ROLE_NAME = "embedded-aws-execution-role"
_RUNNING = "RUNNING"
DEFAULT_WALL_TIMEOUT_SCALE = 10  # see PATCH 10
# Marker keys stored in a botocore client's __dict__ (BaseClient.__getattr__ would fire events otherwise).
_UNCOUNTED_MARKER = "_embedded_aws_uncounted"
_STUBBED_MARKER = "_embedded_aws_stubbed"
_FAKE_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
}
# Variables that would make botocore look for real credentials/profiles while the fake ones are active.
_CLEARED_ENV = ("AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN", "AWS_PROFILE", "AWS_DEFAULT_PROFILE")
# PATCH 16: ASL definition -> its ANTLR parse tree, process-wide (parsing one runbook costs ~0.4 s; see the patch).
_PARSE_TREES: dict[str, Any] = {}
_PARSE_TREES_LOCK = threading.Lock()
_TREE_TEXTS: dict[int, str] = {}
"""PATCH 16c: id of a node of a kept parse tree -> its text (kept trees live as long as the process: ids are
theirs alone)."""


def _remember_texts(tree: Any) -> None:
    """Every rule node's getText() of a parse tree, computed bottom-up once (a leaf's text is its token's)."""
    stack, order = [tree], []
    while stack:
        node = stack.pop()
        if isinstance(node, RuleContext):
            order.append(node)
            stack.extend(node.getChildren())
    for node in reversed(order):  # children before their parent
        _TREE_TEXTS[id(node)] = "".join(
            _TREE_TEXTS[id(child)] if isinstance(child, RuleContext) else child.getText()
            for child in node.getChildren()
        )


_HANDLER_LOCK = threading.RLock()
"""PATCH 1: held while a handler runs (one invocation at a time, as each Lambda container runs one)."""
_SIMULATOR_CLIENTS: dict[tuple[str, str], Any] = {}
"""(service, region) -> the simulator's uncounted client, kept for the process (EmbeddedAws.client)."""

# PATCH 17: the one private key every symmetric KMS key gets (they never use it), made once per process.
_SYMMETRIC_KEYS_PRIVATE_KEY: list[Any] = []


class VirtualClock:
    """Simulated wall clock, so that hour-long Waits and Retry back-offs cost no real time.

    Thread-safe: moto runs each execution (and each Parallel branch / Task timeout guard) in its own thread.
    Time only moves forward. Concurrent waits are serialised on this single timeline (two executions each
    waiting 60 s move the clock by 120 s); sequential behaviour within one execution is exact.

    A move is one step: the new instant and what the listeners (the simulated world) make of it are seen
    together. Moves run one at a time, and other threads see the new instant only once its listeners have run.
    Otherwise a handler running while another execution's Wait moves the clock reads the new "now" before the
    world has caught up with it (no CPU sample in its last 5 minutes yet: a verified scale-out is reported as
    "CPU no data, not verified" in about one alarm-storm run in ten), and two moves' listeners interleave.
    """

    def __init__(self, start: datetime | None = None) -> None:
        start = start or datetime(2024, 1, 1, tzinfo=UTC)
        if start.tzinfo is None:
            raise ValueError("VirtualClock needs a timezone-aware start datetime")
        self._now = start.astimezone(UTC)
        self._lock = threading.Lock()
        self._listeners: list[Callable[[float], None]] = []
        self._moving = threading.RLock()
        """Held for a whole move (new instant + listeners); re-entrant: a listener may move the clock itself."""
        self._mover = threading.local()
        """The moving thread's instant while its listeners run (the others still see `_now`, the last step's)."""

    def now(self) -> datetime:
        """Current virtual instant (UTC, timezone-aware)."""
        moving = getattr(self._mover, "now", None)
        if moving is not None:
            return moving
        with self._lock:
            return self._now

    def on_advance(self, listener: Callable[[float], None]) -> None:
        """Call ``listener(seconds)`` after every forward move, so a simulated world can evolve with time.

        Listeners run in the thread that advanced the clock (often a moto interpreter thread), one move at a
        time, and see the new instant; other threads see it once the listeners are done. An exception they raise
        propagates to that caller (e.g. fails the Wait state); the clock has moved all the same.
        """
        with self._lock:
            self._listeners.append(listener)

    def advance(self, seconds: float) -> datetime:
        """Move the clock forward by ``seconds`` and return the new instant."""
        if seconds < 0:
            raise ValueError(f"cannot move a VirtualClock backwards ({seconds} s)")
        return self._move(lambda now: seconds)

    def advance_to(self, instant: datetime) -> datetime:
        """Move the clock to ``instant`` if that is later than now (no-op otherwise); return the new now."""
        if instant.tzinfo is None:
            raise ValueError("advance_to needs a timezone-aware datetime")
        return self._move(lambda now: max(0.0, (instant.astimezone(UTC) - now).total_seconds()))

    def _move(self, seconds_from: Callable[[datetime], float]) -> datetime:
        """One step: the new instant (``seconds_from(now)`` later), its listeners, then publish it to all threads."""
        with self._moving:
            before = self.now()
            seconds = seconds_from(before)
            outer = getattr(self._mover, "now", None)
            self._mover.now = before + timedelta(seconds=seconds)
            with self._lock:
                listeners = list(self._listeners)
            try:
                if seconds > 0:
                    for listener in listeners:
                        listener(seconds)
            finally:
                moved = self._mover.now  # later still if a listener moved the clock itself
                if outer is None:  # the outermost move publishes the instant to every thread
                    self._mover.now = None
                    with self._lock:
                        self._now = moved
            return moved


@dataclass
class LambdaContext:
    """The subset of the Lambda runtime context that handlers (and Powertools' inject_lambda_context) read."""

    function_name: str
    invoked_function_arn: str
    memory_limit_in_mb: int
    aws_request_id: str
    function_version: str = "$LATEST"
    log_group_name: str = ""
    log_stream_name: str = ""
    identity: Any = None
    client_context: Any = None
    deadline_monotonic: float = field(default=0.0, repr=False)

    def get_remaining_time_in_millis(self) -> int:
        """Wall-clock milliseconds left before the function's configured timeout."""
        return max(0, int((self.deadline_monotonic - time.monotonic()) * 1000))


@dataclass(frozen=True)
class _RegisteredFunction:
    handler: LambdaHandler
    arn: str
    timeout_s: int
    memory_mb: int


@dataclass(frozen=True)
class ExecutionResult:
    """Outcome of one state machine execution, as read back through the Step Functions API."""

    execution_arn: str
    status: str
    output: Any
    error: str | None
    cause: str | None
    history: list[dict[str, Any]]
    state_transitions: list[str]


class ExecutionStillRunningError(TimeoutError):
    """The execution did not leave RUNNING within the wall-clock budget (usually a hung handler or loop)."""


class _Armed:
    """Something armed for the next ``times`` matching events (None = until cleared); thread-safe via its owner."""

    def __init__(self, times: int | None, lock: threading.RLock, release: Callable[[Any], None]) -> None:
        if times is not None and times < 1:
            raise ValueError(f"times must be a positive count or None (forever), not {times}")
        self._remaining = times
        self._lock = lock
        self._release = release
        self._hits = 0

    @property
    def remaining(self) -> int | None:
        """Matching events it will still act on (None = forever, 0 = spent)."""
        with self._lock:
            return self._remaining

    @property
    def hits(self) -> int:
        """Matching events it has acted on so far."""
        with self._lock:
            return self._hits

    def clear(self) -> None:
        """Disarm it now (a no-op once spent or already cleared)."""
        self._release(self)

    def _consume(self) -> bool:
        """Count one hit (the caller holds the lock); True once spent."""
        self._hits += 1
        if self._remaining is not None:
            self._remaining -= 1
        return self._remaining == 0


class FaultHandle(_Armed):
    """An API fault armed by ``EmbeddedAws.inject_fault``: ``clear()`` disarms it; ``hits``, ``remaining``."""

    def __init__(
        self,
        operation: str,
        error_code: str,
        *,
        times: int | None,
        message: str,
        http_status: int,
        when: Callable[[dict[str, Any]], bool] | None,
        lock: threading.RLock,
        release: Callable[[Any], None],
    ) -> None:
        super().__init__(times, lock, release)
        self.operation = operation
        self.error_code = error_code
        self.message = message
        self.http_status = http_status
        self.when = when

    def __repr__(self) -> str:
        return f"FaultHandle({self.operation} -> {self.error_code}, remaining={self.remaining})"


class InvokeHandle(_Armed):
    """A per-function invocation behaviour (``before_invoke`` hook or ``hang_function``): ``clear()`` disarms it."""

    def __init__(
        self,
        function_name: str,
        callback: Callable[[Any], None] | None,
        *,
        times: int | None,
        lock: threading.RLock,
        release: Callable[[Any], None],
    ) -> None:
        super().__init__(times, lock, release)
        self.function_name = function_name
        self.callback = callback

    def __repr__(self) -> str:
        kind = "hang" if self.callback is None else "before_invoke"
        return f"InvokeHandle({kind} {self.function_name}, remaining={self.remaining})"


def _summarise_params(params: dict[str, Any], limit: int = 200) -> dict[str, Any]:
    """API parameters for a report: scalars as they are, anything else as (truncated) JSON text."""
    summary: dict[str, Any] = {}
    for key, value in params.items():
        if value is None or isinstance(value, bool | int | float):
            summary[key] = value
            continue
        text = value if isinstance(value, str) else json.dumps(value, default=str, sort_keys=True)
        summary[key] = text if len(text) <= limit else f"{text[: limit - 3]}..."
    return summary


def _dummy_zip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("index.py", "def handler(event, context):\n    raise NotImplementedError\n")
    return buffer.getvalue()


@functools.cache
def _simulator_session(region: str) -> boto3.Session:
    """One process-wide session (and model cache) per region for the simulator's own, uncounted clients.

    Cached as a boto3 session, not only a botocore one: boto3 registers its client customisations on the
    botocore session once, and a second boto3.Session over the same one fails to inject them again.
    """
    return boto3.Session(
        botocore_session=botocore.session.Session(),
        region_name=region,
        aws_access_key_id=_FAKE_ENV["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=_FAKE_ENV["AWS_SECRET_ACCESS_KEY"],
    )


def _mark_uncounted(client: botocore.client.BaseClient) -> botocore.client.BaseClient:
    client.__dict__[_UNCOUNTED_MARKER] = True
    return client


def _header(headers: Any, name: str, default: str) -> str:
    """Case-insensitive header lookup (moto hands over werkzeug/botocore header objects or dicts)."""
    for key, value in dict(headers or {}).items():
        if key.lower() == name.lower():
            return value
    return default


# SigV4 credential scope, in the Authorization header or a presigned URL: <key>/<date>/<region>/<service>/aws4_request
_CREDENTIAL_SCOPE = re.compile(r"/\d{8}/([a-z0-9-]+)/([a-z0-9-]+)/aws4_request")


def _http_gateway(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    """WSGI app: an AWS API request from another process (the AWS CLI with --endpoint-url) is handled by moto's
    in-process dispatch, the very path a handler's boto3 call takes (moto's botocore before-send hook).

    moto routes on the service's regional host, so the request is re-addressed to
    ``<service>.<region>.amazonaws.com``, both read from its SigV4 credential scope (so it must be signed).
    """
    request = Request(environ)
    signature = request.headers.get("Authorization", "") or request.args.get("X-Amz-Credential", "")
    scope = _CREDENTIAL_SCOPE.search(signature)
    if scope is None:
        message = "EmbeddedAws serves signed AWS API requests only (set any AWS_ACCESS_KEY_ID/SECRET)\n"
        return Response(message, status=400, mimetype="text/plain")(environ, start_response)
    region, service = scope.groups()
    host = f"{service}.{region}.amazonaws.com"
    path = environ.get("RAW_URI") or request.full_path.rstrip("?")  # raw: S3 keys keep their %-escapes
    headers = HTTPHeaders()
    for name, value in request.headers.items():
        headers[name] = host if name.lower() == "host" else value
    prepared = AWSPreparedRequest(request.method, f"https://{host}{path}", headers, request.get_data(), False)
    try:
        result = botocore_stubber.process_request(prepared)
    except ClientError as error:  # as moto's own server answers it
        result = 400, {}, error.response["Error"]["Message"]
    if result is None:
        result = 404, {}, f"no emulated AWS service at {host}\n"
    status, response_headers, body = result
    response = Response(response=body, status=status, headers=response_headers)
    if request.method == "HEAD" and "content-length" in response_headers:  # HEAD: the object's length
        response.headers["Content-Length"] = response_headers["content-length"]
    return response(environ, start_response)


def _query_time(value: str) -> datetime:
    """A timestamp in a REST querystring: botocore sends ISO 8601; epoch seconds are accepted too."""
    try:
        return datetime.fromtimestamp(float(value), UTC)
    except ValueError:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


_BACKUP_RESOURCE_TYPES = {"rds": "RDS", "dynamodb": "DynamoDB", "ec2": "EC2", "s3": "S3", "efs": "EFS"}
"""AWS Backup's ResourceType of a resource, by the service in its ARN (PATCH 17)."""


def _rest_json_error(status: int, code: str, message: str) -> tuple[int, dict[str, str], str]:
    """An error of a REST-JSON service (AWS Backup) as botocore parses it: the code in `x-amzn-ErrorType`."""
    return status, {"Content-Type": "application/json", "x-amzn-ErrorType": code}, json.dumps({"Message": message})


def _decimal_as_number(value: Any) -> Any:
    """The Lambda Python runtime (awslambdaric) encodes Decimal (e.g. from DynamoDB) as a JSON number."""
    if isinstance(value, decimal.Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


def _timed_out_payload(request_id: str, timeout_s: float) -> bytes:
    """Body Lambda itself returns (X-Amz-Function-Error: Unhandled) when a function runs past its timeout.

    The shape seen from real AWS (e.g. seek-oss/aws-codedeploy-hooks CHANGELOG 2.1.3, LocalStack's
    lambda-runtime-init): only errorType + errorMessage, no requestId/stackTrace (the runtime was killed).
    """
    message = f"RequestId: {request_id} Error: Task timed out after {timeout_s:.2f} seconds"
    return json.dumps({"errorType": "Sandbox.Timedout", "errorMessage": message}).encode("utf-8")


def _function_error_payload(error_type: str, message: str, request_id: str, stack: list[str]) -> bytes:
    """Body the Python Lambda runtime returns for an unhandled exception (with X-Amz-Function-Error)."""
    body = {"errorMessage": message, "errorType": error_type, "requestId": request_id, "stackTrace": stack}
    return json.dumps(body).encode("utf-8")


class EmbeddedAws:
    """moto ``mock_aws`` with in-process Lambda handlers, virtual time and API call accounting.

    Usage::

        with EmbeddedAws(VirtualClock(), region="eu-west-1") as aws:
            aws.register_function("guard", guard.handler)
            arn = aws.deploy_state_machine("runbook", definition)
            result = aws.run_execution(arn, {"alarm": "..."})

    Misbehaviour at a precise step: ``inject_fault`` (an API call made by product code fails),
    ``before_invoke`` (change the world just before a handler runs), ``hang_function`` (a Lambda timeout).

    Only one instance may be active at a time: the moto patches are process-wide.
    """

    _active_lock = threading.Lock()
    _active: EmbeddedAws | None = None

    def __init__(
        self,
        clock: VirtualClock | None = None,
        region: str = "eu-west-1",
        account_id: str = ACCOUNT_ID,
        wall_timeout_scale: float = DEFAULT_WALL_TIMEOUT_SCALE,
    ) -> None:
        if account_id != ACCOUNT_ID:  # moto serves fake credentials from its default account only
            raise ValueError(f"moto's default account {ACCOUNT_ID} only, not {account_id}")
        self.clock = clock or VirtualClock()
        self.wall_timeout_scale = wall_timeout_scale
        self.region = region
        self.account_id = account_id
        self._saved_environment: dict[str, str | None] = {}
        self._functions: dict[str, _RegisteredFunction] = {}
        self._functions_lock = threading.Lock()
        self._calls: Counter[str] = Counter()
        self._calls_lock = threading.Lock()
        self._started_executions: list[str] = []
        self._inflight = 0  # handler invocations running now (see _drain_handlers)
        self._inflight_changed = threading.Condition()
        self._exit_stack: ExitStack | None = None
        self._session: boto3.Session | None = None
        self._clients: dict[tuple[str, str], Any] = {}
        self._clients_lock = threading.Lock()
        self._role_arn: str | None = None
        # Armed misbehaviour (inject_fault, before_invoke, hang_function); re-entrant: `when` may call AWS.
        self._armed_lock = threading.RLock()
        self._faults: list[FaultHandle] = []
        self._injected: list[dict[str, Any]] = []
        self._before_invoke: list[InvokeHandle] = []
        self._hangs: list[InvokeHandle] = []
        # AWS Backup jobs the simulated world ran, by region then job id (PATCH 13 answers ListBackupJobs).
        self._backup_jobs: dict[str, dict[str, dict[str, Any]]] = {}
        self._backup_jobs_lock = threading.Lock()
        self._on_demand_backup_ids: set[str] = set()
        """Jobs started with StartBackupJob (PATCH 17), which the simulated world runs to completion."""
        # IAM last-accessed (PATCH 21): (role ARN, service namespace) -> (when, region) the role last used it, and
        # the report jobs GenerateServiceLastAccessedDetails started (job id -> role ARN, created at).
        self._service_access: dict[tuple[str, str], tuple[datetime, str]] = {}
        self._last_accessed_jobs: dict[str, tuple[str, datetime]] = {}
        self._iam_lock = threading.Lock()

    # ------------------------------------------------------------------ lifecycle

    def __enter__(self) -> Self:
        with EmbeddedAws._active_lock:
            if EmbeddedAws._active is not None:
                raise RuntimeError("another EmbeddedAws is already active; moto patches are process-wide")
            EmbeddedAws._active = self
        stack = ExitStack()
        try:
            stack.enter_context(self._fake_environment())
            stack.enter_context(mock_aws(config=MOTO_CONFIG))
            self._install_moto_patches(stack)
            # Simulator-side clients come from their own session and are marked as not counted. Its botocore
            # session is shared across instances: loading service models (iam, lambda...) costs ~0.1 s each.
            self._session = _simulator_session(self.region)
        except BaseException:
            stack.close()
            with EmbeddedAws._active_lock:
                EmbeddedAws._active = None
            raise
        self._exit_stack = stack
        return self

    def __exit__(self, *exc_info: object) -> None:
        try:
            self._stop_running_executions()
            self._drain_handlers()
        finally:
            assert self._exit_stack is not None
            self._exit_stack.close()
            self._exit_stack = None
            self._restore_environment()
            self._session = None
            self._clients.clear()
            with EmbeddedAws._active_lock:
                EmbeddedAws._active = None

    def set_environment(self, variables: dict[str, str]) -> None:
        """Set the Lambda functions' environment variables (process-wide: handlers run in-process).

        Restored on exit, so every function shares one environment, as the deployed stack must ensure.
        """
        if self._exit_stack is None:
            raise RuntimeError("EmbeddedAws is not active (use it as a context manager)")
        for name, value in variables.items():
            self._saved_environment.setdefault(name, os.environ.get(name))
            os.environ[name] = str(value)

    def _restore_environment(self) -> None:
        for name, value in self._saved_environment.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        self._saved_environment.clear()

    @contextmanager
    def _fake_environment(self) -> Iterator[None]:
        """Fake credentials + region so no client ever resolves real ones; restores the env on exit."""
        names = (*_FAKE_ENV, "AWS_DEFAULT_REGION", "AWS_REGION", *_CLEARED_ENV)
        saved = {name: os.environ.get(name) for name in names}
        os.environ.update(_FAKE_ENV)
        os.environ["AWS_DEFAULT_REGION"] = self.region
        os.environ["AWS_REGION"] = self.region
        for name in _CLEARED_ENV:
            os.environ.pop(name, None)
        try:
            yield
        finally:
            for name, value in saved.items():
                if value is None:
                    os.environ.pop(name, None)
                else:
                    os.environ[name] = value

    def _stop_running_executions(self) -> None:
        """Stop executions left RUNNING so their threads do not call (unmocked) AWS after mock_aws ends."""
        if self._session is None:
            return
        sfn = self.client("stepfunctions")
        for arn in self._started_executions:
            try:
                if sfn.describe_execution(executionArn=arn)["status"] == _RUNNING:
                    sfn.stop_execution(executionArn=arn, error="EmbeddedAws.Closed")
            except Exception:  # best effort during teardown
                LOG.warning("could not stop execution %s", arn, exc_info=True)

    def _drain_handlers(self, timeout_s: float = 5.0) -> None:
        """Give in-flight handlers (e.g. one past its Task timeout) time to finish while AWS is still mocked.

        A handler thread that outlives mock_aws would send its boto3 calls to real AWS endpoints.
        """
        with self._inflight_changed:
            if not self._inflight_changed.wait_for(lambda: self._inflight == 0, timeout=timeout_s):
                LOG.warning("%d Lambda handler(s) still running after EmbeddedAws exit", self._inflight)

    # ------------------------------------------------------------------ moto patches

    def _install_moto_patches(self, stack: ExitStack) -> None:
        clock = self.clock
        embedded = self

        # PATCH 1 - moto/awslambda_simple/models.py LambdaSimpleBackend.invoke: run the registered Python
        # handler in-process instead of echoing the payload. Both `arn:aws:lambda:...` Tasks and
        # `arn:aws:states:::lambda:invoke` get here: lambda client -> LambdaResponse.invoke -> backend.invoke.
        def invoke(
            backend: LambdaSimpleBackend,
            function_name: str,
            qualifier: str | None,
            body: Any,
            headers: Any,
            response_headers: dict[str, str],
        ) -> bytes | None:
            return embedded._invoke_handler(
                backend,
                function_name=function_name,
                qualifier=qualifier,
                body=body,
                headers=headers,
                response_headers=response_headers,
            )

        stack.enter_context(mock.patch.object(LambdaSimpleBackend, "invoke", invoke))

        # PATCH 2 - moto/.../wait/wait_function/wait_function.py WaitFunction._wait_interval: the one place
        # where Wait (Seconds, SecondsPath, Timestamp[Path]) blocks on a real Event; advance the clock there.
        def wait_interval(_wait_function: WaitFunction, env: Any, wait_seconds: int) -> None:
            if wait_seconds > 0:
                clock.advance(wait_seconds)

        stack.enter_context(mock.patch.object(WaitFunction, "_wait_interval", wait_interval))

        # PATCH 3 - moto/.../wait/wait_function/timestamp.py Timestamp._get_wait_seconds: moto measures the
        # target against naive local datetime.now(); measure it against the virtual clock (UTC) instead.
        def timestamp_wait_seconds(self: Timestamp, env: Any) -> int:
            self.string.eval(env=env)
            timestamp_str: str = env.stack.pop()
            target = self._from_timestamp_string(timestamp=timestamp_str)
            if target is None:
                raise FailureEventException(self._create_failure_event(env, timestamp_str))
            delta = target.replace(tzinfo=UTC) - clock.now()
            return max(0, math.ceil(delta.total_seconds()))

        stack.enter_context(mock.patch.object(Timestamp, "_get_wait_seconds", timestamp_wait_seconds))

        # PATCH 4 - moto/.../common/retry/retrier_decl.py module global `time`: RetrierDecl._eval_body calls
        # time.sleep(interval); give that module a `time` whose only member advances the virtual clock.
        # Deliberately sleep-only: if moto starts using another time function there, it fails loudly.
        stack.enter_context(mock.patch.object(retrier_decl, "time", SimpleNamespace(sleep=clock.advance)))

        # PATCH 5 - botocore BaseClient._make_api_call (every client method, paginator and waiter goes through
        # it, including clients created before EmbeddedAws started): count "<client name>.<Operation>", then
        # raise the fault armed for it (inject_fault), if any, instead of making the call.
        original_make_api_call = botocore.client.BaseClient._make_api_call

        def make_api_call(client: botocore.client.BaseClient, operation_name: str, api_params: Any) -> Any:
            if not client.__dict__.get(_STUBBED_MARKER):
                # Safety net: a client created before `import moto` lacks moto's before-send hook and
                # would talk to real AWS; moto's own patch_client attaches it (idempotently).
                patch_client(client)
                client.__dict__[_STUBBED_MARKER] = True
            if not client.__dict__.get(_UNCOUNTED_MARKER):
                operation = f"{client.meta.service_model.service_name}.{operation_name}"
                embedded._count(operation)
                embedded._raise_injected_fault(client, operation, operation_name, api_params)
            return original_make_api_call(client, operation_name, api_params)

        stack.enter_context(mock.patch.object(botocore.client.BaseClient, "_make_api_call", make_api_call))

        # PATCH 6 - moto/.../state_task/lambda_eval_utils.py module global `boto_client_for`: the lambda
        # clients the interpreter creates to run Lambda Tasks are marked uncounted. We deliberately exclude
        # that `lambda.Invoke`: it is Step Functions running a task, not a call the product code makes.
        # moto also creates a boto3 client for every Lambda task it runs (~10 ms each); its clients differ only by
        # region (moto ignores the state's credentials), so this EmbeddedAws keeps one per region and service, which
        # every execution thread uses (botocore clients are thread-safe; a client per thread made a storm's 100
        # executions cost ~25 % more CPU).
        original_boto_client_for = lambda_eval_utils.boto_client_for
        clients: dict[tuple[str, str], botocore.client.BaseClient] = {}
        clients_lock = threading.Lock()

        def boto_client_for(region: str, service: str, state_credentials: Any = None) -> botocore.client.BaseClient:
            with clients_lock:
                if (region, service) not in clients:
                    clients[(region, service)] = _mark_uncounted(original_boto_client_for(region, service))
                return clients[(region, service)]

        stack.enter_context(mock.patch.object(lambda_eval_utils, "boto_client_for", boto_client_for))

        self._install_service_fidelity_patches(stack)
        self._install_cloudwatch_patches(stack)
        self._install_speed_patches(stack)
        self._install_iam_last_accessed_patches(stack)

    def _install_iam_last_accessed_patches(self, stack: ExitStack) -> None:
        """IAM's last-accessed information (the access review reads it); moto has none of it."""
        embedded = self

        # PATCH 21 - moto/iam/responses.py IamResponse has no GenerateServiceLastAccessedDetails,
        # GetServiceLastAccessedDetails nor ListPoliciesGrantingServiceAccess. Answer them from the role's policy
        # documents in moto's IAM backend (the services they grant) and the accesses the simulated world recorded
        # (`record_service_access`). A job completes LAST_ACCESSED_JOB_SECONDS of virtual time after it started.
        def generate(responses: IamResponse) -> ActionResult:
            role = embedded._iam_role(responses._get_param("Arn"))
            job_id = str(uuid.uuid4())
            with embedded._iam_lock:
                embedded._last_accessed_jobs[job_id] = (role.arn, embedded.clock.now())
            return ActionResult({"JobId": job_id})

        def get_details(responses: IamResponse) -> ActionResult:
            return ActionResult(
                embedded._last_accessed_report(
                    responses._get_param("JobId"), responses._get_param("Marker"), responses._get_param("MaxItems")
                )
            )

        def list_granting(responses: IamResponse) -> ActionResult:
            role = embedded._iam_role(responses._get_param("Arn"))
            grants = _granted_namespaces(role)
            entries = [
                {"ServiceNamespace": namespace, "Policies": grants.get(namespace, [])}
                for namespace in responses._get_param("ServiceNamespaces") or []
            ]
            return ActionResult({"PoliciesGrantingServiceAccess": entries, "IsTruncated": False})

        for name, method in (
            ("generate_service_last_accessed_details", generate),
            ("get_service_last_accessed_details", get_details),
            ("list_policies_granting_service_access", list_granting),
        ):
            stack.enter_context(mock.patch.object(IamResponse, name, method, create=True))

    # ------------------------------------------------------------------ simulated IAM last-accessed, ECR scans

    LAST_ACCESSED_JOB_SECONDS = 8
    """IAM builds a last-accessed report asynchronously; here it takes this much virtual time."""

    def _iam_role(self, arn: str) -> Any:
        name = (arn or "").rsplit("/", 1)[-1]
        for role in iam_backends[self.account_id]["aws"].roles.values():
            if role.arn == arn or (":role/" not in (arn or "") and role.name == name):
                return role
        raise IamNotFound(f"The role with ARN {arn} cannot be found.")

    def record_service_access(self, role_name: str, namespace: str, when: datetime, region: str | None = None) -> None:
        """The role last authenticated to this service (IAM namespace, e.g. `s3`) at `when`, like IAM tracks it."""
        role = iam_backends[self.account_id]["aws"].get_role(role_name)
        with self._iam_lock:
            self._service_access[(role.arn, namespace)] = (when.astimezone(UTC), region or self.region)

    def set_role_activity(
        self, role_name: str, created: datetime | None = None, last_used: datetime | None = None
    ) -> None:
        """The role's CreateDate and RoleLastUsed (moto stamps the wall clock at creation and never uses a role).
        moto documents `Role.last_used` as public API (getmoto/moto#6859); times are stored naive UTC like moto's."""
        role = iam_backends[self.account_id]["aws"].get_role(role_name)
        if created is not None:
            role.create_date = created.astimezone(UTC).replace(tzinfo=None)
        if last_used is not None:
            role.last_used = last_used.astimezone(UTC).replace(tzinfo=None)
            role.last_used_region = self.region

    def _last_accessed_report(self, job_id: str, marker: str | None, max_items: Any) -> dict[str, Any]:
        with self._iam_lock:
            job = self._last_accessed_jobs.get(job_id)
            accesses = dict(self._service_access)
        if job is None:
            raise IamNotFound(f"The job with ID {job_id} cannot be found.")
        arn, created = job
        report: dict[str, Any] = {"JobType": "SERVICE_LEVEL", "JobCreationDate": created, "IsTruncated": False}
        completed = created + timedelta(seconds=self.LAST_ACCESSED_JOB_SECONDS)
        if self.clock.now() < completed:
            return report | {"JobStatus": "IN_PROGRESS", "ServicesLastAccessed": []}
        tracked_since = self.clock.now() - timedelta(days=400)
        services = []
        for namespace in sorted(_granted_namespaces(self._iam_role(arn))):
            entry: dict[str, Any] = {
                "ServiceName": _SERVICE_NAMES.get(namespace, f"AWS {namespace}"),
                "ServiceNamespace": namespace,
                "TotalAuthenticatedEntities": 0,
            }
            when, region = accesses.get((arn, namespace), (None, None))
            if when is not None and tracked_since <= when <= completed:
                entry |= {
                    "LastAuthenticated": when,
                    "LastAuthenticatedEntity": arn,
                    "LastAuthenticatedRegion": region,
                    "TotalAuthenticatedEntities": 1,
                }
            services.append(entry)
        start, size = int(marker or 0), int(max_items or 100)
        page = services[start : start + size]
        report |= {"JobStatus": "COMPLETED", "JobCompletionDate": completed, "ServicesLastAccessed": page}
        if start + size < len(services):
            report |= {"IsTruncated": True, "Marker": str(start + size)}
        return report

    def put_image_scan_findings(
        self, repository: str, tag: str, response: dict[str, Any], region: str | None = None
    ) -> None:
        """What ECR's DescribeImageScanFindings answers for repository:tag: moto's documented custom results
        (`moto-api/static/ecr/scan-finding-results`), kept per image. Without them moto answers every scanned image
        with one fake HIGH CVE-9999-9999, so the simulated world always sets them."""
        backend = ecr_backends[self.account_id][region or self.region]
        backend.scan_finding_results.append(
            {"repositoryName": repository, "imageId": {"imageTag": tag}} | response | {"repositoryName": repository}
        )

    def _install_speed_patches(self, stack: ExitStack) -> None:
        """Where moto repeats costly work whose result cannot differ; behaviour is unchanged."""

        # PATCH 16 - moto/.../asl/parse/asl_parser.py AmazonStateLanguageParser.parse: moto parses a definition
        # with ANTLR on CreateStateMachine and again on every StartExecution (~0.4 s for a runbook, most of a
        # scenario's deploy). The parse tree of a definition string never changes, so it is kept for the process;
        # the evaluation program is still built fresh from it for every call (moto's components hold execution
        # state), exactly as moto builds it. An invalid definition is never kept: it raises as before.
        original_parse = asl_parser.AmazonStateLanguageParser.parse

        def parse(definition: str) -> tuple[Any, Any]:
            tree = _PARSE_TREES.get(definition)
            if tree is None:
                program, tree = original_parse(definition)
                with _PARSE_TREES_LOCK:
                    _remember_texts(tree)
                    _PARSE_TREES[definition] = tree
                return program, tree
            return Preprocessor().visit(tree), tree

        stack.enter_context(mock.patch.object(asl_parser.AmazonStateLanguageParser, "parse", staticmethod(parse)))

        # PATCH 16c - antlr4/RuleContext.py RuleContext.getText: building the program walks the tree asking each
        # node its text, which ANTLR concatenates from its children every time (a third of an execution's CPU). The
        # nodes of a kept tree never change: their texts are computed once (`_remember_texts`); other trees as before.
        original_get_text = RuleContext.getText

        def get_text(context: RuleContext) -> str:
            text = _TREE_TEXTS.get(id(context))
            return original_get_text(context) if text is None else text

        stack.enter_context(mock.patch.object(RuleContext, "getText", get_text))

        # PATCH 16b - moto/stepfunctions/parser/models.py StepFunctionsParserBackend._validate_definition: a
        # definition whose parse tree is kept above parsed without error, so it is valid; others are checked as before.
        original_validate = StepFunctionsParserBackend._validate_definition

        def validate_definition(definition: str) -> None:
            if definition not in _PARSE_TREES:
                original_validate(definition)

        stack.enter_context(
            mock.patch.object(StepFunctionsParserBackend, "_validate_definition", staticmethod(validate_definition))
        )

        # PATCH 18 - moto/core/responses.py module global `method_names_from_class`: every request lists its
        # response class's methods with inspect.getmembers (~1 ms, hundreds of times a scenario). The classes do
        # not change while this EmbeddedAws is active (its own patches are all installed before this one), so the
        # list is kept per class for this instance.
        original_method_names = moto_responses.method_names_from_class
        method_names: dict[type, frozenset[str]] = {}

        def method_names_from_class(clazz: type) -> frozenset[str]:
            if clazz not in method_names:
                method_names[clazz] = frozenset(original_method_names(clazz))
            return method_names[clazz]

        stack.enter_context(mock.patch.object(moto_responses, "method_names_from_class", method_names_from_class))

        # PATCH 19 - moto/cloudwatch/models.py CloudWatchBackend.get_metric_data: for every period of every query
        # moto scans every datapoint of every metric in the window (a week of hourly periods over all the world's
        # metrics: seconds per call). A query only ever keeps datapoints of its own metric name (moto's filters,
        # with or without dimensions, both require it), so each query is answered from those alone, by moto's own
        # code; a call with a metric math expression is answered in one piece (the math reads its queries'
        # results), from the metrics its queries name; a Metrics Insights query (SELECT) reads everything.
        original_get_metric_data = CloudWatchBackend.get_metric_data

        def get_metric_data(
            backend: CloudWatchBackend,
            queries: list[dict],
            start_time: datetime,
            end_time: datetime,
            scan_by: str = "TimestampAscending",
        ) -> list[dict]:
            if any(str(query.get("Expression", "")).startswith("SELECT") for query in queries):
                return original_get_metric_data(backend, queries, start_time, end_time, scan_by)
            datums: dict[str, list[Any]] = {}
            for datum in backend.get_all_metrics():
                datums.setdefault(datum.name, []).append(datum)

            def named(names: set[str]) -> SimpleNamespace:
                return SimpleNamespace(get_all_metrics=lambda: [d for name in names for d in datums.get(name, [])])

            stats = [query for query in queries if "MetricStat" in query]
            if not stats:  # moto validates the window and answers (expressions of nothing) as before
                return original_get_metric_data(backend, queries, start_time, end_time, scan_by)
            if any("Expression" in query for query in queries):
                names = {query["MetricStat"]["Metric"]["MetricName"] for query in stats}
                return original_get_metric_data(named(names), queries, start_time, end_time, scan_by)
            results = []
            for query in stats:
                names = {query["MetricStat"]["Metric"]["MetricName"]}
                results += original_get_metric_data(named(names), [query], start_time, end_time, scan_by)
            return results

        stack.enter_context(mock.patch.object(CloudWatchBackend, "get_metric_data", get_metric_data))

        # PATCH 17 - moto/kms/models.py module global `generate_private_key`: every KMS key, symmetric ones too,
        # gets a fresh RSA-2048 private key (~0.1 s each), which only asymmetric Sign/Verify/GetPublicKey use. A
        # SYMMETRIC_DEFAULT key (the stack's keys) never uses it: it gets one generated once per process instead.
        original_generate = kms_models.generate_private_key

        def generate_private_key(key_spec: str) -> Any:
            if key_spec != "SYMMETRIC_DEFAULT":
                return original_generate(key_spec)
            with _PARSE_TREES_LOCK:
                if not _SYMMETRIC_KEYS_PRIVATE_KEY:
                    _SYMMETRIC_KEYS_PRIVATE_KEY.append(original_generate(key_spec))
                return _SYMMETRIC_KEYS_PRIVATE_KEY[0]

        stack.enter_context(mock.patch.object(kms_models, "generate_private_key", generate_private_key))

    def _install_service_fidelity_patches(self, stack: ExitStack) -> None:
        """Where moto is not faithful to a service behaviour the runbooks depend on."""

        # PATCH 10 - moto/.../state/exec/execute_state.py ExecutionState._evaluate_with_timeout: moto measures
        # TimeoutSeconds on the wall clock. A callback task (.waitForTaskToken, e.g. a human approval) times out
        # on the VIRTUAL clock, so a scenario lets "30 minutes without an answer" pass with clock.advance().
        # Other tasks keep a wall-clock limit, scaled up so that CPU contention in a 100-execution storm on two
        # cores is not mistaken for a hung task (a hung Lambda is modelled by hang_function instead).
        embedded, embedded_clock, waiting_state = self, self.clock, threading.local()

        class TimeoutEvent(threading.Event):
            """The Event moto's _evaluate_with_timeout waits on, with the deadline rules above."""

            def wait(self, timeout: float | None = None) -> bool:
                if timeout is None:
                    return super().wait()
                callback = getattr(waiting_state, "callback", False)
                if not callback:  # the wall-clock limit only: one wait, no polling (100 tasks at once in a storm)
                    return super().wait(timeout * embedded.wall_timeout_scale)
                virtual_deadline = embedded_clock.now() + timedelta(seconds=timeout)
                wall_deadline = time.monotonic() + timeout * embedded.wall_timeout_scale
                while not super().wait(0.02):
                    if callback and embedded_clock.now() >= virtual_deadline:
                        return False
                    if time.monotonic() >= wall_deadline:
                        return False
                return True

        original_evaluate_with_timeout = ExecutionState._evaluate_with_timeout

        def evaluate_with_timeout(state: ExecutionState, env: Any) -> None:
            resource = getattr(state, "resource", None)
            waiting_state.callback = getattr(resource, "condition", None) == ResourceCondition.WaitForTaskToken
            return original_evaluate_with_timeout(state, env)

        stack.enter_context(mock.patch.object(ExecutionState, "_evaluate_with_timeout", evaluate_with_timeout))
        stack.enter_context(
            mock.patch.object(execute_state, "threading", SimpleNamespace(**{**vars(threading), "Event": TimeoutEvent}))
        )

        # PATCH 11 - moto/stepfunctions/responses.py StepFunctionResponse.send_task_failure: moto drops the
        # `cause`; Step Functions passes it on to the Catch (a rejection says who rejected, and when).
        def send_task_failure(responses: StepFunctionResponse) -> Any:
            responses.stepfunction_backend.send_task_failure(
                responses._get_param("taskToken"),
                error=responses._get_param("error"),
                cause=responses._get_param("cause"),
            )
            return EmptyResult()

        stack.enter_context(mock.patch.object(StepFunctionResponse, "send_task_failure", send_task_failure))

        # PATCH 12 - moto/stepfunctions/parser/models.py StepFunctionsParserBackend.start_execution: without a
        # `name`, moto names the execution "None" (so a second one returns the first, or fails as already
        # existing); Step Functions names it with a UUID. The AWS CLI's start-execution omits it by default.
        original_start_execution = StepFunctionsParserBackend.start_execution

        def start_execution(
            backend: StepFunctionsParserBackend,
            state_machine_arn: str,
            name: str | None = None,
            execution_input: str | None = None,
            trace_header: str | None = None,
        ) -> Any:
            name = name or str(uuid.uuid4())
            return original_start_execution(backend, state_machine_arn, name, execution_input, trace_header)

        stack.enter_context(mock.patch.object(StepFunctionsParserBackend, "start_execution", start_execution))

        # PATCH 7 - moto/logs/utils.py EventMessageFilter: moto treats a pattern starting with "?" as
        # "match everything" and bare terms as one phrase; apply CloudWatch's term semantics instead.
        def filter_init(self: EventMessageFilter, pattern: str) -> None:
            self.pattern = pattern or ""

        def filter_matches(self: EventMessageFilter, message: str) -> bool:
            return log_filter_matches(self.pattern, message)

        stack.enter_context(mock.patch.object(EventMessageFilter, "__init__", filter_init))
        stack.enter_context(mock.patch.object(EventMessageFilter, "matches", filter_matches))

        # PATCH 8 - moto/dynamodb/models DynamoDBBackend writes: DynamoDB evaluates a condition and writes
        # atomically; moto does not lock, so concurrent executions could both win a conditional put.
        write_lock = threading.RLock()
        for method in ("put_item", "update_item", "delete_item", "transact_write_items"):
            original = getattr(DynamoDBBackend, method)

            def atomic(*args: Any, _original: Callable[..., Any] = original, **kwargs: Any) -> Any:
                with write_lock:
                    return _original(*args, **kwargs)

            stack.enter_context(mock.patch.object(DynamoDBBackend, method, atomic))

        # PATCH 9 - moto/ecs/models.py EC2ContainerServiceBackend.update_service: moto makes a new desired
        # count run instantly; ECS starts tasks over minutes. Keep the running count until virtual time
        # passes (complete_ecs_deployments), so a runbook that does not wait cannot see its fix as done.
        ecs_backend_class = type(ecs_backends[self.account_id][self.region])
        original_update_service = ecs_backend_class.update_service

        def update_service(backend: Any, service_properties: dict[str, Any]) -> Any:
            key = (
                f"{service_properties.get('cluster', 'default').split('/')[-1]}:"
                f"{service_properties['service'].split('/')[-1]}"
            )
            previous = backend.services.get(key)
            running_before = previous.running_count if previous else None
            replacing = bool(
                service_properties.get("force_new_deployment") or service_properties.get("task_definition")
            )
            service = original_update_service(backend, service_properties)
            if replacing and service.deployments:  # new tasks start over minutes, like any rollout
                service.deployments[0].update(rolloutState="IN_PROGRESS")
            if running_before is not None and service.running_count != running_before:
                service.running_count = running_before
                service.pending_count = max(service.desired_count - running_before, 0)
                if service.deployments:
                    service.deployments[0].update(
                        rolloutState="IN_PROGRESS", runningCount=running_before, desiredCount=service.desired_count
                    )
            return service

        stack.enter_context(mock.patch.object(ecs_backend_class, "update_service", update_service))

        # PATCH 13 - moto/backup/urls.py `url_paths`: moto has no AWS Backup jobs (ListBackupJobs answers 404
        # "Not yet implemented"). Route `GET /backup-jobs/` to `_list_backup_jobs`, which answers from the jobs
        # the simulated world recorded with `put_backup_job`, filtered and paginated like AWS Backup.
        # PATCH 17 - the same `url_paths`: moto has no StartBackupJob (`PUT /backup-jobs`, the same path as
        # ListBackupJobs) nor DescribeBackupJob (`GET /backup-jobs/<id>`). `_backup_jobs_endpoint` sends a PUT to
        # `_start_backup_job`, which records an on-demand job (CREATED, idempotent per token) with `put_backup_job`;
        # `_describe_backup_job` answers from the recorded jobs. The simulated world runs the jobs to completion.
        stack.enter_context(
            mock.patch.dict(
                backup_urls.url_paths,
                {
                    "{0}/backup-jobs/?$": self._backup_jobs_endpoint,
                    "{0}/backup-jobs/(?P<job_id>[^/]+)$": self._describe_backup_job,
                },
            )
        )

    def _install_cloudwatch_patches(self, stack: ExitStack) -> None:
        """CloudWatch statistics and metric widget images the weekly performance review reads."""
        embedded = self

        # PATCH 14 - moto/cloudwatch/models.py Statistics.get_statistics_for_type: moto knows Sum, Average, Minimum,
        # Maximum and SampleCount only; a percentile statistic (p95, p99.9) comes back None and GetMetricData fails.
        # CloudWatch computes a percentile over each period's raw values: nearest rank here.
        original_statistic = Statistics.get_statistics_for_type

        def statistic(statistics: Statistics, stat: str) -> Any:
            match = _PERCENTILE_STAT.fullmatch(stat)
            if match is None:
                return original_statistic(statistics, stat)
            return percentile(statistics.metric_single_values_list, float(match.group(1)))

        stack.enter_context(mock.patch.object(Statistics, "get_statistics_for_type", statistic))

        # PATCH 15 - moto/cloudwatch/responses.py CloudWatchResponse has no get_metric_widget_image (moto raises
        # NotImplementedError). Draw the widget's metrics, read from moto's CloudWatch backend the way GetMetricData
        # reads them (metric_widget_lines), as a PNG of the widget's size (simulator/widget_image.py).
        def get_metric_widget_image(responses: CloudWatchResponse) -> ActionResult:
            widget = json.loads(responses._get_param("MetricWidget"))
            lines, start, end = embedded.metric_widget_lines(widget)
            return ActionResult({"MetricWidgetImage": render_png(widget, lines, start, end)})

        stack.enter_context(
            mock.patch.object(CloudWatchResponse, "get_metric_widget_image", get_metric_widget_image, create=True)
        )

    # ------------------------------------------------------------------ simulated AWS Backup and S3 times

    def put_backup_job(self, job: dict[str, Any], region: str | None = None) -> None:
        """Record (or replace, by `BackupJobId`) a backup job as ListBackupJobs returns it; datetimes as
        timezone-aware `datetime`s. The simulated world runs the nightly backup this way."""
        with self._backup_jobs_lock:
            self._backup_jobs.setdefault(region or self.region, {})[job["BackupJobId"]] = dict(job)

    def backup_jobs(self, region: str | None = None) -> list[dict[str, Any]]:
        with self._backup_jobs_lock:
            return [dict(job) for job in self._backup_jobs.get(region or self.region, {}).values()]

    def on_demand_backup_jobs(self, region: str | None = None) -> list[dict[str, Any]]:
        """The jobs StartBackupJob created (PATCH 17), as recorded now."""
        with self._backup_jobs_lock:
            jobs = self._backup_jobs.get(region or self.region, {})
            return [dict(job) for job_id, job in jobs.items() if job_id in self._on_demand_backup_ids]

    def _list_backup_jobs(self, request: Any, full_url: str, headers: Any) -> tuple[int, dict[str, str], str]:
        """ListBackupJobs (REST-JSON, querystring filters; newest first; `maxResults` default 1000 and a
        `nextToken`), answered from `put_backup_job`'s jobs of the region named in the host."""
        url = urllib.parse.urlsplit(full_url)
        region = url.netloc.split(".")[1]
        query = {name: values[-1] for name, values in urllib.parse.parse_qs(url.query).items()}
        jobs = sorted(self.backup_jobs(region), key=lambda job: job["CreationDate"], reverse=True)
        exact = {
            "state": "State",
            "backupVaultName": "BackupVaultName",
            "resourceArn": "ResourceArn",
            "resourceType": "ResourceType",
            "accountId": "AccountId",
        }
        for parameter, field_name in exact.items():
            if parameter in query:
                jobs = [job for job in jobs if job.get(field_name) == query[parameter]]
        if "createdAfter" in query:
            jobs = [job for job in jobs if job["CreationDate"] >= _query_time(query["createdAfter"])]
        if "createdBefore" in query:
            jobs = [job for job in jobs if job["CreationDate"] <= _query_time(query["createdBefore"])]
        start = int(query.get("nextToken", "0"))
        size = int(query.get("maxResults", "1000"))
        page = jobs[start : start + size]
        body: dict[str, Any] = {
            "BackupJobs": [
                {key: value.timestamp() if isinstance(value, datetime) else value for key, value in job.items()}
                for job in page
            ]
        }
        if start + size < len(jobs):
            body["NextToken"] = str(start + size)
        return 200, {"Content-Type": "application/json"}, json.dumps(body)

    def _backup_jobs_endpoint(self, request: Any, full_url: str, headers: Any) -> tuple[int, dict[str, str], str]:
        """`/backup-jobs/`: PUT is StartBackupJob (PATCH 17), GET is ListBackupJobs (PATCH 13)."""
        if request.method == "PUT":
            return self._start_backup_job(request, full_url)
        return self._list_backup_jobs(request, full_url, headers)

    def _start_backup_job(self, request: Any, full_url: str) -> tuple[int, dict[str, str], str]:
        """StartBackupJob: an on-demand job in the vault (which must exist), CREATED now; the same IdempotencyToken
        for the same vault and resource returns the job it created."""
        region = urllib.parse.urlsplit(full_url).netloc.split(".")[1]
        body = json.loads(request.get_data() or b"{}")
        vault, resource = body["BackupVaultName"], body["ResourceArn"]
        if vault not in backup_backends[self.account_id][region].vaults:
            return _rest_json_error(404, "ResourceNotFoundException", f"Backup vault {vault} does not exist")
        token = body.get("IdempotencyToken") or uuid.uuid4().hex
        job_id = str(uuid.uuid5(uuid.NAMESPACE_URL, f"{vault}|{resource}|{token}")).upper()
        with self._backup_jobs_lock:
            job = self._backup_jobs.get(region, {}).get(job_id)
        if job is None:
            service, resource_name = resource.split(":")[2], re.split(r"[:/]", resource.split(":", 5)[5])[-1]
            job = {
                "AccountId": self.account_id,
                "BackupJobId": job_id,
                "BackupVaultName": vault,
                "BackupVaultArn": f"arn:aws:backup:{region}:{self.account_id}:backup-vault:{vault}",
                "RecoveryPointArn": f"arn:aws:backup:{region}:{self.account_id}:recovery-point:{job_id}",
                "ResourceArn": resource,
                "ResourceName": resource_name,
                "ResourceType": _BACKUP_RESOURCE_TYPES.get(service, service),
                "IamRoleArn": body.get("IamRoleArn", ""),
                "CreationDate": self.clock.now(),
                "State": "CREATED",
                "PercentDone": "0.0",
            }
            self.put_backup_job(job, region)
            with self._backup_jobs_lock:
                self._on_demand_backup_ids.add(job_id)
        answer = {
            "BackupJobId": job_id,
            "RecoveryPointArn": job["RecoveryPointArn"],
            "CreationDate": job["CreationDate"].timestamp(),
            "IsParent": False,
        }
        return 200, {"Content-Type": "application/json"}, json.dumps(answer)

    def _describe_backup_job(self, request: Any, full_url: str, headers: Any) -> tuple[int, dict[str, str], str]:
        """DescribeBackupJob of a job recorded with `put_backup_job` (the nightly ones or an on-demand one)."""
        url = urllib.parse.urlsplit(full_url)
        region, job_id = url.netloc.split(".")[1], urllib.parse.unquote(url.path.rstrip("/").rsplit("/", 1)[-1])
        with self._backup_jobs_lock:
            job = self._backup_jobs.get(region, {}).get(job_id)
        if job is None:
            return _rest_json_error(404, "ResourceNotFoundException", f"Backup job {job_id} does not exist")
        body = {key: value.timestamp() if isinstance(value, datetime) else value for key, value in job.items()}
        return 200, {"Content-Type": "application/json"}, json.dumps(body)

    def set_s3_last_modified(self, bucket: str, key: str, when: datetime) -> None:
        """The object's LastModified (moto stamps it with the real clock): a backup written at 02:00 virtual time."""
        stored = s3_backends[self.account_id]["aws"].get_object(bucket, key)
        if stored is None:
            raise KeyError(f"s3://{bucket}/{key} does not exist")
        stored.last_modified = when.astimezone(UTC).replace(tzinfo=None)

    # ------------------------------------------------------------------ the simulated world's bulk writes

    def put_metric_data(self, *, Namespace: str, MetricData: list[dict[str, Any]]) -> None:  # noqa: N803
        """`cloudwatch.put_metric_data(...)` for the simulated world (a day of history is thousands of datums), with
        the same arguments: straight into moto's CloudWatch backend, given the parameters as moto's request parser
        would (timestamps naive UTC, numbers floats), so it stores exactly what the API call stores. Skips botocore's
        validation and serialization and moto's parsing (~90 % of the call). tests/unit/test_emulator.py checks that
        both ways store the same datums."""
        cloudwatch_backends[self.account_id][self.region].put_metric_data(
            Namespace, [_parsed_metric_datum(datum) for datum in MetricData]
        )

    def put_log_events(self, *, logGroupName: str, logStreamName: str, logEvents: list[dict[str, Any]]) -> None:  # noqa: N803
        """`logs.put_log_events(...)` for the simulated world, with the same arguments, straight into moto's Logs
        backend like `put_metric_data` (its checks included: order, events older than 14 days)."""
        events = [{"timestamp": int(event["timestamp"]), "message": event["message"]} for event in logEvents]
        logs_backends[self.account_id][self.region].put_log_events(logGroupName, logStreamName, events)

    def visible_messages(self, queue_url: str) -> int:
        """How many messages ReceiveMessage could return from the queue now (moto's visible, undelayed ones), read
        from moto's SQS backend: the harness polls its notification inboxes while an execution runs, and asks for
        messages only when there are some (four ReceiveMessage calls every 50 ms took CPU from the execution)."""
        name = queue_url.rstrip("/").rsplit("/", 1)[-1]
        return len(sqs_backends[self.account_id][self.region].get_queue(name).messages)

    # ------------------------------------------------------------------ CloudWatch metric widgets

    def metric_widget_lines(self, widget: dict[str, Any]) -> tuple[list[WidgetLine], datetime, datetime]:
        """A metric widget's visible lines over its time range (what GetMetricWidgetImage draws, PATCH 15), read
        from moto's CloudWatch backend like GetMetricData: metric arrays `[namespace, name, dim, value, ...,
        {options}]` with CloudWatch's "." shorthand (the previous array's value at that position), expressions
        `[{"expression": ..., "id": ...}]` (+ - * /), options id/label/stat/period/visible/color; the widget's
        stat, period, start and end (ISO 8601 or relative like "-P7D", on the virtual clock)."""
        now = self.clock.now()
        start = _widget_time(widget.get("start", "-PT3H"), now)
        end = _widget_time(widget["end"], now) if widget.get("end") else now
        period, default_stat = int(widget.get("period", 300)), widget.get("stat", "Average")
        queries: list[dict[str, Any]] = []
        entries: list[tuple[str, dict[str, Any], str | None]] = []  # (id, options, metric name or None)
        previous: list[Any] = []
        for index, metric in enumerate(widget.get("metrics", [])):
            options = metric[-1] if metric and isinstance(metric[-1], dict) else {}
            query_id = options.get("id") or f"m{index}"
            if "expression" in options:
                entries.append((query_id, options, None))
                continue
            parts = metric[:-1] if options else list(metric)
            parts = [previous[at] if part == "." and at < len(previous) else part for at, part in enumerate(parts)]
            previous = parts
            namespace, name, *pairs = parts
            dimensions = [{"Name": key, "Value": value} for key, value in zip(pairs[::2], pairs[1::2], strict=True)]
            stat = {"Period": int(options.get("period", period)), "Stat": options.get("stat", default_stat)}
            metric_stat = {"Metric": {"Namespace": namespace, "MetricName": name, "Dimensions": dimensions}} | stat
            queries.append({"Id": query_id, "MetricStat": metric_stat, "ReturnData": True})
            entries.append((query_id, options, name))
        backend = cloudwatch_backends[self.account_id][self.region]
        naive_start, naive_end = (instant.astimezone(UTC).replace(tzinfo=None) for instant in (start, end))
        results = backend.get_metric_data(queries, naive_start, naive_end, "TimestampAscending") if queries else []
        series = {  # moto keeps naive UTC datetimes
            result["id"]: {
                stamp.replace(tzinfo=UTC): float(value)
                for stamp, value in zip(result["timestamps"], result["values"], strict=True)
                if value is not None
            }
            for result in results
        }
        for query_id, options, _ in entries:
            if "expression" in options:
                series[query_id] = _metric_math(options["expression"], series)
        lines = []
        for query_id, options, name in entries:
            if options.get("visible", True) is False:
                continue
            points = sorted(series.get(query_id, {}).items())
            lines.append(
                WidgetLine(
                    options.get("label") or name or query_id,
                    tuple(stamp for stamp, _ in points),
                    tuple(value for _, value in points),
                    options.get("color"),
                )
            )
        return lines, start, end

    # ------------------------------------------------------------------ HTTP endpoint

    @contextmanager
    def serve_http(self, host: str = "127.0.0.1", port: int = 0) -> Iterator[str]:
        """Serve this emulated account over HTTP while the context lasts; yields the endpoint URL
        (``http://127.0.0.1:<port>``; port 0 picks a free one). OSError at once if the port is taken.

        For clients in other processes, e.g. ``aws --endpoint-url <url> stepfunctions start-execution``:
        their requests reach the same moto backends with every patch of this class (Lambda invokes run the
        registered handlers, Waits move the virtual clock). They are not product calls: not in ``api_calls()``.
        """
        if self._exit_stack is None:
            raise RuntimeError("EmbeddedAws is not active (use it as a context manager)")
        server = make_server(host, port, _http_gateway, threaded=True)
        thread = threading.Thread(target=server.serve_forever, name="embedded-aws-http", daemon=True)
        thread.start()
        try:
            yield f"http://{host}:{server.server_port}"
        finally:
            server.shutdown()
            server.server_close()
            thread.join(timeout=5)

    # ------------------------------------------------------------------ simulated ECS

    def _ecs_service(self, cluster: str, service_name: str, region: str | None = None) -> Any:
        return ecs_backends[self.account_id][region or self.region].services[f"{cluster}:{service_name}"]

    def complete_ecs_deployments(self, cluster: str, region: str | None = None) -> None:
        """ECS has had the time to start or stop tasks: every service runs its desired count (in `region`, default
        the account's own, e.g. the DR region's cluster)."""
        for key, service in ecs_backends[self.account_id][region or self.region].services.items():
            if key.startswith(f"{cluster}:") and service.running_count != service.desired_count:
                self.set_running_count(cluster, service.name, service.desired_count, region)

    def set_running_count(self, cluster: str, service_name: str, running: int, region: str | None = None) -> None:
        """Tasks started or stopped outside any API call (a crash, a finished rollout)."""
        service = self._ecs_service(cluster, service_name, region)
        service.running_count = running
        service.pending_count = max(service.desired_count - running, 0)
        if service.deployments:
            done = running >= service.desired_count
            service.deployments[0].update(
                rolloutState="COMPLETED" if done else "IN_PROGRESS",
                runningCount=running,
                desiredCount=service.desired_count,
            )

    def update_primary_deployment(self, cluster: str, service_name: str, **fields: Any) -> None:
        """Set fields of the service's primary deployment as ECS reports them (e.g. `rolloutState`, `failedTasks`):
        moto keeps one deployment per service and never counts failed tasks."""
        service = self._ecs_service(cluster, service_name)
        if service.deployments:
            service.deployments[0].update(fields)

    def add_service_event(self, cluster: str, service_name: str, message: str, at: datetime) -> None:
        """A service event, newest first like ECS's `events` (moto's services never have any)."""
        service = self._ecs_service(cluster, service_name)
        service.events = [{"id": str(uuid.uuid4()), "createdAt": at, "message": message}, *service.events][:100]

    def add_stopped_task(
        self,
        cluster: str,
        service_name: str,
        task_definition: str,
        *,
        started_by: str,
        stop_code: str,
        stopped_reason: str,
        exit_code: int | None,
        container_reason: str,
        created_at: datetime,
        started_at: datetime | None,
        stopped_at: datetime,
    ) -> str:
        """A task the service started and that stopped, as ECS keeps it for about an hour; returns its ARN.

        moto launches no task for a service, its RunTask fails on an awsvpc task definition (moto's ENI has no
        private_dns_name) and its StopTask records no stop code, times nor exit code. So the task is made as moto's
        own `Task` (built on a copy of the task definition outside awsvpc, the ARN unchanged), stopped, and given
        the fields ECS reports; ListTasks(desiredStatus=STOPPED) and DescribeTasks then answer like ECS
        (moto ignores ListTasks' serviceName: the task's group `service:<name>` tells whose it is).
        """
        backend = ecs_backends[self.account_id][self.region]
        definition = copy.copy(backend.describe_task_definition(task_definition))
        definition.network_mode = "bridge"
        task = EcsTask(
            cluster=backend._get_cluster(cluster),
            task_definition=definition,
            container_instance_arn=None,
            resource_requirements=None,
            backend=backend,
            group=f"service:{service_name}",
            launch_type="FARGATE",
            started_by=started_by,
        )
        task.last_status = "STOPPED"
        task.desired_status = "STOPPED"
        task.stopped_reason = stopped_reason
        task.stop_code = stop_code
        task.created_at, task.started_at, task.stopped_at = created_at, started_at, stopped_at
        for container in task.containers:
            container.last_status = "STOPPED"
            container.exitCode = exit_code
            container.reason = container_reason
        backend.tasks.setdefault(cluster, {})[task.task_arn] = task
        return task.task_arn

    # ------------------------------------------------------------------ Lambda

    def register_function(
        self, function_name: str, handler: LambdaHandler, *, timeout_s: int = 900, memory_mb: int = 128
    ) -> str:
        """Create the Lambda function in moto (so its ARN resolves) and route its invocations to ``handler``.

        Registering an existing name again just swaps the handler. Returns the function ARN.
        """
        with self._functions_lock:
            existing = self._functions.get(function_name)
        if existing is not None:
            arn = existing.arn
        else:
            arn = self.client("lambda").create_function(
                FunctionName=function_name,
                Runtime="python3.12",
                Role=self._execution_role_arn(),
                Handler="index.handler",
                Code={"ZipFile": _dummy_zip()},
                Timeout=timeout_s,
                MemorySize=memory_mb,
            )["FunctionArn"]
        with self._functions_lock:
            self._functions[function_name] = _RegisteredFunction(handler, arn, timeout_s, memory_mb)
        return arn

    def _invoke_handler(
        self,
        backend: LambdaSimpleBackend,
        *,
        function_name: str,
        qualifier: str | None,
        body: Any,
        headers: Any,
        response_headers: dict[str, str],
    ) -> bytes | None:
        """Behave like the Python Lambda runtime: JSON in, JSON out, unhandled exception -> function error."""
        function = backend.get_function(function_name, qualifier)  # raises ResourceNotFound like AWS
        invocation_type = _header(headers, "X-Amz-Invocation-Type", "RequestResponse")
        if invocation_type == "DryRun":
            return b""
        request_id = str(uuid.uuid4())
        with self._functions_lock:
            registered = self._functions.get(function.function_name)
        if registered is None:
            response_headers["x-amz-function-error"] = "Unhandled"
            message = f"No handler registered for {function.function_name} (EmbeddedAws.register_function)"
            return _function_error_payload("Runtime.HandlerNotFound", message, request_id, [])

        if self._take_armed(self._hangs, function.function_name, first_only=True):
            return self._time_out(registered, function.function_name, request_id, invocation_type, response_headers)

        invoked_arn = function_name if function_name.startswith("arn:") else registered.arn
        if qualifier and not function_name.startswith("arn:"):
            invoked_arn = f"{invoked_arn}:{qualifier}"
        context = LambdaContext(
            function_name=function.function_name,
            invoked_function_arn=invoked_arn,
            memory_limit_in_mb=registered.memory_mb,
            aws_request_id=request_id,
            log_group_name=f"/aws/lambda/{function.function_name}",
            log_stream_name=f"{self.clock.now():%Y/%m/%d}/[$LATEST]{uuid.uuid4().hex}",
            deadline_monotonic=time.monotonic() + registered.timeout_s,
        )
        raw = body.decode("utf-8") if isinstance(body, bytes) else body
        event = json.loads(raw) if raw else {}
        hooks = self._take_armed(self._before_invoke, function.function_name)
        with self._inflight_changed:
            self._inflight += 1
        try:
            for hook in hooks:  # a hook's exception is reported like the handler's own
                assert hook.callback is not None
                hook.callback(event)  # outside the lock below: a scenario's hook may wait for other executions
            # One invocation at a time: in Lambda each runs alone in its container, with the module-level state
            # (Powertools' Metrics and Logger) to itself; here every handler shares one process, and two running
            # at once race on that state (a storm's concurrent flushes fail with "Must contain at least one
            # metric"). Re-entrant: a handler may invoke another function synchronously, in this same thread.
            with _HANDLER_LOCK:
                result = registered.handler(event, context)
        except Exception as error:
            if invocation_type == "Event":  # async: the caller never sees the error
                LOG.warning("async invocation of %s failed", function.function_name, exc_info=True)
                return b""
            # The Python runtime reports errorType = exception class name (no module), HTTP 200 and the
            # X-Amz-Function-Error header; moto's SFN interpreter reads that header (FunctionError) and maps
            # Error := payload.errorType, Cause := payload JSON, exactly as Step Functions does.
            response_headers["x-amz-function-error"] = "Unhandled"
            handler_frames = error.__traceback__.tb_next if error.__traceback__ else None  # drop our frame
            stack = traceback.format_tb(handler_frames)
            return _function_error_payload(type(error).__name__, str(error), request_id, stack)
        finally:
            with self._inflight_changed:
                self._inflight -= 1
                self._inflight_changed.notify_all()
        if invocation_type == "Event":
            return b""
        if isinstance(result, bytes):  # the runtime passes bytes through untouched
            return result
        try:
            return json.dumps(result, default=_decimal_as_number).encode("utf-8")
        except (TypeError, ValueError) as error:
            response_headers["x-amz-function-error"] = "Unhandled"
            message = f"Unable to marshal response: {error}"
            return _function_error_payload("Runtime.MarshalError", message, request_id, [])

    def _time_out(
        self,
        registered: _RegisteredFunction,
        function_name: str,
        request_id: str,
        invocation_type: str,
        response_headers: dict[str, str],
    ) -> bytes:
        """The invocation ran for the whole configured timeout and Lambda stopped it (hang_function)."""
        if invocation_type == "Event":  # async: nobody waits for it, and the caller never sees the error
            LOG.warning("async invocation of %s timed out (hang_function)", function_name)
            return b""
        self.clock.advance(registered.timeout_s)
        response_headers["x-amz-function-error"] = "Unhandled"
        return _timed_out_payload(request_id, registered.timeout_s)

    def _execution_role_arn(self) -> str:
        """One IAM role for functions and state machines (moto's Lambda insists that the role exists)."""
        if self._role_arn is None:
            trust = {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Effect": "Allow",
                        "Principal": {"Service": ["lambda.amazonaws.com", "states.amazonaws.com"]},
                        "Action": "sts:AssumeRole",
                    }
                ],
            }
            self._role_arn = self.client("iam").create_role(
                RoleName=SIMULATOR_ROLE_NAME, AssumeRolePolicyDocument=json.dumps(trust)
            )["Role"]["Arn"]
        return self._role_arn

    # ------------------------------------------------------------------ API accounting

    def client(self, service_name: str, region: str | None = None) -> Any:
        """boto3 client for simulator/test code: same moto backend, but its calls are NOT counted. `region`: another
        region of the same account (e.g. the DR region), default the account's own."""
        if self._session is None:
            raise RuntimeError("EmbeddedAws is not active (use it as a context manager)")
        key = (service_name, region or self.region)
        with self._clients_lock:  # botocore clients are thread-safe; creating one costs ~10 ms
            if key not in self._clients:
                # Kept for the process, like the handlers' own clients: moto intercepts a client created under an
                # earlier EmbeddedAws just the same (PATCH 5), and every scenario would otherwise create ~15.
                if key not in _SIMULATOR_CLIENTS:
                    _SIMULATOR_CLIENTS[key] = _mark_uncounted(self._session.client(service_name, region_name=key[1]))
                self._clients[key] = _SIMULATOR_CLIENTS[key]
            return self._clients[key]

    def _count(self, key: str) -> None:
        with self._calls_lock:
            self._calls[key] += 1

    def api_calls(self) -> dict[str, int]:
        """Calls made by product code (handlers, state machine service integrations): {"sns.Publish": 1}."""
        with self._calls_lock:
            return dict(self._calls)

    def reset_api_calls(self) -> None:
        """Forget the calls counted so far (e.g. after scenario set-up that used default-session clients)."""
        with self._calls_lock:
            self._calls.clear()

    # ------------------------------------------------------------------ misbehaviour

    def inject_fault(
        self,
        operation: str,
        error_code: str,
        *,
        times: int | None = 1,
        message: str = "",
        http_status: int = 400,
        when: Callable[[dict[str, Any]], bool] | None = None,
    ) -> FaultHandle:
        """Make the next ``times`` product calls of ``operation`` ("ecs.UpdateService", as in ``api_calls()``)
        fail with ``error_code`` (``times=None``: until cleared); with ``when``, only calls whose API
        parameters satisfy ``when(params)``.

        Product calls are those ``api_calls()`` counts: handlers' boto3 clients and the state machine's own
        service integrations (``arn:aws:states:::sns:publish``, ``dynamodb:putItem``...), which then fail as
        Step Functions reports them (moto names e.g. an SNS code ``X`` as ``SNS.XException``). Not the
        ``aws.client(...)`` clients, nor the interpreter's lambda clients running Lambda Tasks.

        The call raises what botocore raises for that code: the client's modeled exception class when the
        service defines one (``ssm.exceptions.ParameterNotFound``), else ``ClientError`` - both carry
        ``{"Error": {"Code", "Message"}, "ResponseMetadata": {"HTTPStatusCode": http_status, ...}}``. It is
        raised ABOVE botocore's retry layer: botocore does not retry it, so it models an error that outlasted
        botocore's own retries (a throttle that persisted, a service outage), not a single transient one.
        Faulted calls still count in ``api_calls()`` (they were made) and are listed in ``injected_faults()``.

        Arm faults after scenario set-up: set-up made through default-session boto3 clients is counted too.
        """
        service_name, _, operation_name = operation.partition(".")
        if not service_name or not operation_name:
            raise ValueError(f"operation must look like 'ecs.UpdateService', not {operation!r}")
        operations = self.client(service_name).meta.service_model.operation_names  # unknown service raises
        if operation_name not in operations:
            raise ValueError(f"{service_name} has no operation {operation_name!r} (botocore's names are PascalCase)")
        fault = FaultHandle(
            operation,
            error_code,
            times=times,
            message=message or f"{error_code} (injected by EmbeddedAws.inject_fault)",
            http_status=http_status,
            when=when,
            lock=self._armed_lock,
            release=functools.partial(self._disarm, self._faults),
        )
        with self._armed_lock:
            self._faults.append(fault)
        return fault

    def clear_faults(self) -> None:
        """Disarm every injected fault (``injected_faults()`` keeps the record of those already raised)."""
        with self._armed_lock:
            self._faults.clear()

    def injected_faults(self) -> list[dict[str, Any]]:
        """Faults raised so far, in order: {"operation", "code", "params" (summary), "at" (virtual ISO time)}."""
        with self._armed_lock:
            return [dict(record) for record in self._injected]

    def _raise_injected_fault(
        self, client: botocore.client.BaseClient, operation: str, operation_name: str, api_params: dict[str, Any]
    ) -> None:
        with self._armed_lock:
            fault = next(
                (
                    fault
                    for fault in list(self._faults)
                    if fault.operation == operation and (fault.when is None or fault.when(api_params))
                ),
                None,
            )
            if fault is None:
                return
            if fault._consume():
                self._disarm(self._faults, fault)
            self._injected.append(
                {
                    "operation": operation,
                    "code": fault.error_code,
                    "params": _summarise_params(api_params),
                    "at": self.clock.now().isoformat(),
                }
            )
        request_id = str(uuid.uuid4())
        response: dict[str, Any] = {
            "Error": {"Code": fault.error_code, "Message": fault.message},
            "ResponseMetadata": {
                "RequestId": request_id,  # moto's SFN integrations quote it in the failure Cause
                "HTTPStatusCode": fault.http_status,
                "HTTPHeaders": {"x-amzn-requestid": request_id},
                "RetryAttempts": 0,
            },
        }
        error_class: type[ClientError] = client.exceptions.from_code(fault.error_code)
        raise error_class(response, operation_name)

    def before_invoke(
        self, function_name: str, callback: Callable[[Any], None], *, times: int | None = 1
    ) -> InvokeHandle:
        """Run ``callback(event)`` just before the handler of ``function_name`` runs, for the next ``times``
        invocations (None: until cleared) - to change the world at a precise step (an alarm back to OK...).

        The callback runs in the invoking thread with the very event the handler then receives; an
        exception it raises is reported as the handler's (a function error, as if the handler raised it).
        Invocations that do not reach the handler (``hang_function``, DryRun) neither run nor spend it.
        """
        hook = InvokeHandle(
            function_name,
            callback,
            times=times,
            lock=self._armed_lock,
            release=functools.partial(self._disarm, self._before_invoke),
        )
        with self._armed_lock:
            self._before_invoke.append(hook)
        return hook

    def hang_function(self, function_name: str, *, times: int | None = 1) -> InvokeHandle:
        """The next ``times`` invocations of ``function_name`` (None: until cleared) run past its configured
        timeout (``register_function(timeout_s=)``): the handler is not called, the virtual clock advances by
        that timeout, and Lambda's timeout error comes back: ``X-Amz-Function-Error: Unhandled`` with
        ``{"errorType": "Sandbox.Timedout", "errorMessage": "RequestId: <id> Error: Task timed out after
        30.00 seconds"}``, so a Step Functions Lambda Task fails with Error ``Sandbox.Timedout`` (matched by
        ``States.ALL`` / ``States.TaskFailed`` / ``Sandbox.Timedout``).

        Not modelled: a Task whose own ``TimeoutSeconds`` is shorter than the function's timeout would fail
        first with ``States.Timeout`` on AWS; here it still gets ``Sandbox.Timedout`` (the Task timeout is
        wall-clock in moto). Asynchronous (``Event``) invocations just lose the call.
        """
        hang = InvokeHandle(
            function_name,
            None,
            times=times,
            lock=self._armed_lock,
            release=functools.partial(self._disarm, self._hangs),
        )
        with self._armed_lock:
            self._hangs.append(hang)
        return hang

    def _take_armed(
        self, armed: list[InvokeHandle], function_name: str, *, first_only: bool = False
    ) -> list[InvokeHandle]:
        """Spend one use of the handles armed for ``function_name`` (all, or the oldest); return them."""
        with self._armed_lock:
            taken = [handle for handle in armed if handle.function_name == function_name]
            taken = taken[:1] if first_only else taken
            for handle in taken:
                if handle._consume():
                    armed.remove(handle)
            return taken

    def _disarm(self, armed: list[Any], handle: _Armed) -> None:
        with self._armed_lock:
            if handle in armed:
                armed.remove(handle)

    # ------------------------------------------------------------------ Step Functions

    def deploy_state_machine(
        self,
        name: str,
        definition: dict[str, Any] | str,
        role_arn: str | None = None,
    ) -> str:
        """Create a STANDARD state machine from an ASL dict or JSON string; returns its ARN."""
        body = definition if isinstance(definition, str) else json.dumps(definition)
        return self.client("stepfunctions").create_state_machine(
            name=name, definition=body, roleArn=role_arn or self._execution_role_arn()
        )["stateMachineArn"]

    def start_execution(
        self, state_machine_arn: str, input: dict[str, Any] | None = None, name: str | None = None
    ) -> str:
        """Start an execution without waiting (several may run concurrently); returns the execution ARN."""
        # moto builds the ARN from `name` verbatim (":None" when omitted), so always pass one.
        response = self.client("stepfunctions").start_execution(
            stateMachineArn=state_machine_arn,
            name=name or f"exec-{uuid.uuid4().hex[:12]}",
            input=json.dumps(input if input is not None else {}),
        )
        self._started_executions.append(response["executionArn"])
        return response["executionArn"]

    def wait_for(self, execution_arn: str, timeout_s: float = 60, poll_s: float = 0.01) -> ExecutionResult:
        """Wait (real time) until the execution leaves RUNNING; ExecutionStillRunningError after timeout_s. The status
        is polled in moto's backend (no API call, so polling often costs nothing), then described through the API."""
        sfn, execution = self.client("stepfunctions"), self._execution(execution_arn)
        deadline = time.monotonic() + timeout_s
        while True:
            while execution.exec_status == _RUNNING and time.monotonic() <= deadline:
                time.sleep(poll_s)
            description = sfn.describe_execution(executionArn=execution_arn)
            # moto sets a SUCCEEDED status an instant before the output: describe again if it came in between.
            settled = description["status"] != "SUCCEEDED" or "output" in description
            if description["status"] != _RUNNING and settled:
                break
            if time.monotonic() > deadline:
                entered = _state_transitions(self._history(execution_arn))
                raise ExecutionStillRunningError(
                    f"{execution_arn} still RUNNING after {timeout_s} s wall time; states entered: {entered}"
                )
            time.sleep(poll_s)
        history = self._history(execution_arn)
        output = description.get("output")
        return ExecutionResult(
            execution_arn=execution_arn,
            status=description["status"],
            output=json.loads(output) if output is not None else None,
            error=description.get("error"),
            cause=description.get("cause"),
            history=history,
            state_transitions=_state_transitions(history),
        )

    def run_execution(
        self,
        state_machine_arn: str,
        input: dict[str, Any] | None = None,
        name: str | None = None,
        timeout_s: float = 60,
    ) -> ExecutionResult:
        """Start an execution and wait until it finishes."""
        return self.wait_for(self.start_execution(state_machine_arn, input, name), timeout_s=timeout_s)

    def _execution(self, execution_arn: str) -> Any:
        """moto's Execution (its Step Functions backend's, as the API would find it: unknown ARNs raise the same)."""
        region = execution_arn.split(":")[3]
        return stepfunctions_parser_backends[self.account_id][region].describe_execution(execution_arn)

    def _history(self, execution_arn: str) -> list[dict[str, Any]]:
        """GetExecutionHistory's events, every page, as a botocore client returns them, read from moto's backend
        rather than through the API, whose serializer costs ~50 ms per execution (a storm's 100 took 5 s). moto keeps
        the events as the API returns them but for `timestamp` (an ISO string, which a client returns as a datetime
        from epoch seconds) and `type` (a str enum). tests/unit/test_emulator.py checks that both ways agree."""
        events = json.loads(json.dumps(self._execution(execution_arn).to_history_output()["events"]))
        for event in events:
            instant = datetime.fromisoformat(event["timestamp"].replace("Z", "+00:00"))
            event["timestamp"] = parse_timestamp(instant.timestamp())
        return events


def _parsed_metric_datum(datum: dict[str, Any]) -> dict[str, Any]:
    """A PutMetricData datum as moto's request parser hands it to the backend (EmbeddedAws.put_metric_data)."""
    parsed = dict(datum)
    if isinstance(parsed.get("Timestamp"), datetime) and parsed["Timestamp"].tzinfo is not None:
        parsed["Timestamp"] = parsed["Timestamp"].astimezone(UTC).replace(tzinfo=None)
    if "Value" in parsed:
        parsed["Value"] = float(parsed["Value"])
    for key in ("Values", "Counts"):
        if key in parsed:
            parsed[key] = [float(value) for value in parsed[key]]
    return parsed


def _state_transitions(history: list[dict[str, Any]]) -> list[str]:
    """Names of the states entered, in order (moto emits `<Kind>StateEntered`, e.g. TaskStateEntered).

    States inside Parallel branches / Map iterations appear too, interleaved as they ran.
    """
    entered = (event for event in history if event["type"].endswith("StateEntered"))
    return [event["stateEnteredEventDetails"]["name"] for event in entered]


def event_pattern_matches(pattern: dict[str, Any] | str, event: dict[str, Any]) -> bool:
    """EventBridge rule matching, by moto's implementation, so rules are delivered exactly as moto would."""
    raw = pattern if isinstance(pattern, str) else json.dumps(pattern)
    return EventPattern.load(raw).matches_event(event)


_LOG_TERM = re.compile(r'([?-]?)("(?:[^"\\]|\\.)*"|\S+)')


@functools.lru_cache(maxsize=256)
def _log_filter_terms(pattern: str) -> tuple[list[str], list[str], list[str]] | None:
    """(required, optional, excluded) terms of a pattern, parsed once; None: the pattern matches every line."""
    text = pattern.strip()
    if text in {"", '""'}:
        return None
    if text.startswith(("{", "[")):
        raise NotImplementedError(f"log filter pattern {pattern!r} is not modelled by the emulator")
    required: list[str] = []
    optional: list[str] = []
    excluded: list[str] = []
    for prefix, term in _LOG_TERM.findall(text):
        word = term[1:-1] if term.startswith('"') and term.endswith('"') and len(term) > 1 else term
        {"?": optional, "-": excluded}.get(prefix, required).append(word)
    return required, optional, excluded


def log_filter_matches(pattern: str, message: str) -> bool:
    """CloudWatch Logs term patterns: `a b` (all), `?a ?b` (any), `-a` (not), `"quoted phrase"`.

    JSON (`{ $.x = 1 }`) and space-delimited (`[a, b]`) patterns are not modelled: they raise, so a scenario
    using one fails loudly instead of silently matching everything.
    """
    terms = _log_filter_terms(pattern)
    if terms is None:
        return True
    required, optional, excluded = terms
    if any(word in message for word in excluded):
        return False
    if not all(word in message for word in required):
        return False
    return not optional or any(word in message for word in optional)


# -- CloudWatch statistics and metric widgets (PATCH 14, PATCH 15) ---------------------------------------------
_PERCENTILE_STAT = re.compile(r"p(\d{1,2}(?:\.\d+)?|100)")
# ISO 8601 durations CloudWatch accepts for a widget's relative start/end, e.g. -P7D, -PT3H.
_RELATIVE_TIME = re.compile(r"-P(?:(\d+)W)?(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+)S)?)?")
_ARITHMETIC = {ast.Add: float.__add__, ast.Sub: float.__sub__, ast.Mult: float.__mul__, ast.Div: float.__truediv__}


def percentile(values: list[float], rank_percent: float) -> float | None:
    """Nearest-rank percentile of the values (None without values)."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(1, math.ceil(rank_percent / 100 * len(ordered))) - 1]


def _widget_time(value: str, now: datetime) -> datetime:
    relative = _RELATIVE_TIME.fullmatch(value)
    if relative:
        weeks, days, hours, minutes, seconds = (int(part or 0) for part in relative.groups())
        return now - timedelta(weeks=weeks, days=days, hours=hours, minutes=minutes, seconds=seconds)
    return datetime.fromisoformat(value.replace("Z", "+00:00")).astimezone(UTC)


def _metric_math(expression: str, series: dict[str, dict[datetime, float]]) -> dict[datetime, float]:
    """Metric math of + - * / over other lines' ids and numbers, at the timestamps every referenced line has."""
    tree = ast.parse(expression, mode="eval")
    names = sorted({node.id for node in ast.walk(tree) if isinstance(node, ast.Name)})
    stamps = set.intersection(*(set(series.get(name, {})) for name in names)) if names else set()
    result = {}
    for stamp in sorted(stamps):
        value = _arithmetic(tree.body, {name: series[name][stamp] for name in names})
        if value is not None:
            result[stamp] = value
    return result


def _arithmetic(node: ast.AST, values: dict[str, float]) -> float | None:
    if isinstance(node, ast.Constant) and isinstance(node.value, int | float) and not isinstance(node.value, bool):
        return float(node.value)
    if isinstance(node, ast.Name):
        return values[node.id]
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
        operand = _arithmetic(node.operand, values)
        return None if operand is None else -operand
    if isinstance(node, ast.BinOp) and type(node.op) in _ARITHMETIC:
        left, right = _arithmetic(node.left, values), _arithmetic(node.right, values)
        if left is None or right is None or (isinstance(node.op, ast.Div) and right == 0):
            return None  # CloudWatch leaves the point out
        return _ARITHMETIC[type(node.op)](left, right)
    raise NotImplementedError(f"metric math {ast.unparse(node)!r} is not modelled by the emulator (+ - * / only)")


# -- IAM last-accessed (PATCH 21) -------------------------------------------------------------------------------
_SERVICE_NAMES = {
    "cloudwatch": "Amazon CloudWatch",
    "dynamodb": "Amazon DynamoDB",
    "ecr": "Amazon Elastic Container Registry",
    "ecs": "Amazon Elastic Container Service",
    "iam": "AWS Identity and Access Management",
    "kms": "AWS Key Management Service",
    "logs": "Amazon CloudWatch Logs",
    "s3": "Amazon S3",
    "secretsmanager": "AWS Secrets Manager",
    "sns": "Amazon SNS",
    "sqs": "Amazon SQS",
    "ssm": "AWS Systems Manager",
    "sts": "AWS Security Token Service",
    "xray": "AWS X-Ray",
}


@functools.cache
def _every_namespace() -> tuple[str, ...]:
    """What `"Action": "*"` grants: every service botocore knows (close to IAM's list of service namespaces)."""
    return tuple(sorted(botocore.session.get_session().get_available_services()))


def _policy_namespaces(document: str | dict) -> set[str]:
    """The service namespaces an identity policy's Allow statements grant (`s3:Get*` -> s3; `*` or NotAction -> all);
    what IAM lists in a last-accessed report, at service level."""
    parsed = json.loads(urllib.parse.unquote(document)) if isinstance(document, str) else document
    statements = parsed.get("Statement", [])
    namespaces: set[str] = set()
    for statement in statements if isinstance(statements, list) else [statements]:
        if statement.get("Effect") != "Allow":
            continue
        if "NotAction" in statement:
            return set(_every_namespace())
        actions = statement.get("Action", [])
        for action in [actions] if isinstance(actions, str) else actions:
            if action == "*":
                return set(_every_namespace())
            namespaces.add(action.split(":", 1)[0].lower())
    return namespaces


def _granted_namespaces(role: Any) -> dict[str, list[dict[str, str]]]:
    """Service namespace -> the role's policies granting it, as ListPoliciesGrantingServiceAccess lists them."""
    grants: dict[str, list[dict[str, str]]] = {}
    for name, document in role.policies.items():
        for namespace in _policy_namespaces(document):
            grants.setdefault(namespace, []).append(
                {"PolicyName": name, "PolicyType": "INLINE", "EntityType": "ROLE", "EntityName": role.name}
            )
    for policy in role.managed_policies.values():
        default = next(version for version in policy.versions if version.is_default)
        for namespace in _policy_namespaces(default.document):
            grants.setdefault(namespace, []).append(
                {"PolicyName": policy.name, "PolicyType": "MANAGED", "PolicyArn": policy.arn}
            )
    return grants
