"""The prompt that asks the model to repair one ablation variant (templates only, no control flow)."""

from __future__ import annotations

SYSTEM = (
    "You fix Python training code for an ablation study. Answer with only the lines that must change, "
    "each written in full as it must appear in the file, in one ```python block and nothing else."
)

REPAIR = """\
An ablation study removes one component of a model and trains the rest. In {file}, the component \
`{name}`{description} was removed: {how}.

Running the file now fails:
```
{error}
```

Fix the file so that it runs WITHOUT `{name}`: adjust only what follows it (for example the input \
size of the next layer, or a call that used it). Do not put `{name}` back. Keep everything else, \
including the seed, the training loop and the printed metric.
{history}{docs}
```python
{code}
```

{focus}Answer with only the changed line(s) in one ```python block, not the whole file.
"""

FOCUS = """The failing line uses a layer defined in the file as:
```python
{line}
```
If that layer's size no longer fits what it receives, answer with this line corrected.
"""

DOCS = """
Notes from the project's documentation:
{text}
"""

HOW_LINE = "the line `{line}` was replaced or deleted"
HOW_BLOCK = "these lines were deleted: {lines}"

HISTORY = """
Earlier attempts that did not work:
{lines}
"""
