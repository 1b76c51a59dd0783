"""Points: the authoritative double-entry ledger and the kiosk redemption protocol."""
