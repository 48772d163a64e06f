"""Prompt templates of the summarizer, kept apart from its control flow so they can be tuned alone."""

# Bump when the templates change: cached summaries are keyed by it.
PROMPT_VERSION = "1"

SYSTEM = (
    "You condense software documentation for a code-writing assistant. "
    "Be exact: only state what the documentation says; never invent functions or parameters."
)

USER = """Documentation of {component} {version}, section "{heading}" ({url}):

{text}

Rewrite this section as three short parts, in this format:
Functionality: <one or two sentences on what it does and when to use it>
API: <the exact names and signatures it documents, one per line>
Example: <a minimal Python usage example in a ```python block, or "none" if the section has no API>
"""
