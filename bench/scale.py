"""P6: a 200-service configuration against CloudFormation's per-stack limits, and its synth time against the
5-service one, each synthesized in a fresh process (the real app, cdk.json with only `agents` replaced).

Every template of the cloud assembly (nested ones too) is checked against CloudFormation's quotas: 500 resources,
a 1,000,000-byte template body (the file CDK uploads), 200 parameters, 200 outputs, 200 mappings. Also reported,
because a deploy would fail on them too: the largest Lambda environment (4 KB), role inline policies (10,240
characters per role), EventBridge patterns (the resources lists grow with the agents), composite alarm rules
(10,240 characters) and the dashboard body (1 MB). Rendered template sizes stand in for resolved ones (a token
renders about as long as the name or ARN it becomes).
"""

from __future__ import annotations

import json
import time

from bench.common import ProbeResult, Row, last_json_line, python

SERVICES = 200
LIMITS = {"resources": 500, "templateBytes": 1_000_000, "parameters": 200, "outputs": 200, "mappings": 200}
OTHER_LIMITS = {
    "lambdaEnvironmentBytes": 4096,
    "roleInlinePolicyChars": 10_240,
    "eventPatternChars": 2048,  # the default quota; 4,096 at most on request
    "compositeAlarmRuleChars": 10_240,
    "dashboardBodyBytes": 1_000_000,
    "ssmParameterValueBytes": 8192,
}

_CHILD = r"""
import json, time, sys, tempfile, collections
from pathlib import Path
sys.path[:0] = ["."]
import simulator  # functions/ on the path, JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION
started = time.perf_counter()
import aws_cdk as cdk
from app import build_app
imported = time.perf_counter()
context = json.loads(Path("cdk.json").read_text())["context"]
agents = __AGENTS__
if agents:
    context["acso:defaults"]["agents"] = agents
context["acso:only"] = "production"
if __UNLIMITED__:  # diagnosis only: CDK's own 500-resource check off, to see every other figure
    context["@aws-cdk/core:stackResourceLimit"] = 0
outdir = Path(tempfile.mkdtemp(prefix="acso-bench-scale-"))
result = {"agents": len(agents) or len(context["acso:defaults"]["agents"])}
try:
    build_app(cdk.App(context=context, outdir=str(outdir))).synth()
    result["synthesized"] = True
except Exception as error:  # a limit CDK itself enforces (e.g. 500 resources) fails the synth
    result["synthesized"] = False
    result["error"] = str(error).splitlines()[0][:500]
result["importSeconds"] = imported - started
result["synthSeconds"] = time.perf_counter() - imported
templates = {}
for path in sorted(outdir.glob("*.template.json")):
    raw = path.read_text()
    template = json.loads(raw)
    resources = template.get("Resources", {})
    policies = collections.defaultdict(int)
    for resource in resources.values():
        if resource["Type"] == "AWS::IAM::Policy":
            size = len(json.dumps(resource["Properties"]["PolicyDocument"], separators=(",", ":")))
            for role in resource["Properties"].get("Roles", []):
                policies[json.dumps(role)] += size
    def largest(kind, pick):
        picked = [pick(r["Properties"]) for r in resources.values() if r["Type"] == kind]
        return max((len(json.dumps(value, separators=(",", ":"))) for value in picked), default=0)
    templates[path.name] = {
        "resources": len(resources),
        "templateBytes": len(raw.encode()),
        "parameters": len(template.get("Parameters", {})),
        "outputs": len(template.get("Outputs", {})),
        "mappings": len(template.get("Mappings", {})),
        "lambdaEnvironmentBytes": largest(
            "AWS::Lambda::Function", lambda p: p.get("Environment", {}).get("Variables", {})
        ),
        "ssmParameterValueBytes": largest("AWS::SSM::Parameter", lambda p: p.get("Value", "")),
        "roleInlinePolicyChars": max(policies.values(), default=0),
        "eventPatternChars": largest("AWS::Events::Rule", lambda p: p.get("EventPattern", {})),
        "compositeAlarmRuleChars": largest("AWS::CloudWatch::CompositeAlarm", lambda p: p.get("AlarmRule", "")),
        "dashboardBodyBytes": largest("AWS::CloudWatch::Dashboard", lambda p: p.get("DashboardBody", "")),
        "types": collections.Counter(r["Type"] for r in resources.values()).most_common(8),
    }
result["templates"] = templates
print(json.dumps(result))
"""


def run(services: int = SERVICES) -> ProbeResult:
    started = time.perf_counter()
    agents = [f"agent-{index:03d}" for index in range(1, services + 1)]
    baseline = last_json_line(python(_child([])))
    scaled = last_json_line(python(_child(agents)))
    if not scaled["synthesized"]:  # what else would fail once the resource count is solved
        scaled["withoutCdkResourceCheck"] = last_json_line(python(_child(agents, unlimited=True)))
    rows = [
        Row(
            "P6",
            f"synth time: {baseline['agents']} services (baseline)",
            f"{baseline['synthSeconds']:.1f} s",
            note=_summary(baseline),
        )
    ]
    violations = _violations(scaled)
    rows.append(
        Row(
            "P6",
            f"{services}-service configuration within CloudFormation's per-stack limits",
            "yes" if scaled["synthesized"] and not violations["cloudformation"] else "no",
            "yes",
            scaled["synthesized"] and not violations["cloudformation"],
            scaled.get("error") or "; ".join(violations["cloudformation"]) or _summary(scaled),
        )
    )
    rows.append(
        Row(
            "P6",
            f"synth time: {services} services vs {baseline['agents']}",
            f"{scaled['synthSeconds']:.1f} s ({scaled['synthSeconds'] / baseline['synthSeconds']:.1f}x)",
            note="other limits a deploy would hit: " + ("; ".join(violations["other"]) or "none"),
        )
    )
    details = {"baseline": baseline, "scaled": scaled, "violations": violations, "limits": LIMITS | OTHER_LIMITS}
    return ProbeResult("P6", f"{services}-service configuration", rows, details, time.perf_counter() - started)


def _child(agents: list[str], unlimited: bool = False) -> str:
    return _CHILD.replace("__AGENTS__", json.dumps(agents)).replace("__UNLIMITED__", str(unlimited))


def _violations(result: dict) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {"cloudformation": [], "other": []}
    templates = result.get("templates") or result.get("withoutCdkResourceCheck", {}).get("templates", {})
    for name, template in templates.items():
        for group, limits in (("cloudformation", LIMITS), ("other", OTHER_LIMITS)):
            for key, limit in limits.items():
                if template[key] > limit:
                    found[group].append(f"{name}: {key} {template[key]:,} > {limit:,}")
    return found


def _summary(result: dict) -> str:
    templates = result.get("templates", {})
    return ", ".join(
        f"{name.removesuffix('.template.json')}: {t['resources']} resources, {t['templateBytes'] / 1e6:.2f} MB"
        for name, t in templates.items()
    )
