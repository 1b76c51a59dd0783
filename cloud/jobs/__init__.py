"""Scheduled jobs: the scheduler, its leader election and their tables; domains bring the jobs."""
