"""Normalize: an alarm event, a schedule or a console input becomes one validated request.

One module per runbook family (as the nested stacks group them), so that a Lambda handler builds only the pydantic
models its own runbook needs at cold start (each model compiles its validator when its class is created); `common`
holds what they share."""
