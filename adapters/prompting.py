"""Fill the prompt templates of adapters/prompts/; control flow never holds prompt text."""

from __future__ import annotations

import re
from collections.abc import Sequence
from functools import lru_cache
from importlib import resources
from string import Template

from opsgraft.adapters.hints import repair_hints
from opsgraft.adapters.specs import AdapterSpec
from opsgraft.errors import ConfigError
from opsgraft.resources import is_plugin_ref, resource_text
from opsgraft.types import Message, Prompt, RetrievedDoc

EDIT_FORMATS = ("whole", "search-replace")
_SR = "_sr.md"  # suffix of a template's search/replace variant (see template_for)
_RETURN_WHOLE = re.compile(r"^Return the complete .*\n?\Z", re.MULTILINE)


@lru_cache(maxsize=64)
def template(name: str) -> str:
    """The text of adapters/prompts/<name>.

    ``x_sr.md`` without a file of its own is ``x.md`` asking for search/replace blocks
    (answer_sr.md) in place of its closing "Return the complete ..." line: the variant keeps every
    section of the whole-file template, and the whole-file template stays byte-identical.
    """
    path = resources.files("opsgraft.adapters") / "prompts" / name
    if not path.is_file() and name.endswith(_SR):
        base = template(name.removesuffix(_SR) + ".md")
        if not _RETURN_WHOLE.search(base):
            raise ConfigError(f"prompt template {name.removesuffix(_SR)}.md does not end with a 'Return the complete' line")
        return _RETURN_WHOLE.sub(lambda _: template("answer_sr.md"), base)
    return path.read_text(encoding="utf-8")


def template_for(name: str, edit_format: str) -> str:
    """The template name for an edit format: ``x.md`` (whole file) or ``x_sr.md`` (search/replace blocks)."""
    if edit_format not in EDIT_FORMATS:
        raise ConfigError(f"unknown edit format {edit_format!r}; use one of {', '.join(EDIT_FORMATS)}")
    return name if edit_format == "whole" else name.removesuffix(".md") + _SR


def fill(name: str, **values: str) -> str:
    """Substitute ``$names``; unknown placeholders are left as they are."""
    return Template(template(name)).safe_substitute(values)


def notes_text(spec: AdapterSpec) -> str:
    """The adapter's component rules: adapters/prompts/<notes>, or a plugin's ``pkg:path`` file."""
    if is_plugin_ref(spec.notes):
        return resource_text(spec.notes, "opsgraft.adapters", "prompts").strip()
    return template(spec.notes).strip()


def environment_section(spec: AdapterSpec, filename: str) -> str:
    """environment.md, plus the adapter's own lines (a plugin's tool in the sandbox); unchanged without them."""
    text = fill("environment.md", filename=filename)
    if not spec.environment.strip():
        return text
    lines = "\n".join(f"- {ln.strip().removeprefix('- ')}" for ln in spec.environment.strip().splitlines() if ln.strip())
    return text.rstrip("\n") + "\n" + lines + ("\n" if text.endswith("\n") else "")


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
    outline: str = "",
    example: str = "",
    edit_format: str = "whole",
) -> Prompt:
    """The zero-shot prompt (docs and guide sections empty) or one carrying docs / a guide / a worked example."""
    if spec.kind == "translate":
        extra = translation_docs_section(docs, spec.source_component, spec.component)
    else:
        extra = docs_section(docs)
    if guide:
        extra = f"Step-by-step guide:\n{guide.strip()}\n\n{extra}"
    if example:  # a worked example (adapters/examples.py), last, right above the script it is for
        extra = f"{extra}\n{example}" if extra else example
    template_name = template_for(template_name, edit_format)
    user = fill(
        template_name,
        instruction=instruction or spec.instruction,
        environment=environment_section(spec, filename),
        component=spec.component,
        notes=notes_text(spec),
        docs=("\n" + extra) if extra else "",
        filename=filename,
        code=code.rstrip("\n"),
        # The script's outline (adapters/outline.py) right after the code its line numbers refer to;
        # without one the prompt is byte-identical to before, so recorded cassettes still replay.
        outline=f"\n{outline.strip()}\n" if outline.strip() else "",
    )
    messages = (Message("system", template(template_for("system.md", edit_format)).strip()), Message("user", user))
    return Prompt(messages=messages, template=template_name, docs=tuple(docs))


def restart_prompt(first: Prompt, filename: str, log_lines: Sequence[str], hints: Sequence[str],
                   edit_format: str = "whole") -> Prompt:
    """The first round's prompt again, with what went wrong since: for a sample whose repairs keep
    returning code that already failed (the 1.5B model copies the code a repair prompt shows it)."""
    tail = fill(template_for("restart_user.md", edit_format), filename=filename,
                log="\n".join(f"- {ln}" for ln in log_lines) or "- (none recorded)",
                hints="\n".join(f"- {h}" for h in hints) or "- read the errors above and avoid their causes")
    *head, last = first.messages
    messages = (*head, Message(last.role, last.content.rstrip("\n") + "\n" + tail))
    return Prompt(messages=messages, template=template_for("restart_user.md", edit_format), docs=first.docs)


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


_FRAME = re.compile(r'File "([^"]+)", line (\d+)')
CONTEXT_LINES = 3  # lines shown before and after the failing one


def failing_line(filename: str, stderr_tail: str, reasons: Sequence[str] = ()) -> int | None:
    """The line of ``filename`` the failure points at: the innermost traceback frame in that file,
    else a line a checker reason names (``train.py:12``, ``train.py line 12``); None when neither does."""
    name = filename.replace("\\", "/")
    # "train.py" as the main script; ".../work/train.py" imported from the sandbox's workdir (not a
    # library's own train.py under site-packages).
    frames = [int(m.group(2)) for m in _FRAME.finditer(stderr_tail)
              if m.group(1).replace("\\", "/") in (name, "./" + name)
              or m.group(1).replace("\\", "/").endswith("/work/" + name)]
    if frames:
        return frames[-1]
    named = re.compile(rf"(?<![\w.-]){re.escape(name)}(?::| line |, line )(\d+)")
    for reason in reasons:
        m = named.search(reason)
        if m:
            return int(m.group(1))
    return None


def line_context(code: str, filename: str, stderr_tail: str, reasons: Sequence[str] = ()) -> str:
    """The failing line of ``code`` with CONTEXT_LINES lines around it, marked ``>>``; '' when none is known.

    The model sees the line in the code it wrote, not only the error text (issue 16, technique 5).
    """
    number = failing_line(filename, stderr_tail, reasons)
    lines = code.splitlines()
    if number is None or not 1 <= number <= len(lines):
        return ""
    first, last = max(1, number - CONTEXT_LINES), min(len(lines), number + CONTEXT_LINES)
    shown = "\n".join(f"{'>>' if n == number else '  '} {n:4d} | {lines[n - 1]}" for n in range(first, last + 1))
    return fill("repair_context.md", filename=filename, line=str(number), context=shown)


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
    edit_format: str = "whole",
) -> Prompt:
    """The next round's prompt: current code, the checker's reasons, stderr, likely fixes and the round log.

    ``original`` (the script before adaptation) sharpens the hints (see :func:`repair_hints`).
    """
    stderr = clean_stderr(stderr_tail) or "(empty)"
    user = fill(
        template_for("repair_user.md", edit_format),
        filename=filename,
        instruction=instruction or spec.instruction,
        reasons="\n".join(f"- {r}" for r in reasons) or "- the program failed",
        stderr=stderr,
        # Empty without a known line: then the prompt is byte-identical to before, so recordings replay.
        context=line_context(code, filename, stderr_tail, reasons),
        log="\n".join(f"- {ln}" for ln in log_lines) or "- (first repair)",
        hints="\n".join(f"- {h}" for h in repair_hints(reasons, stderr_tail, original=original)) or "- read the error above and fix its cause",
        environment=environment_section(spec, filename),
        component=spec.component,
        notes=notes_text(spec),
        docs=("\n" + (translation_docs_section(docs, spec.source_component, spec.component)
                        if spec.kind == "translate" else docs_section(docs))) if docs else "",
        code=code.rstrip("\n"),
    )
    messages = (Message("system", template(template_for("system.md", edit_format)).strip()), Message("user", user))
    return Prompt(messages=messages, template=template_for("repair_user.md", edit_format), docs=tuple(docs))



def restore_prompt(filename: str, code: str, findings: Sequence[str], original: str,
                   edit_format: str = "whole") -> Prompt:
    """For code that passes its check but dropped prints or files of the original: put them back, change nothing else.

    Short on purpose (no docs, hints or log): the code works; only the findings and where the original
    has those prints and writes (adapters/outputs.py; the whole original when none is found) are new.
    """
    from opsgraft.adapters.outputs import find, keep_line

    keep, body = keep_line(find(original, filename)), original.rstrip("\n")
    where = (f"\nIn the original `{filename}`:\n{keep}\n" if keep else
             f"\nThe original `{filename}`:\n```python\n{body}\n```\n")
    user = fill(template_for("restore_user.md", edit_format), filename=filename,
                findings="\n".join(f"- {f}" for f in findings) or "- (no findings recorded)", original=where,
                code=code.rstrip("\n"))
    messages = (Message("system", template(template_for("system.md", edit_format)).strip()), Message("user", user))
    return Prompt(messages=messages, template=template_for("restore_user.md", edit_format))
