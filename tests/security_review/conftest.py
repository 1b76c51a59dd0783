"""The notify tests' seeded database and app, shared with the security review's tests."""

from tests.cloud.notify.conftest import engine, robots, services, site  # noqa: F401
