"""Adapt one script: prompt -> n samples -> candidates -> (sandbox + checker) -> repair rounds.

Library code: it reports progress through ``on_event`` and never prints.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from opsgraft.adapters import analysis, editformat
from opsgraft.adapters.merge import is_partial, merge_partial
from opsgraft.adapters.postprocess import complete
from opsgraft.adapters.specs import AdapterSpec
from opsgraft.codeblocks import extract_code
from opsgraft.errors import BackendError, InputError, NoCodeError, OpsgraftError
from opsgraft.llm.base import Backend, check_context, index_runs
from opsgraft.types import Candidate, Generation, Message, Prompt, SampleResult, Task, to_dict

log = logging.getLogger(__name__)
EventFn = Callable[[str, dict[str, Any]], None]
PromptBuilder = Callable[[str], Prompt]  # source code -> prompt
REPEAT_TEMPERATURE = 0.8  # a repair answer that repeats tried code is sampled again at this temperature


class CheckerFault(OpsgraftError):
    """A checker raised while judging a sample: a bug in opsgraft, not a failure of the adapted code.

    Raised after the outputs are written; ``result`` is what the adaptation produced up to then.
    """

    def __init__(self, message: str, result: Any = None):
        super().__init__(message)
        self.result = result


@dataclass(frozen=True)
class AdaptOptions:
    """How to sample and judge."""

    n: int = 1
    temperature: float = 0.2
    max_tokens: int = 2048
    seed: int = 0
    repair: int = 0
    run: bool = False
    device: str = "cpu"
    timeout_s: float | None = None
    # Only these sample indices (a resumed benchmark redoes its unfinished chains); () means all n.
    samples: tuple[int, ...] = ()
    # The product path (opsgraft adapt/translate): once a sample passes, repair and judge no other
    # chain. The benchmark keeps False: pass@k needs every chain.
    stop_at_first_pass: bool = False
    # How the model is asked to answer: "whole" (the complete file) or "search-replace" (edit blocks,
    # adapters/editformat.py). A whole file is accepted under either.
    edit_format: str = "whole"


STOPPED = "stopped: another sample passed"
EDIT_FAILED = "the search/replace blocks could not be applied"  # starts an attempt's error (adapters/editformat.py)


@dataclass
class Attempt:
    """One sample in one round: what the model said and how it was judged."""

    round: int
    sample: int
    prompt: Prompt
    generation: Generation
    candidate: Candidate | None
    error: str = ""  # why there is no candidate
    result: SampleResult | None = None
    notes: str = ""  # what merging and post-processing did to the answer's code
    # Certain errors a static check found in the code before its repair (adapters/preflight.py).
    static: list[str] = field(default_factory=list)
    # A restore: the chain's code passed but dropped prints or files of the original (see _restore).
    restore: bool = False

    @property
    def passed(self) -> bool:
        return self.result is not None and self.result.status == "passed"

    @property
    def kept(self) -> bool:
        """Whether the chain keeps this attempt: a restore only if it passed and preserved the original."""
        return not self.restore or (self.passed and self.result is not None and self.result.preserved is True)


@dataclass
class AdaptRun:
    """Everything one adaptation produced; ``to_record()`` is the JSON written beside the output."""

    task: Task
    spec_key: str
    mode: str
    backend: str
    model: str
    options: AdaptOptions
    source: str
    attempts: list[Attempt] = field(default_factory=list)
    docs: list[Any] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)
    # What went into the first prompt besides the docs, by name (the outline block, '' when off).
    prompt_parts: dict[str, str] = field(default_factory=dict)
    stopped: dict[int, str] = field(default_factory=dict)  # sample -> why its chain stopped early

    @property
    def status(self) -> str:
        """How the run ended, from its attempts: ``passed`` (a sample passed its check), ``failed``
        (samples were judged and none passed) or ``generated`` (code, not judged: no ``--run``).

        A run whose answers hold no code raises NoCodeError, and a script that already uses the tool
        never starts one (:func:`precheck`), so neither is a status a caller could see.
        """
        if any(a.passed for a in self.attempts):
            return "passed"
        if any(a.result is not None for a in self.attempts):
            return "failed"
        return "generated"

    def final(self) -> dict[int, Attempt]:
        """The last attempt of each sample chain that the chain keeps (a restore it did not keep is skipped:
        its passing attempt stays final, so a restore never turns a pass into a failure)."""
        out: dict[int, Attempt] = {}
        for a in self.attempts:
            if a.kept:
                out[a.sample] = a
        return out

    def faults(self) -> list[Attempt]:
        """Attempts whose checker raised (see :attr:`SampleResult.checker_fault`)."""
        return [a for a in self.attempts if a.result is not None and a.result.checker_fault]

    def best(self) -> Attempt | None:
        """The first passing final attempt, else the first with code."""
        finals = [self.final()[k] for k in sorted(self.final())]
        for a in finals:
            if a.passed:
                return a
        return next((a for a in finals if a.candidate is not None), None)

    def to_record(self) -> dict[str, Any]:
        """A JSON-ready record: enough to rerun the evaluation without the LLM."""
        return {
            "opsgraft_record": 1,
            "task": to_dict(self.task),
            "adapter": self.spec_key,
            "mode": self.mode,
            "backend": self.backend,
            "model": self.model,
            "options": to_dict(self.options),
            "status": self.status,
            "input_source": self.source,
            "docs": [to_dict(d) for d in self.docs],
            "attempts": [
                {
                    "round": a.round, "sample": a.sample, "prompt": to_dict(a.prompt),
                    "generation": to_dict(a.generation),
                    "candidate": to_dict(a.candidate) if a.candidate else None,
                    "error": a.error, "notes": a.notes, "static": a.static, "restore": a.restore, "kept": a.kept,
                    "result": to_dict(a.result) if a.result else None,
                }
                for a in self.attempts
            ],
            "timings": self.timings,
            "prompt_parts": self.prompt_parts,
            "stopped": {str(k): v for k, v in sorted(self.stopped.items())},
        }


def script_task(path: Path, spec: AdapterSpec, extra_files: tuple[str, ...] = ()) -> Task:
    """An ad-hoc task for a user's script, judged by the adapter's checker."""
    return Task(
        id=f"user:{path.name}", kind="inline" if spec.kind == "inline" else "translate",
        functionality=spec.functionality, component=spec.component, framework="unknown",
        instruction=spec.instruction, entry=path.name, files=(path.name, *extra_files), checker=spec.checker,
        checker_args=dict(spec.checker_args), source_component=spec.source_component, timeout_s=300.0,
        root=str(path.resolve().parent),
    )


def _present_test(target: str) -> Callable[[str], bool]:
    """The ``module:function`` an adapter names as its test for "already there"."""
    import importlib

    module, _, attr = target.partition(":")
    test: Callable[[str], bool] = getattr(importlib.import_module(module), attr)
    return test


def precheck(spec: AdapterSpec, source: str, filename: str) -> str | None:
    """None when there is work to do; "already-present" when the tool is already used.

    Raises InputError for scripts the adapter cannot apply to.
    """
    tree = analysis.parse(source, filename)
    if spec.kind == "inline":
        if analysis.already_present(tree, spec.imports, spec.present_calls, spec.present_keywords):
            return "already-present"
        if spec.present_test and _present_test(spec.present_test)(source):
            return "already-present"
        if not analysis.is_training_script(tree):
            raise InputError(f"{filename}: no training found (no fit/train call or training loop); nothing to adapt")
    elif not analysis.uses_any(tree, spec.source_imports):
        raise InputError(f"{filename}: does not use {spec.source_component}; nothing to translate")
    return None


def _candidate(task: Task, gen: Generation, sample: int, round_: int, base: str,
               edit_format: str = "whole") -> tuple[Candidate | None, str]:
    """The answer's code as a candidate (and notes), or None and why.

    Under the search-replace format, an answer with edit blocks is applied to ``base`` (the code the
    prompt showed); one without blocks is taken as a whole file, as small models often answer.
    A marked partial answer is merged into ``base`` first; then dropped imports and a dropped main
    block are put back (adapters/postprocess.py).
    """
    notes: list[str] = []
    if edit_format == "search-replace" and editformat.has_blocks(gen.text):
        try:
            code, notes = editformat.apply_answer(base, gen.text)
        except editformat.EditError as exc:
            return None, f"{EDIT_FAILED}: {exc}"
        code, fixes = complete(code, base)
        notes += fixes
        return Candidate(task.id, sample, {task.entry: code}, task.entry, origin=f"round{round_}"), "; ".join(notes)
    try:
        code = extract_code(gen.text)
    except NoCodeError as exc:
        return None, str(exc)
    if edit_format == "search-replace":
        notes.append("a whole file instead of search/replace blocks")
    if is_partial(code):
        code = merge_partial(base, code)
        notes.append("partial answer merged into the original")
    code, fixes = complete(code, base)
    notes += fixes
    return Candidate(task.id, sample, {task.entry: code}, task.entry, origin=f"round{round_}"), "; ".join(notes)


def run_adaptation(
    task: Task,
    spec: AdapterSpec,
    backend: Backend,
    source: str,
    build_prompt: PromptBuilder,
    options: AdaptOptions,
    *,
    mode: str = "zero-shot",
    build_repair: Callable[[Attempt, list[str]], Prompt] | None = None,
    build_restart: Callable[[Attempt, list[str]], Prompt] | None = None,
    judge: Callable[[Task, Candidate], SampleResult] | None = None,
    on_event: EventFn | None = None,
    static_check: Callable[[Attempt], list[str]] | None = None,
    build_restore: Callable[[Attempt], Prompt] | None = None,
) -> AdaptRun:
    """Sample ``n`` candidates, judge them when ``judge`` is given, repair failures ``options.repair`` times.

    ``static_check`` lists a failed attempt's certain errors before its repair (kept on the attempt,
    which the repair prompt builder reads). With ``build_restore``, a chain that passed while its
    ``preserved`` verdict is False gets one of the remaining repairs to put the original's prints and
    files back (a restore, see :func:`_restore`); pass or fail, the chain keeps a passing attempt.
    """
    emit = on_event or (lambda kind, data: None)
    run = AdaptRun(task, spec.key, mode, backend.name, backend.model, options, source)
    t_start = time.perf_counter()
    prompt = build_prompt(source)
    check_context(backend, prompt.messages, options.max_tokens)
    run.docs = list(prompt.docs)
    emit("generate", {"round": 0, "n": options.n})
    t0 = time.perf_counter()
    indices = list(options.samples) or list(range(options.n))
    # The tool's start of the answer (adapters/scaffold.py), where the backend continues a prefill.
    prefill = prompt.prefill if prompt.prefill and getattr(backend, "supports_prefill", False) else ""
    messages = prompt.messages + ((Message("assistant", prefill),) if prefill else ())
    gens = [replace(g, text=prefill + g.text) for first, count in index_runs(indices)
            for g in backend.generate(messages, n=count, temperature=options.temperature,
                                      max_tokens=options.max_tokens, seed=options.seed, first_index=first)]
    run.timings["generate_s"] = time.perf_counter() - t0
    for i, gen in zip(sorted(indices), gens, strict=True):
        cand, msg = _candidate(task, gen, i, 0, source, options.edit_format)
        run.attempts.append(Attempt(0, i, prompt, gen, cand, "" if cand else msg, notes=msg if cand else ""))
    # Edit blocks that did not apply are an error the model can fix: with repair rounds, it is told.
    fixable = judge is not None and options.repair > 0 and any(a.error.startswith(EDIT_FAILED) for a in run.attempts)
    if all(a.candidate is None for a in run.attempts) and not fixable:
        raise NoCodeError(f"the LLM answer holds no code ({run.attempts[0].error})")
    if judge is None:
        run.timings["total_s"] = time.perf_counter() - t_start
        return run
    logs: dict[int, list[str]] = {i: [] for i in indices}
    stop = options.stop_at_first_pass
    restored: set[int] = set()  # samples that had their one restore
    _judge_round(run, 0, judge, logs, emit, stop)
    for round_ in range(1, options.repair + 1):
        failing = [a for a in run.final().values() if not a.passed]
        restoring = _restorable(run, restored) if build_restore is not None else []
        restored.update(a.sample for a in restoring)
        if stop and _stop_chains(run):
            # A pass ends the product path, except that a pass which dropped prints or files of the original
            # gets its one restore first: the user asked for their script plus a tool, not a script that no
            # longer reports what it did, and one more answer costs less than their rerun.
            failing = []
        if (not restoring and (not failing or build_repair is None)) or run.faults():
            # A checker that raised would raise again on any repair, and its traceback says nothing
            # about the code: the model must never be asked to fix it.
            break
        if build_repair is None:
            failing = []
        for prev in failing:
            if static_check is not None and prev.candidate is not None and not prev.static:
                prev.static = static_check(prev)
        if stop:
            # Only the first pass counts: repair the most promising chain first (issue 16, technique 4).
            failing.sort(key=promise)
        for prev in failing:
            if stop and _stop_chains(run):
                break
            emit("repair", {"round": round_, "sample": prev.sample, "attempt": prev})
            assert build_repair is not None
            repair_prompt = build_repair(prev, logs[prev.sample])
            check_context(backend, repair_prompt.messages, options.max_tokens)
            base = prev.candidate.files[task.entry] if prev.candidate else source
            gen, cand, msg = _repair_answer(backend, run, repair_prompt, prev, round_, base, options.temperature)
            tried = {a.candidate.files[task.entry] for a in run.attempts if a.sample == prev.sample and a.candidate}
            if cand is not None and cand.files[task.entry] in tried:
                # The same code would fail the same way: sample again, hotter, before spending a sandbox
                # run on it. (A follow-up turn saying "that already failed" was tried instead; on the
                # recorded registration chain it kept the failing code where this resample fixed it.)
                hot = max(REPEAT_TEMPERATURE, options.temperature)
                emit("resample", {"round": round_, "sample": prev.sample, "temperature": hot})
                gen, cand, msg = _repair_answer(backend, run, repair_prompt, prev, round_, base, hot)
                msg = "; ".join(filter(None, [f"the first answer repeated earlier code; resampled at temperature {hot}",
                                              msg if cand else ""])) if cand else msg
                logs[prev.sample].append(f"round {round_}: the answer repeated an earlier round's code")
                if cand is not None and cand.files[task.entry] in tried and build_restart is not None:
                    # Still the same code: shown its code, the model copies it. Start over from the
                    # original script with the failures and hints (bench, hpo:optuna: a module-level
                    # objective came back unchanged from the repair and from the resample).
                    repair_prompt = build_restart(prev, logs[prev.sample])
                    check_context(backend, repair_prompt.messages, options.max_tokens)
                    emit("restart", {"round": round_, "sample": prev.sample, "temperature": hot})
                    gen, cand, msg = _repair_answer(backend, run, repair_prompt, prev, round_, source, hot)
                    msg = "; ".join(filter(None, ["the resample repeated it too; restarted from the original script",
                                                  msg if cand else ""])) if cand else msg
            run.attempts.append(Attempt(round_, prev.sample, repair_prompt, gen, cand, "" if cand else msg,
                                        notes=msg if cand else ""))
            if stop:  # judge each repair at once: a pass spares the other chains' generation
                _judge_round(run, round_, judge, logs, emit, stop)
        for prev in restoring:
            assert build_restore is not None
            _restore(backend, run, build_restore, prev, round_, emit)
        _judge_round(run, round_, judge, logs, emit, stop)
        for a in run.attempts:
            if a.restore and a.round == round_:
                kept = "restore: the original's prints and files are back" if a.kept else \
                    "restore: kept the passing attempt"
                a.notes = "; ".join(filter(None, [kept, a.notes]))
    run.timings["total_s"] = time.perf_counter() - t_start
    if all(a.candidate is None for a in run.attempts):  # only when round 0's edits failed (see `fixable`)
        raise NoCodeError(f"no answer's edits could be applied ({run.attempts[-1].error})")
    return run


def promise(attempt: Attempt) -> tuple[int, float, int]:
    """Sort key, most promising failed attempt first: how far its program got before it failed.

    A program that ran to its end and only missed the checker comes first, then one that crashed
    with no certain error in its code (the longer it ran, the further it got), then a timeout or
    code with certain errors (syntax, undefined names), then an answer with no code. With
    ``stop_at_first_pass`` (``opsgraft adapt --run``), the chain repaired first is the likeliest to
    end the run: a user whose three samples failed waited for three repairs before any was judged.
    """
    result = attempt.result
    if attempt.candidate is None or result is None:
        return (3, 0.0, attempt.sample)
    execution = result.execution
    if attempt.static or execution.status == "timeout":
        rank = 2
    elif execution.returncode == 0:
        rank = 0
    else:
        rank = 1
    return (rank, -execution.wall_s if rank == 1 else 0.0, attempt.sample)


def _repair_answer(backend: Backend, run: AdaptRun, prompt: Prompt, prev: Attempt, round_: int, base: str,
                   temperature: float) -> tuple[Generation, Candidate | None, str]:
    """One repair answer for ``prev``'s sample (seeded by round and sample), as a candidate."""
    options = run.options
    t0 = time.perf_counter()
    gen = backend.generate(prompt.messages, n=1, temperature=temperature, max_tokens=options.max_tokens,
                           seed=options.seed + 1000 * round_ + prev.sample)[0]
    run.timings["generate_s"] += time.perf_counter() - t0
    gen = replace(gen, index=prev.sample)
    return (gen, *_candidate(run.task, gen, prev.sample, round_, base, options.edit_format))


def _restorable(run: AdaptRun, restored: set[int]) -> list[Attempt]:
    """Chains whose kept attempt passed but dropped prints or files of the original, not in ``restored``.

    Measured (issue 16): 2 of 7 registration samples that passed their checker still did what the original did.
    """
    return [a for s, a in sorted(run.final().items())
            if a.passed and a.result is not None and a.result.preserved is False and s not in restored]


def _restore(backend: Backend, run: AdaptRun, build_restore: Callable[[Attempt], Prompt], prev: Attempt,
             round_: int, emit: EventFn) -> None:
    """Spend one repair on a passing chain: the original's dropped prints and files back, nothing else changed.

    The answer is judged with the round; the chain keeps it only if it passes and preserves (:attr:`Attempt.kept`).
    A prompt that does not fit or a backend that fails skips the restore: the pass must never be lost to it.
    """
    assert prev.candidate is not None
    emit("restore", {"round": round_, "sample": prev.sample, "attempt": prev})
    prompt = build_restore(prev)
    try:
        check_context(backend, prompt.messages, run.options.max_tokens)
        gen, cand, msg = _repair_answer(backend, run, prompt, prev, round_, prev.candidate.files[run.task.entry],
                                        run.options.temperature)
    except BackendError as exc:
        log.warning("restore of sample %d skipped: %s", prev.sample, exc)
        return
    run.attempts.append(Attempt(round_, prev.sample, prompt, gen, cand, "" if cand else msg,
                                notes=msg if cand else "", restore=True))


def _stop_chains(run: AdaptRun) -> bool:
    """With ``stop_at_first_pass``: True once a sample passed, marking every other unfinished chain stopped."""
    if not any(a.passed for a in run.attempts):
        return False
    for sample, last in run.final().items():
        if not last.passed:
            run.stopped.setdefault(sample, STOPPED)
    return True


def _judge_round(run: AdaptRun, round_: int, judge: Callable[[Task, Candidate], SampleResult],
                 logs: dict[int, list[str]], emit: EventFn, stop: bool = False) -> None:
    for a in run.attempts:
        if a.round != round_ or a.result is not None:
            continue
        if stop and not a.restore and _stop_chains(run):
            continue  # another sample passed: this one is left unjudged (its chain is marked stopped)
        if a.candidate is None:
            why = a.error if a.error.startswith(EDIT_FAILED) else "no code in the answer"
            logs[a.sample].append(f"round {round_}: {why}"[:300])
            continue
        emit("judge", {"round": round_, "sample": a.sample})
        t0 = time.perf_counter()
        a.result = judge(run.task, a.candidate)
        run.timings["judge_s"] = run.timings.get("judge_s", 0.0) + time.perf_counter() - t0
        emit("verdict", {"round": round_, "sample": a.sample, "status": a.result.status, "attempt": a})
        logs[a.sample].append(f"round {round_}: {a.result.status}: {summarize_failure(a.result)}")


def summarize_failure(result: SampleResult) -> str:
    """One line: the checker's first reason, or the last stderr line."""
    if result.status == "passed":
        return "ok"
    if result.verdict is not None and result.verdict.reasons:
        return "; ".join(result.verdict.reasons)[:300]
    lines = [ln for ln in result.execution.stderr_tail.splitlines() if ln.strip()]
    return (lines[-1] if lines else result.status)[:300]
