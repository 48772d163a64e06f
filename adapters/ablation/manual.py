"""Manual mode, the published tool's (AblationMage's) workflow: ask, write the answer to a file, run nothing.

``first-call`` sends the annotated code (and documents) and asks for one study program;
``followup-call`` sends a program and the error it raised and asks for the corrected program. Each
writes the model's whole answer to ``<stem>_<mode>_<timestamp>.md`` and, when it holds code, the code
to ``<stem>_<mode>_<timestamp>.py``, both new files beside the input. The user runs the program.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from pathlib import Path

from opsgraft.adapters.ablation import assist_prompts as prompts
from opsgraft.adapters.ablation.annotations import Plan
from opsgraft.adapters.output import free_path, write_new
from opsgraft.errors import InputError
from opsgraft.types import Message

MODES = ("first-call", "followup-call")
ERROR_LINES = 60  # the end of a traceback is what the model can act on
ERROR_BYTES = 1_000_000


def _code(files: Mapping[str, str]) -> str:
    return "\n".join(prompts.FILE.format(name=name, code=code.rstrip()) for name, code in files.items())


def first_call_prompt(files: Mapping[str, str], plan: Plan, docs: str = "", seed: int = 0) -> list[Message]:
    """Ask for one program that runs the baseline and every planned trial and writes the results."""
    components = "\n".join(
        f"- {c.name}: " + (f"features {', '.join(c.features)}" if c.features
                           else f"{c.file} line(s) {', '.join(str(n) for n in c.lines)}" + (f" ({c.text})" if c.text else ""))
        for c in plan.components)
    fields = '"metric": ..., "features": [the columns used]' if plan.mode == "features" else \
        '"n_params": the number of parameters, "metric": ...'
    text = prompts.FIRST_CALL.format(
        components=components, trials=", ".join(f'"{t.name}"' for t in plan.trials[1:]), seed=seed, fields=fields,
        docs=prompts.DOCS.format(text=docs) if docs else "", code=_code(files))
    return [Message("system", prompts.MANUAL_SYSTEM), Message("user", text)]


def read_error(path: Path) -> str:
    """The last lines of an error file; InputError for a missing, empty, binary or huge one."""
    if not path.is_file():
        raise InputError(f"{path}: no such error file")
    data = path.read_bytes()
    if len(data) > ERROR_BYTES:
        data = data[-ERROR_BYTES:]
    if b"\0" in data:
        raise InputError(f"{path}: a binary file, not the text of an error")
    text = data.decode("utf-8", errors="replace").strip()
    if not text:
        raise InputError(f"{path}: the error file is empty")
    return "\n".join(text.splitlines()[-ERROR_LINES:])


def followup_prompt(files: Mapping[str, str], error: str) -> list[Message]:
    """Ask for the corrected program, given the error it raised."""
    text = prompts.FOLLOWUP_CALL.format(error=error, code=_code(files))
    return [Message("system", prompts.MANUAL_SYSTEM), Message("user", text)]


def write_answer(directory: Path, stem: str, mode: str, answer: str, now: float | None = None) -> dict[str, Path]:
    """Write the answer (``.md``) and its code (``.py``, when it holds any) as new timestamped files."""
    from opsgraft.codeblocks import extract_code
    from opsgraft.errors import NoCodeError

    stamp = time.strftime("%Y%m%d-%H%M%S", time.localtime(now))
    base = f"{stem}_{mode.replace('-', '_')}_{stamp}"
    directory.mkdir(parents=True, exist_ok=True)
    out = {"answer": write_new(free_path(directory, base, ".md"), answer)}
    try:
        code = extract_code(answer)
    except NoCodeError:
        return out
    out["code"] = write_new(free_path(directory, out["answer"].stem, ".py"), code if code.endswith("\n") else code + "\n")
    return out
