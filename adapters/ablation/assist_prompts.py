"""Prompts of ``ablate --suggest`` and of the manual ``first-call``/``followup-call`` modes (templates only)."""

from __future__ import annotations

SUGGEST_SYSTEM = (
    "You help plan an ablation study. You answer with numbers from the list you are given, "
    "separated by commas, and nothing else."
)

SUGGEST_LAYERS = """\
An ablation study removes one component of a model at a time, trains the rest, and measures what \
the component was worth. These are the lines of {file} that build a layer or a processing step, \
each with its line number:

{numbered}
{docs}
Which of them are worth removing one at a time? Pick components whose removal still leaves a \
working model (for example hidden layers, dropout, normalization, activations); do not pick the \
final output layer. Answer with the line numbers only, separated by commas, for example: {example}
"""

SUGGEST_FEATURES = """\
An ablation study of tabular data removes one feature column at a time, trains the model again, \
and measures what the feature was worth. These are the feature columns {file} trains on, each \
with a number:

{numbered}
{docs}
Which columns are worth removing one at a time? Answer with their numbers only, separated by \
commas, for example: {example}
"""

DOCS = """
Notes from the project's documentation:
{text}
"""

MANUAL_SYSTEM = (
    "You write complete, runnable Python programs for ablation studies. Answer with the whole program "
    "in one ```python block."
)

FIRST_CALL = """\
Write one Python program that runs an ablation study of the training code below.

The components to ablate are marked in the code (#ABLATABLE_COMPONENT marks the next line or its own \
line; #ABLATION_HINT_START ... #ABLATION_HINT_END marks a block):
{components}

The program must:
- train the unchanged model once (the trial named "baseline") and once without each component \
(trials named {trials}), with the same seed ({seed}) and the same training loop for every trial;
- keep every variant runnable (when a layer is removed, fix the size of the layer after it);
- write ablation_results.json: a JSON list with one object per trial: {{"name": ..., {fields}}};
- print the metric of each trial.
{docs}
{code}
"""

FOLLOWUP_CALL = """\
This ablation study program fails. Fix it so that it runs and still writes ablation_results.json \
with one entry per trial.

The error:
```
{error}
```

{code}
Answer with the whole corrected program in one ```python block.
"""

FILE = """{name}:
```python
{code}
```
"""
