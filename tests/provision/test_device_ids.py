import pytest

from ingest.errors import DeviceError
from ingest.provision.ids import INGEST_USERNAME, validate_device_id


@pytest.mark.parametrize("device_id", ["a", "dev-1", "0", "greenhouse_2-sensor", "x" * 63])
def test_accepts_ids_of_the_contract(device_id: str) -> None:
    assert validate_device_id(device_id) == device_id


@pytest.mark.parametrize(
    "device_id",
    ["", "Dev", "-dev", "_dev", "dev/1", "dev+", "dev#", "dev 1", "dév", "x" * 64, "dev\n", "dev.1"],
)
def test_refuses_ids_outside_the_contract(device_id: str) -> None:
    with pytest.raises(DeviceError, match="not allowed"):
        validate_device_id(device_id)


def test_refuses_the_ingest_login() -> None:
    with pytest.raises(DeviceError, match="reserved"):
        validate_device_id(INGEST_USERNAME)
