import pytest

from ingest.errors import DeviceError
from ingest.provision.acl import render_acl


def test_devices_are_bound_to_their_login_and_ingest_reads_all() -> None:
    acl = render_acl(["sf"], "sensorfleet-ingest").splitlines()
    body = [line for line in acl if line and not line.startswith("#")]
    assert body == [
        "user sensorfleet-ingest",
        "topic read sf/+/telemetry",
        "topic read sf/+/status",
        "topic read sf/+/cmd/result",
        "topic read sf/+/ota/req",
        "topic write sf/+/cmd",
        "topic write sf/+/ota/data",
        "topic write sf/$alerts",
        "pattern write sf/%u/telemetry",
        "pattern write sf/%u/status",
        "pattern write sf/%u/cmd/result",
        "pattern write sf/%u/ota/req",
        "pattern read sf/%u/cmd",
        "pattern read sf/%u/ota/data",
    ]


def test_each_prefix_once() -> None:
    acl = render_acl(["b", "a", "b"], "ingest")
    assert acl.count("pattern write a/%u/telemetry") == 1
    assert acl.count("pattern write b/%u/telemetry") == 1
    assert acl.index("topic read a/+/telemetry") < acl.index("topic read b/+/telemetry")


@pytest.mark.parametrize("prefix", ["sf/x", "#", "+", "", "sf x"])
def test_refuses_prefixes_that_would_widen_the_acl(prefix: str) -> None:
    with pytest.raises(DeviceError):
        render_acl([prefix], "ingest")
