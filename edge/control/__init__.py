"""The box's control plane: remote commands, pushed config, heartbeat, diagnostics, wipe."""
