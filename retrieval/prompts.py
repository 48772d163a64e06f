"""Prompt templates of the LLM-assisted retrieval strategies."""

SYSTEM = "You are an expert Python developer who knows MLOps libraries and their APIs well."

LLM_SEARCH = """The following Python code uses {source}:

```python
{code}
```

Documentation of the {source} API it uses:
{docs_x}

Write the documentation of the {target} API that provides the same functionality: for each \
{source} call above, the {target} function or class to use instead, its signature, what it does, \
and a short usage example. Write it as reference documentation, not as a rewrite of the code."""

LLM_DESCRIBE = """The following Python code uses {source}:

```python
{code}
```

Documentation of the {source} API it uses:
{docs_x}

In at most five sentences, describe the {target} functionality that does the same things \
(name the {target} functions or classes if you know them). Answer with the description only."""
