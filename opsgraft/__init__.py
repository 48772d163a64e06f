"""opsgraft: graft MLOps functionality into ML training code with an LLM, and prove the result."""

__version__ = "0.1.0"
