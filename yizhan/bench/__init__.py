"""`yizhan bench ...`: measured figures, each contender run side by side in one process."""


class BenchOptionError(ValueError):
    """An option a bench cannot run with; the CLI says it in one line (exit 2)."""
