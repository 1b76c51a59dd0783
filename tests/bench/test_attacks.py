"""The provisioning benchmark's attacks: none get through the ACLs, most get through without."""

from pathlib import Path

from ops.broker.process import BrokerProcess
from tests.fixtures.secure_broker import DEVICES, Fleet
from yizhan.bench.attacks import Account, AttackReport, Battlefield, Target, run_attacks

SERIAL = "abcdefgh23"


def _battlefield(
    host: str, port: int, ca_file: Path | None, accounts: dict[str, Account]
) -> Battlefield:
    def target(name: str) -> Target:
        return Target(venue=DEVICES[name], device=name, account=accounts[name])

    return Battlefield(
        host=host,
        port=port,
        ca_file=ca_file,
        attacker=target("dev-a"),
        victim=target("dev-b"),
        stranger=target("dev-c"),
        ingest=accounts["ingest"],
        control=accounts["control"],
        provision=accounts["provision"],
        serial=SERIAL,
    )


def test_a_stolen_box_gets_nothing_past_the_generated_acls(fleet: Fleet) -> None:
    broker = fleet.broker
    accounts = {
        name: Account(username=name, password=p, client_id=f"yz-{name}")
        for name, p in fleet.passwords.items()
    }
    for role in ("ingest", "control", "provision"):
        service = getattr(broker.accounts, role)
        accounts[role] = Account(username=service.username, password=service.password)

    report = run_attacks(_battlefield(broker.host, broker.tls_port, broker.pki.ca_cert, accounts))

    assert report.publish_attempts >= 15
    assert report.subscribe_attempts >= 14
    assert report.accepted_publishes == []
    assert report.accepted_subscribes == []


def test_on_an_anonymous_broker_the_same_attacks_get_through(broker: BrokerProcess) -> None:
    anonymous = Account(username=None, password=None)
    names = [*DEVICES, "ingest", "control", "provision"]
    report: AttackReport = run_attacks(
        _battlefield(broker.host, broker.port, None, dict.fromkeys(names, anonymous))
    )

    # Without per-device accounts the broker cannot tell a stolen box from the cloud.
    assert len(report.accepted_publishes) >= 12
    assert len(report.accepted_subscribes) >= 10
