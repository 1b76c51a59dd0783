"""Aggregates for the cloud."""
