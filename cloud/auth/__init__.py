"""Auth for the cloud."""
