"""Claiming a box: its factory claim code, its identity after the claim, the claim client."""
