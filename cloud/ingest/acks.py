"""What the ingest worker acks once a batch committed: the broker per message, each device per
stored sequence number, without paho or threads (``cloud.ingest.worker`` publishes them)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from protocol.codec import encode, valid_seq
from protocol.payloads import MAX_BATCH_ITEMS, SCHEMA_VERSION, StorageAck, seq_ranges
from protocol.topics import Kind, Topic


@dataclass(frozen=True, slots=True)
class Received:
    """A message as paho handed it over, waiting for the writer."""

    generation: int  # the connection it came on (see BrokerAcks)
    mid: int
    topic: str
    payload: bytes
    at: float  # time.monotonic() on receipt


class BrokerAcks:
    """Which received messages may be PUBACKed once their transaction committed.

    Written from paho's thread (a new connection) and read from the writer's; one int, so
    no lock is needed under the GIL.
    """

    def __init__(self) -> None:
        self._generation = 0

    @property
    def generation(self) -> int:
        """The connection messages received now belong to."""
        return self._generation

    def connected(self) -> None:
        """A new connection: message ids from the earlier ones no longer name our messages."""
        self._generation += 1

    def mids(self, batch: Sequence[Received]) -> list[int]:
        """The ids to ack for a committed batch."""
        # A mid from an earlier connection may name another message now; the broker
        # redelivers the old one and it is absorbed as a duplicate. A mid of 0 is QoS 0.
        return [r.mid for r in batch if r.generation == self._generation and r.mid]


def device_ranges(seqs: Sequence[int]) -> list[tuple[int, int]]:
    """The ranges a device is told are stored."""
    # The store acks only valid seqs; filtered again because one bad ack must not cost
    # the others theirs.
    return seq_ranges([seq for seq in seqs if valid_seq(seq) is not None])


def storage_acks(
    venue: str, device: str, ranges: list[tuple[int, int]]
) -> Iterator[tuple[str, bytes]]:
    """The (topic, payload) messages telling ``device`` these ranges are stored, one per
    ``MAX_BATCH_ITEMS`` ranges; built one at a time as the caller publishes them."""
    for start in range(0, len(ranges), MAX_BATCH_ITEMS):
        part = ranges[start : start + MAX_BATCH_ITEMS]
        ack = StorageAck(v=SCHEMA_VERSION, device=device, ranges=part)
        yield str(Topic(venue, device, Kind.ACK)), encode(ack)
