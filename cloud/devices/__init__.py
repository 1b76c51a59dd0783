"""Devices in the field: claiming boxes, their credentials, commands, config and health."""
