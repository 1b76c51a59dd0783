"""Shared pytest configuration: real-service fixtures live in tests/fixtures."""

pytest_plugins = [
    "tests.fixtures.broker",
    "tests.fixtures.postgres",
    "tests.fixtures.secure_broker",
]
