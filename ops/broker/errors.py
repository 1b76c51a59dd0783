"""The local broker's errors, apart so broker.py and broker_security.py can both raise them."""


class BrokerError(Exception):
    """A local broker could not be found, configured, started or stopped."""


class BrokerStartError(BrokerError):
    """The broker process exited or never accepted connections.

    ``summary`` is what a person needs on one line (what failed, the log's telling line,
    where the log is); the full message adds the logs' tails, for test failures and -v.
    """

    def __init__(self, summary: str, *, logs: str = "") -> None:
        super().__init__(f"{summary}\n{logs}" if logs else summary)
        self.summary = summary


class BrokerPortInUseError(BrokerStartError):
    """Something else listens on the broker's port: the person picks another or stops it."""
