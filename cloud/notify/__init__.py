"""Notifications: who hears of which alert, through which channel, and what became of it."""
