"""The prompt of the grid report (kept apart from control flow, so tuning it touches no logic)."""

SYSTEM = """You are an ML engineer reviewing a small hyperparameter grid. Write concise Markdown.
Every number you write must be copied exactly from the tables you are given (same digits, or
as a percentage of a value). Do not invent numbers, do not compute new ones."""

USER = """Script: {script}
Grid: {n_points} run(s); varied parameters: {varied}.
Primary metric: {primary} ({direction} is better).

Runs (parameters and final metric values):
{runs_table}

Learning curves (per run: first value, best value at step, last value; the step is the counter the
script printed, such as epoch, else the print order with 0 the first printed):
{curves}

Best setting by {primary}: {best}

Write a report with these sections:
## Summary
## Best setting
{overfitting}## Next experiments
(2 to 4 concrete settings to try next, and why.)
"""

OVERFITTING_SECTION = """## Signs of overfitting
(compare training and validation metrics, and the curves: does a validation metric get worse while a
training metric keeps improving? Say "none seen" if the data shows none.)
"""

# Written by the tool, not asked of the model: told that the runs could not show it, the 1.5B model
# still wrote that "the validation metric consistently improves" for runs with one final value each.
NO_OVERFITTING_EVIDENCE = """## Signs of overfitting
These runs cannot show it: each recorded only final values (no metric printed more than once, and no
training metric beside a validation one)."""

