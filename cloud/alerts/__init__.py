"""Alerts for the cloud."""
