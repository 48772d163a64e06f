"""Fill the prompt templates of adapters/prompts/; control flow never holds prompt text."""

from __future__ import annotations

import re
from collections.abc import Sequence
from functools import lru_cache
from importlib import resources
from string import Template

from opsgraft.adapters.hints import repair_hints
from opsgraft.adapters.specs import AdapterSpec
from opsgraft.types import Message, Prompt, RetrievedDoc


@lru_cache(maxsize=64)
def template(name: str) -> str:
    """The text of adapters/prompts/<name>."""
    return (resources.files("opsgraft.adapters") / "prompts" / name).read_text(encoding="utf-8")


def fill(name: str, **values: str) -> str:
    """Substitute ``$names``; unknown placeholders are left as they are."""
    return Template(template(name)).safe_substitute(values)


def docs_section(docs: Sequence[RetrievedDoc], title: str = "Documentation of the installed version") -> str:
    """Retrieved docs laid out with their sources, or nothing."""
    if not docs:
        return ""
    parts = [f"{title}:"]
    for i, doc in enumerate(docs, 1):
        parts.append(f"[{i}] {doc.title or doc.source} ({doc.component} {doc.version})\n{doc.text.strip()}")
    return "\n\n".join(parts) + "\n"


def translation_docs_section(docs: Sequence[RetrievedDoc], source: str, target: str) -> str:
    """Docs-X (the source tool, as the script uses it) then Docs-Y (the target), as the paper lays them out."""
    docs_x = [d for d in docs if d.component == source]
    docs_y = [d for d in docs if d.component != source]
    parts = [docs_section(docs_x, f"Docs-X: how the script's {source} calls work"),
             docs_section(docs_y, f"Docs-Y: the {target} functionality to use instead")]
    return "\n".join(p for p in parts if p)


def inline_prompt(
    spec: AdapterSpec,
    filename: str,
    code: str,
    *,
    instruction: str | None = None,
    docs: Sequence[RetrievedDoc] = (),
    guide: str = "",
    template_name: str = "inline_user.md",
) -> Prompt:
    """The zero-shot prompt (docs and guide sections empty) or one carrying docs / a guide."""
    if spec.kind == "translate":
        extra = translation_docs_section(docs, spec.source_component, spec.component)
    else:
        extra = docs_section(docs)
    if guide:
        extra = f"Step-by-step guide:\n{guide.strip()}\n\n{extra}"
    user = fill(
        template_name,
        instruction=instruction or spec.instruction,
        environment=fill("environment.md", filename=filename),
        component=spec.component,
        notes=template(spec.notes).strip(),
        docs=("\n" + extra) if extra else "",
        filename=filename,
        code=code.rstrip("\n"),
    )
    messages = (Message("system", template("system.md").strip()), Message("user", user))
    return Prompt(messages=messages, template=template_name, docs=tuple(docs))


def restart_prompt(first: Prompt, filename: str, log_lines: Sequence[str], hints: Sequence[str]) -> Prompt:
    """The first round's prompt again, with what went wrong since: for a sample whose repairs keep
    returning code that already failed (the 1.5B model copies the code a repair prompt shows it)."""
    tail = fill("restart_user.md", filename=filename,
                log="\n".join(f"- {ln}" for ln in log_lines) or "- (none recorded)",
                hints="\n".join(f"- {h}" for h in hints) or "- read the errors above and avoid their causes")
    *head, last = first.messages
    messages = (*head, Message(last.role, last.content.rstrip("\n") + "\n" + tail))
    return Prompt(messages=messages, template="restart_user.md", docs=first.docs)


_SANDBOX_PATH = re.compile(r"(/[^\s'\"]*)?/opsgraft-[^/\s'\"]+/work/")
_TIMESTAMP = re.compile(r"^\d{4}[/-]\d{2}[/-]\d{2}[ T]\d{2}:\d{2}:\d{2}(?:[.,]\d+)?\s*", re.MULTILINE)
_MEMORY_ADDR = re.compile(r"0x[0-9a-f]{6,}")
# Where the installed packages live differs between checkouts (/work/x/.venv/lib/python3.11/site-packages/).
_PACKAGES_PATH = re.compile(r"(/[^\s'\"]*)?/(site|dist)-packages/")


def clean_stderr(text: str, max_lines: int = 25) -> str:
    """The stderr tail as the model should see it: no sandbox or install paths, timestamps or addresses.

    Besides being shorter, this keeps repair prompts identical between runs, so recorded
    answers replay.
    """
    text = _SANDBOX_PATH.sub("", text)
    text = _PACKAGES_PATH.sub(r"\2-packages/", text)
    text = _TIMESTAMP.sub("", text)
    text = _MEMORY_ADDR.sub("0x…", text)
    return "\n".join(text.strip().splitlines()[-max_lines:])


def repair_prompt(
    spec: AdapterSpec,
    filename: str,
    code: str,
    reasons: Sequence[str],
    stderr_tail: str,
    log_lines: Sequence[str],
    *,
    instruction: str | None = None,
    docs: Sequence[RetrievedDoc] = (),
    original: str = "",
) -> Prompt:
    """The next round's prompt: current code, the checker's reasons, stderr, likely fixes and the round log.

    ``original`` (the script before adaptation) sharpens the hints (see :func:`repair_hints`).
    """
    stderr = clean_stderr(stderr_tail) or "(empty)"
    user = fill(
        "repair_user.md",
        filename=filename,
        instruction=instruction or spec.instruction,
        reasons="\n".join(f"- {r}" for r in reasons) or "- the program failed",
        stderr=stderr,
        log="\n".join(f"- {ln}" for ln in log_lines) or "- (first repair)",
        hints="\n".join(f"- {h}" for h in repair_hints(reasons, stderr_tail, original=original)) or "- read the error above and fix its cause",
        environment=fill("environment.md", filename=filename),
        component=spec.component,
        notes=template(spec.notes).strip(),
        docs=("\n" + (translation_docs_section(docs, spec.source_component, spec.component)
                        if spec.kind == "translate" else docs_section(docs))) if docs else "",
        code=code.rstrip("\n"),
    )
    messages = (Message("system", template("system.md").strip()), Message("user", user))
    return Prompt(messages=messages, template="repair_user.md", docs=tuple(docs))

