"""One synthesis per session: the real app, from the real cdk.json context, with both environments' stacks."""

from __future__ import annotations

import pytest

from tests.infrastructure.support import CONTEXT, ENVIRONMENTS, SynthesizedStack, synthesize


@pytest.fixture(scope="session")
def synthesized_app(tmp_path_factory) -> dict[str, SynthesizedStack]:
    """Environment name -> its stack, from one App holding every environment of cdk.json."""
    stacks = synthesize(CONTEXT, tmp_path_factory.mktemp("cdk.out"))
    assert sorted(stacks) == sorted(ENVIRONMENTS), "cdk.json and the tests disagree on the environments"
    return stacks


@pytest.fixture(scope="session", params=ENVIRONMENTS)
def synthesized(request, synthesized_app) -> SynthesizedStack:
    """Each environment's stack in turn."""
    return synthesized_app[request.param]


@pytest.fixture(scope="session")
def production(synthesized_app) -> SynthesizedStack:
    return synthesized_app["production"]
