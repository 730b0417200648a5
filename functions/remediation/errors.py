"""Typed failures. Each class name is the `Error` Step Functions sees, so ASL Retry/Catch match on it."""


class RunbookError(Exception):
    """Base of every failure a runbook step raises on purpose."""


class InvalidInput(RunbookError):
    """The execution input or triggering event cannot be acted on; nothing was changed."""


class ServiceNotFound(RunbookError):
    """The configured ECS service does not exist or is not active."""


class AwsThrottled(RunbookError):
    """An AWS API throttled the call; safe to retry with backoff."""


class AwsAccessDenied(RunbookError):
    """The function's role lacks a permission; retrying cannot help."""


class AwsCallFailed(RunbookError):
    """Any other AWS API error."""


class WriteRefused(RunbookError):
    """The guard refused a write asked for by hand (below the floor, above the cap, no budget left)."""


class FlagStoreUnavailable(RunbookError):
    """The automation flags cannot be read; the guard fails closed (no action, a page)."""


class ParameterNotFound(RunbookError):
    """An SSM parameter (or the version of it that is needed) does not exist; nothing was written."""


class LeaseLost(RunbookError):
    """The run no longer holds the lease it needs for its next write; nothing was written."""
