"""The alerts' errors; the API translates them to its one error shape."""

from __future__ import annotations


class AlertError(Exception):
    """Base of the alert errors."""


class AlertNotFoundError(AlertError):
    def __init__(self, alert_id: int) -> None:
        super().__init__(f"there is no alert {alert_id}; GET /api/v1/alerts lists them")
        self.alert_id = alert_id


class IllegalTransitionError(AlertError):
    """Acknowledging or resolving an alert whose status does not allow it."""

    def __init__(self, alert_id: int, *, status: str, action: str) -> None:
        super().__init__(
            f"alert {alert_id} is {status} and cannot be {action}; "
            "only an open alert can be acknowledged, and an open or acknowledged one resolved"
        )
        self.alert_id = alert_id
        self.status = status
        self.action = action
