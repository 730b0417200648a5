"""Least privilege and the Lambda steps' runtime contract (environment, tracing, importable handlers)."""

from __future__ import annotations

import json
import re

from remediation.settings import Settings
from simulator.synthesized import load_handler
from tests.infrastructure.support import (
    ACCOUNT,
    REGION,
    SynthesizedStack,
    actions_cover,
    ecs_service_arn,
    policy_statements,
)

_WHOLE_SERVICE = re.compile(r"^(\*|[a-z0-9-]+:\*)$", re.IGNORECASE)
# The only steps that may change a service's desired count: the act step and its undo.
WRITING_HANDLERS = {
    "remediation.handlers.high_cpu.scale_out",
    "remediation.handlers.high_cpu.restore_prior_count",
    "remediation.handlers.scale_agent.set_desired_count",
    "remediation.handlers.high_cpu.resize_task",  # deploys an approved bigger task definition
    "remediation.handlers.high_cpu.roll_back_resize",  # the prior task definition after a failed resize
    "remediation.handlers.restart_agent.force_new_deployment",
    "remediation.handlers.complete_outage.fail_over",  # the DR region's services, after a person approved
    "remediation.handlers.rollback.roll_back",  # deploys an earlier revision of the service's own family
    "remediation.handlers.memory_leak.restart",  # forces a new deployment of a leaking service
    "remediation.handlers.service_unavailable.recover",  # rolls back a failing release, or forces a new deployment
    "remediation.handlers.config_update.apply_config",  # forces a new deployment after writing the config
    "remediation.handlers.config_update.restore_previous_config",  # ... and after restoring the previous one
    "remediation.handlers.data_breach.isolate_service",  # desired 0, only after an approval (logic/guard.py)
    "remediation.handlers.data_breach.restore_service",  # the recorded prior count, after an approval
}
SEARCH_LOGS_HANDLER = "remediation.handlers.investigate.search_logs"
# The steps that read the agents' log group: the shared search, config-update's "Configuration loaded" check, and
# data-breach's investigation and forensic copy of the service's lines.
LOG_READING_HANDLERS = {
    SEARCH_LOGS_HANDLER,
    "remediation.handlers.config_update.check_config_loaded",
    "remediation.handlers.data_breach.read_service_logs",
    "remediation.handlers.data_breach.preserve_evidence",
}
# The only steps that may overwrite an agent's configuration parameter: config-update's write and its undo.
CONFIG_WRITING_HANDLERS = {
    "remediation.handlers.config_update.apply_config",
    "remediation.handlers.config_update.restore_previous_config",
}


# The only steps that touch the DR region's copy of the agents (complete-outage); only fail_over writes.
DR_HANDLERS = {
    "remediation.handlers.complete_outage.plan_failover",
    "remediation.handlers.complete_outage.fail_over",
    "remediation.handlers.complete_outage.check_dr_ready",
}


def _dr_services(config) -> list[str]:
    return sorted(
        ecs_service_arn(config.dr.cluster_name, service, region=config.dr.region) for service in config.service_names
    )


def _is_account_root(synthesized: SynthesizedStack, principal) -> bool:
    return synthesized.resolver().resolve(principal) == {"AWS": f"arn:aws:iam::{ACCOUNT}:root"}


def _handlers_of(synthesized: SynthesizedStack, roles: tuple[str, ...]) -> set[str | None]:
    return {synthesized.function_of_role(role) for role in roles}


def test_no_statement_allows_every_action_or_every_action_of_a_service(synthesized):
    """Wildcard actions appear only in Deny guards (TLS only) and in the KMS default key policy, which delegates
    the key to this account's IAM (https://docs.aws.amazon.com/kms/latest/developerguide/key-policy-default.html)."""
    offending = [
        (statement.source, statement.actions)
        for statement in policy_statements(synthesized)
        if statement.effect == "Allow"
        and any(_WHOLE_SERVICE.match(action) for action in statement.actions)
        and not (
            synthesized.resources[statement.source]["Type"] == "AWS::KMS::Key"
            and _is_account_root(synthesized, statement.principal)
        )
    ]
    assert offending == []


def test_ecs_actions_are_scoped_to_exactly_the_configured_services_and_only_act_steps_may_update_them(synthesized):
    config = synthesized.config
    resolver = synthesized.resolver()
    expected = sorted(ecs_service_arn(config.cluster_name, service) for service in config.service_names)
    # Service actions only: task-definition actions (Describe/RegisterTaskDefinition) have no resource scope, and the
    # task reads (ListTasks/DescribeTasks) are scoped to the cluster (see test_service_unavailable.py).
    ecs_statements = [
        s
        for s in policy_statements(synthesized)
        if s.effect == "Allow"
        and any(
            a.lower().startswith("ecs:")
            and "taskdefinition" not in a.lower()
            and a.lower() not in ("ecs:listtasks", "ecs:describetasks")
            for a in s.actions
        )
    ]
    updates = [s for s in ecs_statements if actions_cover(s.actions, "ecs:UpdateService")]

    assert updates, "the scale-out step must be allowed to update the services"
    for statement in ecs_statements:
        resources = sorted(resolver.resolve(list(statement.resources)))
        if set(resources) & set(_dr_services(config)):  # complete-outage's DR steps: the same services in DR too
            assert _handlers_of(synthesized, statement.roles) <= DR_HANDLERS, statement.source
            assert set(resources) <= set(expected) | set(_dr_services(config)), statement.source
            continue
        assert resources == expected, statement.source
    for statement in updates:
        assert statement.kind == "identity"
        assert _handlers_of(synthesized, statement.roles) <= WRITING_HANDLERS, (
            f"{statement.source}: only the act steps may change a service's desired count"
        )


def test_log_search_is_limited_to_the_agents_log_group_and_to_the_search_step(synthesized):
    resolver = synthesized.resolver()
    log_group = synthesized.config.agents_log_group
    searches = [
        s
        for s in policy_statements(synthesized)
        if s.effect == "Allow" and actions_cover(s.actions, "logs:FilterLogEvents")
    ]

    # Besides the agents' log group, only database-review's slow-query step reads a log: the database's slow-query log.
    readers = {
        f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:{log_group}:*": LOG_READING_HANDLERS,
        f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:{synthesized.config.database.slow_query_log_group}:*": {
            "remediation.handlers.database_review.find_slow_queries"
        },
    }

    assert searches
    for statement in searches:
        (resource,) = resolver.resolve(list(statement.resources))
        assert resource in readers, statement.source
        assert _handlers_of(synthesized, statement.roles) <= readers[resource]


def test_agent_config_parameters_are_read_and_written_only_by_config_update_and_only_those_parameters(synthesized):
    """The stack never creates the agents' configuration parameters (they are the platform's); config-update's
    write and restore steps alone may touch them, and nothing else of Parameter Store."""
    config, resolver = synthesized.config, synthesized.resolver()
    names = sorted(config.agent_config_parameter.replace("{agent}", agent) for agent in config.agents)
    arns = [f"arn:aws:ssm:{REGION}:{ACCOUNT}:parameter{name}" for name in names]
    touching = [
        (s, resolver.resolve(list(s.resources)))
        for s in policy_statements(synthesized)
        if s.effect == "Allow" and any(a.lower().startswith("ssm:") for a in s.actions)
    ]
    touching = [(s, resources) for s, resources in touching if set(resources) & set(arns) or "*" in resources]
    created = [props.get("Name") for props in synthesized.of_type("AWS::SSM::Parameter").values()]

    assert any(actions_cover(s.actions, "ssm:PutParameter") for s, _ in touching)
    for statement, resources in touching:
        assert sorted(resources) == arns, statement.source
        assert _handlers_of(synthesized, statement.roles) <= CONFIG_WRITING_HANDLERS, statement.source
        assert set(statement.actions) <= {"ssm:GetParameter", "ssm:GetParameterHistory", "ssm:PutParameter"}
    assert not set(names) & {resolver.resolve(name) for name in created if name is not None}


def test_every_lambda_step_runs_with_the_same_environment_carrying_the_environment_config(synthesized):
    """The emulator runs every handler in one process; it relies on one shared environment."""
    config = synthesized.config
    functions = synthesized.of_type("AWS::Lambda::Function")
    environments = [props.get("Environment", {}).get("Variables", {}) for props in functions.values()]

    assert functions
    assert all(environment == environments[0] for environment in environments)
    variables = synthesized.resolver().resolve(environments[0])
    assert variables["POWERTOOLS_SERVICE_NAME"] == f"acso-{config.name}-runbooks"
    settings = Settings.model_validate_json(synthesized.settings_json())
    assert settings.environment == config.name
    assert settings.cluster_name == config.cluster_name
    assert settings.services == {agent: config.service_name(agent) for agent in config.agents}
    assert settings.agents_log_group == config.agents_log_group
    assert settings.guard.dry_run is config.guard.dry_run
    assert settings.high_cpu.max_desired_count == config.high_cpu.max_desired_count


def test_staging_acts_in_dry_run_under_a_lower_cap_than_production(synthesized_app):
    def settings(environment: str) -> Settings:
        synthesized = synthesized_app[environment]
        return Settings.model_validate_json(synthesized.settings_json())

    staging, production = settings("staging"), settings("production")
    assert (staging.guard.dry_run, staging.high_cpu.max_desired_count) == (True, 3)
    assert (production.guard.dry_run, production.high_cpu.max_desired_count) == (False, 6)


def test_every_lambda_step_is_traced_with_xray(synthesized):
    functions = synthesized.of_type("AWS::Lambda::Function")
    assert functions
    assert {logical_id: props.get("TracingConfig", {}).get("Mode") for logical_id, props in functions.items()} == {
        logical_id: "Active" for logical_id in functions
    }


def test_every_lambda_handler_resolves_to_a_callable_in_the_functions_package(production, monkeypatch):
    # Powertools reads POWERTOOLS_* when the handler modules create Logger/Metrics: import them with the
    # environment the stack gives them (the same the emulator sets), never with an ad-hoc one.
    variables = production.resolver().resolve(
        next(iter(production.of_type("AWS::Lambda::Function").values()))["Environment"]["Variables"]
    )
    for name, value in variables.items():
        if name.startswith("POWERTOOLS_"):
            monkeypatch.setenv(name, value)

    unresolved = {}
    for logical_id, props in production.of_type("AWS::Lambda::Function").items():
        try:
            handler = load_handler(props["Handler"])
        except (ImportError, AttributeError) as error:
            unresolved[logical_id] = f"{props['Handler']}: {error}"
            continue
        if not callable(handler):
            unresolved[logical_id] = f"{props['Handler']} is not callable"
    assert unresolved == {}


def test_every_function_reads_the_one_settings_document_and_its_environment_stays_within_lambdas_limit(synthesized):
    """The settings live once in SSM (4 KB is Lambda's limit for all environment variables together)."""
    resolver = synthesized.resolver()
    functions = synthesized.of_type("AWS::Lambda::Function")
    settings_parameter = next(
        logical_id
        for logical_id, props in synthesized.of_type("AWS::SSM::Parameter").items()
        if props.get("Name", "").endswith("/runbooks/settings")
    )
    readers = {
        role
        for statement in policy_statements(synthesized)
        if statement.effect == "Allow" and actions_cover(statement.actions, "ssm:GetParameter")
        for role in statement.roles
        if any(settings_parameter in json.dumps(resource) for resource in statement.resources)
    }

    for props in functions.values():
        variables = resolver.resolve(props["Environment"]["Variables"])
        assert len(json.dumps(variables)) < 4096
        assert props["Role"]["Fn::GetAtt"][0] in readers
