"""What the API's device routes need at hand: the broker admin, the rotation vault, claim policy."""

from __future__ import annotations

from dataclasses import dataclass

from cloud.devices.broker_admin import BrokerAdmin, BrokerAdminError, OpenBrokerAdmin
from cloud.devices.claims import ClaimPolicy
from cloud.devices.control import DeviceControl
from cloud.devices.credentials import BundleEndpoint
from cloud.devices.vault import RotationVault
from cloud.settings import CloudSettings


@dataclass(frozen=True, slots=True)
class DeviceServices:
    admin: BrokerAdmin
    vault: RotationVault
    policy: ClaimPolicy
    control: DeviceControl | None = None  # None: another process publishes what is stored


class NoBrokerAdmin:
    """Stands in when this process runs no device control on a broker with accounts: every
    change is refused with what to do, so a claim answers 503 instead of half-happening."""

    _WHY = (
        "this API process has no device control (broker.security is 'dynsec'); start it "
        "with cloud.service.build_api, which connects one"
    )

    def add_device(
        self,
        *,
        username: str,  # noqa: ARG002
        password: str,  # noqa: ARG002
        venue: str,  # noqa: ARG002
        device: str,  # noqa: ARG002
        client_id: str,  # noqa: ARG002
    ) -> None:
        raise BrokerAdminError(self._WHY)

    def set_password(self, *, username: str, password: str) -> None:  # noqa: ARG002
        raise BrokerAdminError(self._WHY)

    def disconnect(self, *, username: str) -> None:  # noqa: ARG002
        raise BrokerAdminError(self._WHY)

    def remove_device(self, *, username: str) -> None:  # noqa: ARG002
        raise BrokerAdminError(self._WHY)

    def close(self) -> None:
        return None


def device_services(settings: CloudSettings, *, control: DeviceControl | None) -> DeviceServices:
    """The services of ``control``, or stand-ins for an API without one (tests, tools)."""
    broker = settings.broker
    policy = ClaimPolicy(
        claim_window=broker.claim_window, endpoint=BundleEndpoint.from_settings(broker)
    )
    if control is not None:
        return DeviceServices(
            admin=control.admin, vault=control.vault, policy=policy, control=control
        )
    admin: BrokerAdmin = OpenBrokerAdmin() if broker.security == "open" else NoBrokerAdmin()
    return DeviceServices(admin=admin, vault=RotationVault(), policy=policy)
