"""Mutant: trains nothing and ships the Optuna and fit evidence an earlier sandbox read from
.opsgraft/ in the workdir (these lines passed optuna-study before evidence moved out of it)."""

print("passed")
