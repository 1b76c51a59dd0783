"""`yizhan bench ...`: measured figures, each contender run side by side in one process."""
