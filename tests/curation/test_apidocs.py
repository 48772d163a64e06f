"""API page rendering: signatures render the same text in every process."""

from __future__ import annotations

from opsgraft.curation.apidocs import signature

_MISSING = object()


def f(a: int, fallback: object = _MISSING, key=lambda x: x, n: int = 3) -> None:  # noqa: ANN001
    """A function with defaults whose repr holds a memory address."""


def test_signature_drops_memory_addresses() -> None:
    text = signature(f)
    assert "0x" not in text
    # (annotations are strings here: this module has ``from __future__ import annotations``)
    assert text == "(a: 'int', fallback: 'object' = <object object>, key=<function <lambda>>, n: 'int' = 3) -> 'None'"
    assert signature(len) == "(obj, /)"
