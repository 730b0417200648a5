"""boto3 adapters: AWS error codes become the typed errors the state machines match; API limits are respected."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
from botocore.stub import Stubber

from remediation.adapters import ecs, metrics
from remediation.adapters.aws import client
from remediation.adapters.metrics import MetricQuery
from remediation.errors import AwsAccessDenied, AwsCallFailed, AwsThrottled, ServiceNotFound
from tests.unit.conftest import CLUSTER, SERVICES, boto


@pytest.fixture
def ecs_stub(aws) -> Iterator[Stubber]:
    """The adapters' own (cached) ECS client, answering from a Stubber instead of moto."""
    with Stubber(client("ecs")) as stubber:
        yield stubber
        stubber.assert_no_pending_responses()


@pytest.mark.parametrize(
    ("code", "status", "error", "message"),
    [
        ("ThrottlingException", 400, AwsThrottled, "ecs.DescribeServices was throttled (ThrottlingException)"),
        ("AccessDeniedException", 400, AwsAccessDenied, "ecs.DescribeServices was denied"),
        ("ServerException", 500, AwsCallFailed, "ecs.DescribeServices failed: ServerException"),
    ],
)
def test_given_ecs_answers_with_an_error_code_when_describing_then_the_typed_error_names_the_operation(
    ecs_stub, code, status, error, message
):
    ecs_stub.add_client_error("describe_services", service_error_code=code, http_status_code=status)

    with pytest.raises(error) as raised:
        ecs.describe_services(CLUSTER, [SERVICES["supervisor"]])

    assert message in str(raised.value)
    assert raised.value.__cause__ is not None  # raised from the ClientError, so the logs keep the AWS request id


def test_given_ecs_throttles_update_service_when_setting_the_count_then_it_raises_aws_throttled(ecs_stub):
    ecs_stub.add_client_error("update_service", service_error_code="ThrottlingException", http_status_code=400)

    with pytest.raises(AwsThrottled, match=r"ecs\.UpdateService was throttled"):
        ecs.set_desired_count(CLUSTER, SERVICES["supervisor"], 3)


def test_given_a_service_that_does_not_exist_when_described_then_service_not_found_names_it(aws):
    aws.create_service("supervisor", desired_count=2)

    with pytest.raises(ServiceNotFound) as raised:
        ecs.describe_services(CLUSTER, [SERVICES["supervisor"], "acso-production-billing"])

    assert str(raised.value) == f"ECS services not found or inactive in cluster {CLUSTER}: acso-production-billing"


def test_given_a_deleted_service_when_described_then_service_not_found_names_it(aws):
    aws.create_service("threat-hunter", desired_count=0)
    boto("ecs").delete_service(cluster=CLUSTER, service=SERVICES["threat-hunter"])

    with pytest.raises(ServiceNotFound, match=SERVICES["threat-hunter"]):
        ecs.describe_services(CLUSTER, [SERVICES["threat-hunter"]])


def test_given_every_agent_when_described_then_each_state_is_read_with_its_counts(aws):
    for count, agent in enumerate(SERVICES, start=1):
        aws.create_service(agent, desired_count=count)

    states = ecs.describe_services(CLUSTER, list(SERVICES.values()))

    assert {name: state.desired_count for name, state in states.items()} == {
        name: count for count, name in enumerate(SERVICES.values(), start=1)
    }
    assert all(state.is_steady for state in states.values())


@pytest.fixture
def get_metric_data_batches(aws) -> Iterator[list[int]]:
    """How many queries each cloudwatch.GetMetricData API call carried."""
    batches: list[int] = []
    events = client("cloudwatch").meta.events

    def count(params, **_):
        batches.append(len(params["MetricDataQueries"]))

    events.register("provide-client-params.cloudwatch.GetMetricData", count, unique_id="test-batches")
    yield batches
    events.unregister("provide-client-params.cloudwatch.GetMetricData", unique_id="test-batches")


def _queries(count: int) -> list[MetricQuery]:
    return [
        MetricQuery(
            f"cpu{index}",
            "AWS/ECS",
            "CPUUtilization",
            {"ClusterName": CLUSTER, "ServiceName": f"s{index}"},
            "Maximum",
            300,
        )
        for index in range(count)
    ]


@pytest.mark.parametrize(("queries", "batches"), [(1001, [500, 500, 1]), (10, [10]), (500, [500])])
def test_given_many_queries_when_reading_metrics_then_each_call_carries_at_most_500(
    virtual_clock, get_metric_data_batches, queries, batches
):
    series = metrics.get_metric_data(_queries(queries), virtual_clock.now - timedelta(minutes=30), virtual_clock.now)

    assert get_metric_data_batches == batches
    assert len(series) == queries
    assert series["cpu0"].latest is None


def test_given_datapoints_when_reading_metrics_then_latest_is_the_newest_and_maximum_the_highest(virtual_clock, aws):
    now = virtual_clock.now
    boto("cloudwatch").put_metric_data(
        Namespace="AWS/ECS",
        MetricData=[
            {
                "MetricName": "CPUUtilization",
                "Dimensions": [{"Name": "ClusterName", "Value": CLUSTER}, {"Name": "ServiceName", "Value": "s0"}],
                "Timestamp": now - timedelta(minutes=minutes),
                "Value": value,
                "Unit": "Percent",
            }
            for minutes, value in ((25, 40.0), (15, 95.0), (5, 61.0))
        ],
    )

    series = metrics.get_metric_data(_queries(1), now - timedelta(minutes=30), now)["cpu0"]

    assert (series.latest, series.maximum) == (61.0, 95.0)
