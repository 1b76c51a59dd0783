"""The aggregates' migrated database with two venues and one device, shared with these tests."""

from tests.cloud.aggregates.conftest import engine

__all__ = ["engine"]
