"""Upkeep of the store: retention of old rows and history, and offline detection."""
