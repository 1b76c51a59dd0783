"""Small helpers every cloud layer may import: time and database plumbing, nothing domain."""
