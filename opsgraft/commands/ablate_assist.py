"""The parts of `opsgraft ablate` that run no study: `--suggest [--apply]`, `first-call`, `followup-call`."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import click

from opsgraft.commands._common import console

SUGGEST_TOKENS = 256  # numbers only; a longer answer is a whole file, held to the same rules


def suggest(sources: Sequence[tuple[Path, str]], *, apply: bool, dry_run: bool, docs: str,
            backend_factory: Callable[[], Any], temperature: float, seed: int, out_dir: Path | None) -> None:
    """Ask the model which candidates to mark, show the diff, and with ``apply`` write the annotated copy."""
    from opsgraft.adapters.ablation import suggest as sg

    found: list[tuple[Path, str, list[sg.Candidate]]] = []
    for i, (path, source) in enumerate(sources):
        try:
            candidates, note = sg.candidates_for(path, source)
        except sg.SuggestError:
            if i == 0 and len(sources) == 1 or sg.has_markers(source):
                raise
            continue  # a helper file without layers
        found.append((path, source, candidates))
        click.echo(f"candidates: {note}")
        for c in candidates:
            click.echo(f"  {c.number:>4}: {c.text}")
    if not found:
        sg.candidates_for(*sources[0])  # raises the entry file's one-line reason
    if dry_run:
        click.echo(f"dry run: {sum(len(c) for _, _, c in found)} candidates listed, no model asked, nothing written")
        return
    backend = backend_factory()
    proposals = []
    for path, source, candidates in found:
        with console.status(f"asking the model which components of {path.name} to ablate"):
            gen = backend.generate(sg.prompt(path, candidates, docs), n=1, temperature=temperature,
                                   max_tokens=SUGGEST_TOKENS, seed=seed)[0]
        proposal = sg.propose(path, source, gen.text, candidates)
        proposals.append(proposal)
        click.echo(f"proposal for {path.name}: " + ", ".join(c.name for c in proposal.components))
        click.echo(proposal.diff(), nl=False)
    if not apply:
        click.echo("not written: rerun with --apply to write the annotated copy as a new file (the input stays as is)")
        return
    for path in _write(proposals, sources, out_dir):
        click.echo(f"written: {path}")


def _write(proposals: Sequence[Any], sources: Sequence[tuple[Path, str]], out_dir: Path | None) -> list[Path]:
    """One annotated file beside its input; several annotated files go into a new folder with every input,
    under their own names, so that their imports of each other still work."""
    from opsgraft.adapters.output import free_path, write_new

    inputs = [p for p, _ in sources]
    entry = inputs[0]
    directory = out_dir or entry.parent
    directory.mkdir(parents=True, exist_ok=True)
    if len(proposals) == 1 and proposals[0].path == entry:  # the other inputs, unchanged, stay importable beside it
        p = proposals[0]
        code = write_new(free_path(directory, f"{p.path.stem}_annotated", ".py"), p.annotated)
        diff = write_new(free_path(directory, code.stem, ".diff"), p.diff(code.name))
        click.echo(f"next:    opsgraft ablate {code} --dry-run")
        return [code, diff]
    folder = free_path(directory, f"{entry.stem}_annotated", "")
    folder.mkdir()
    annotated = {p.path: p for p in proposals}
    written = []
    for path, source in sources:
        text = annotated[path].annotated if path in annotated else source
        written.append(write_new(folder / path.name, text))
    written.append(write_new(folder / "annotations.diff", "".join(p.diff() for p in proposals)))
    click.echo(f"next:    opsgraft ablate {folder / entry.name} {' '.join(str(folder / p.name) for p in inputs[1:])}"
               " --dry-run")
    return written


def manual(mode: str, args: Sequence[Path], *, docs: Sequence[Path], docs_budget: int, features: str | None,
           pairs: bool, out_dir: Path | None, seed: int, temperature: float, max_tokens: int,
           backend_factory: Callable[[], Any]) -> None:
    """``first-call SCRIPT [FILES]`` or ``followup-call ERROR_FILE SCRIPT [FILES]``: write the answer, run nothing."""
    from opsgraft.adapters.ablation import manual as mm
    from opsgraft.adapters.ablation.annotations import plan_study, read_docs
    from opsgraft.adapters.analysis import read_source

    need = 1 if mode == "first-call" else 2
    if len(args) < need:
        usage = "first-call SCRIPT [FILES...]" if mode == "first-call" else "followup-call ERROR_FILE SCRIPT [FILES...]"
        raise click.UsageError(f"usage: opsgraft ablate {usage}")
    error = mm.read_error(args[0]) if mode == "followup-call" else ""
    paths = list(args[need - 1:])
    files = {p.name: read_source(p) for p in paths}
    if mode == "first-call":
        plan = plan_study([(p, files[p.name]) for p in paths], features=features, pairs=pairs)
        doc_text = read_docs(list(docs), docs_budget)[0] if docs else ""
        messages = mm.first_call_prompt(files, plan, doc_text, seed)
        click.echo(f"components: {', '.join(c.name for c in plan.components)}")
    else:
        messages = mm.followup_prompt(files, error)
    backend = backend_factory()
    with console.status(f"asking the model ({mode})"):
        gen = backend.generate(messages, n=1, temperature=temperature, max_tokens=max_tokens, seed=seed)[0]
    out = mm.write_answer(out_dir or paths[0].parent, paths[0].stem, mode, gen.text)
    click.echo(f"answer:  {out['answer']}")
    if "code" not in out:
        click.echo("code:    none (the answer holds no code block)")
        return
    click.echo(f"code:    {out['code']}")
    click.echo(f"nothing was run. Run it yourself; on an error, save the traceback to a file and run: "
               f"opsgraft ablate followup-call ERROR_FILE {out['code']}")
