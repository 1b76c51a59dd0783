"""The points package's errors: one hierarchy, translated to HTTP answers in the routes."""

from __future__ import annotations


class LedgerError(Exception):
    """A posting or redemption the ledger refused; the message says why and what to do."""


class InvalidPostingError(LedgerError, ValueError):
    """Lines that are not a valid double-entry transfer (empty, unbalanced, bad account)."""


class InvalidRedemptionError(LedgerError, ValueError):
    """A redemption request with an impossible value (bad id, price, TTL)."""


class InsufficientPoints(LedgerError):  # noqa: N818  (a name other modules code against)
    """A member (or hold) account would go below zero."""

    def __init__(self, account: str, *, balance: int, needed: int) -> None:
        super().__init__(
            f"{account} has {balance} points but {needed} are needed; earn more points or "
            "pick a cheaper item"
        )
        self.account = account
        self.balance = balance
        self.needed = needed


class IdempotencyConflict(LedgerError):  # noqa: N818  (a name other modules code against)
    """The idempotency key (or transaction id) was used before for something different."""


class AppendOnlyError(LedgerError):
    """An attempt to update or delete a posting or entry; corrections are new postings."""


class RedemptionNotFoundError(LedgerError):
    """No redemption has this transaction id."""


class InvalidTransitionError(LedgerError):
    """The redemption's state does not allow this step (commit a cancelled one, …)."""

    def __init__(self, message: str, *, state: str) -> None:
        super().__init__(message)
        self.state = state


class ItemUnavailableError(LedgerError):
    """The kiosk's menu no longer sells this slot at this price (changed, sold out, removed).

    ``code`` is the API's error code: ``not_on_menu``, ``price_changed`` or ``out_of_stock``.
    """

    def __init__(self, message: str, *, code: str) -> None:
        super().__init__(message)
        self.code = code
