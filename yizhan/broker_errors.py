"""The local broker's errors, apart so broker.py and broker_security.py can both raise them."""


class BrokerError(Exception):
    """A local broker could not be found, configured, started or stopped."""


class BrokerStartError(BrokerError):
    """The broker process exited or never accepted connections."""
