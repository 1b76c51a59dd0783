"""One-time sign-in codes by SMS to workers' phones: a sender interface and its providers."""
