"""Software releases in the cloud: artifacts, signed manifests, rollouts and what boxes report."""
