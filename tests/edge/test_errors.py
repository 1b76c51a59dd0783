"""Every error the edge raises on purpose is an EdgeError, and still what callers catch it as."""

from __future__ import annotations

import pytest

from edge.access.bookings import BookingError, BookingGapError
from edge.access.keys import KeyFileError
from edge.access.members import DeltaGapError, MembersError
from edge.access.occupancy import OccupancyError
from edge.access.passback import PassbackError
from edge.access.policy import PolicyError
from edge.access.sync import SyncRefusedError
from edge.errors import EdgeError
from edge.hardware.door import DoorHardwareError
from edge.hardware.interfaces import HardwareError
from edge.hardware.kiosk import KioskHardwareError
from edge.kiosk.journal import JournalError
from edge.outbox import OutboxError
from edge.provision.errors import ProvisionError
from edge.scan import ScanError
from edge.settings import ConfigError
from edge.uplink import UplinkError

# Each class with the built-in base callers already caught it by before the root existed.
ERRORS: list[tuple[type[Exception], type[Exception]]] = [
    (BookingError, RuntimeError),
    (BookingGapError, RuntimeError),
    (KeyFileError, ValueError),
    (MembersError, Exception),
    (DeltaGapError, Exception),
    (OccupancyError, RuntimeError),
    (PassbackError, RuntimeError),
    (PolicyError, ValueError),
    (SyncRefusedError, Exception),
    (HardwareError, RuntimeError),
    (DoorHardwareError, RuntimeError),
    (KioskHardwareError, RuntimeError),
    (JournalError, RuntimeError),
    (OutboxError, RuntimeError),
    (ProvisionError, RuntimeError),
    (ScanError, RuntimeError),
    (ConfigError, ValueError),
    (UplinkError, RuntimeError),
]


@pytest.mark.parametrize(("error", "base"), ERRORS, ids=[e.__name__ for e, _ in ERRORS])
def test_each_edge_error_is_an_edge_error_and_keeps_its_base(
    error: type[Exception], base: type[Exception]
) -> None:
    assert issubclass(error, EdgeError)
    assert issubclass(error, base)
