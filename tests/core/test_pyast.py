"""opsgraft.pyast.parse survives the thread race that breaks ast.parse on CPython 3.11."""

from __future__ import annotations

import ast
import gc
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from opsgraft import pyast

SOURCE = (Path(__file__).resolve().parents[2] / "adapters" / "callmap.py").read_text()


class _Cycle:
    """A garbage cycle whose finaliser runs Python code: the collector then runs bytecode
    in the middle of a parse, and the interpreter may switch threads there."""

    def __init__(self) -> None:
        self.me = self

    def __del__(self) -> None:
        sum(range(50))


def _race(parse: Callable[[str], object], seconds: float) -> list[str]:
    """Three threads parse while a fourth makes garbage; the SystemErrors seen within ``seconds``."""
    errors: list[str] = []
    stop = threading.Event()

    def parser() -> None:
        while not stop.is_set():
            try:
                parse(SOURCE)
            except SystemError as exc:
                errors.append(str(exc))
                stop.set()

    def garbage() -> None:
        while not stop.is_set():
            for _ in range(500):
                _Cycle()

    old_interval, old_threshold = sys.getswitchinterval(), gc.get_threshold()
    sys.setswitchinterval(1e-6)
    gc.set_threshold(50, 5, 5)
    threads = [threading.Thread(target=parser) for _ in range(3)] + [threading.Thread(target=garbage)]
    try:
        for t in threads:
            t.start()
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline and not stop.is_set():
            time.sleep(0.05)
    finally:
        stop.set()
        for t in threads:
            t.join()
        sys.setswitchinterval(old_interval)
        gc.set_threshold(*old_threshold)
    return errors


def test_parse_returns_the_same_tree_as_ast_parse():
    assert ast.dump(pyast.parse(SOURCE)) == ast.dump(ast.parse(SOURCE))
    with pytest.raises(SyntaxError) as exc:
        pyast.parse("def f(:\n", "train.py")
    assert exc.value.filename == "train.py"


def test_locked_parse_survives_the_race_that_breaks_ast_parse():
    raced = _race(ast.parse, seconds=15)
    if not raced:
        pytest.skip(f"this interpreter's ast.parse did not race in 15 s ({sys.version.split()[0]})")
    assert "recursion depth mismatch" in raced[0]
    assert _race(pyast.parse, seconds=5) == []
