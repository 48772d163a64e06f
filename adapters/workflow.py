"""Join prompt modes, retrieval, the LLM, the sandbox and the outputs for one script."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from importlib import resources
from pathlib import Path
from typing import Any

from opsgraft.adapters import prompting, repair_loop
from opsgraft.adapters.hints import repair_hints
from opsgraft.adapters.output import write_outputs
from opsgraft.adapters.specs import AdapterSpec
from opsgraft.errors import ConfigError
from opsgraft.llm.base import Backend
from opsgraft.resources import is_plugin_ref, resource_text
from opsgraft.types import Candidate, Prompt, RetrievedDoc, SampleResult, Task

log = logging.getLogger(__name__)
# Functionalities whose repair prompts carry the preserved findings (a dropped print or file).
PRESERVE_FINDINGS = frozenset({"tracking", "registration"})


def guide_text(name: str) -> str:
    """A docprompt guide from corpus/guides/, written for the installed API versions (a plugin's: ``pkg:path``)."""
    if is_plugin_ref(name):
        return resource_text(name, "opsgraft.corpus", "guides")
    path = resources.files("opsgraft.corpus") / "guides" / f"{name}.md"
    if not path.is_file():
        raise ConfigError(f"no docprompt guide '{name}' in corpus/guides")
    return path.read_text(encoding="utf-8")


@dataclass
class Result:
    """The run and where its outputs went."""

    run: repair_loop.AdaptRun
    paths: dict[str, Path]


@dataclass
class Workflow:
    """One adaptation of one script, from precheck to written outputs."""

    spec: AdapterSpec
    script: Path
    source: str
    mode: str = "zero-shot"
    strategy: str = ""
    top_k: int = 5
    with_files: tuple[str, ...] = ()
    device: str = "cpu"
    isolation: str = "none"  # see opsgraft.evaluation.isolation
    outline: bool = True  # put the script's outline and insertion points in the first prompt (adapters/outline.py)
    callmap: bool = True  # a translation's outline maps each source-API statement to its target (adapters/callmap.py)
    # The answer starts with the tool's head of the file: a translation's imports and helpers
    # (adapters/scaffold.py), config:json's DEFAULT_CONFIG and loader (adapters/config_plan.py).
    # None: on for config:json when its plan finds settings (measured, see `planned_config`) and for GitPython ->
    # DVC where the outline writes the function out (measured, see `planned_translation`), off for the other
    # translations until measured better on the held-out half (bench knob `scaffold`).
    scaffold: bool | None = None
    timeout_s: float = 300.0
    preserved: bool = False  # judge with the preserved check (opsgraft.evaluation.preserved); the CLI turns it on
    task: Task | None = None
    docs: list[RetrievedDoc] = field(default_factory=list)
    # Show the nearest worked example (adapters/examples.py) in the first prompt. None: on, except for
    # config:json when its plan finds settings, and pruning and registration when their plan is written out
    # (measured, see `planned_config`, `planned_pruning` and `planned_registration`).
    examples: bool | None = None
    # Rename the example's names to the script's own (adapters/example_align.py; bench knob `align_examples`).
    # None: on for inline adapters, where it was measured (held-out round 0: the copied UNITS and LR were
    # gone, keras-digits 0/3 -> 2/3, waveforms 1/3 -> 3/3), off for translations until they are measured.
    align_examples: bool | None = None
    # End the outline with the script's reachable prints and file writes, to keep unchanged (adapters/outputs.py).
    # Off until measured (bench knob `keep_outputs`); off, the prompt is byte-identical to before it existed.
    keep_outputs: bool = False
    # Tracking (MLflow, W&B): the outline writes out the log_params call from the script's settings and a
    # log call before each print that reports numbers (adapters/tracking_plan.py); HPO: the study laid out
    # on the script's own build/train/score lines (adapters/hpo_plan.py). Bench knob `exact_calls`.
    exact_calls: bool = True
    # "whole" (answer with the complete file) or "search-replace" (edit blocks, adapters/editformat.py)
    edit_format: str = "whole"
    # Before a repair, list every certain error of the failed code (syntax, undefined names, imports and
    # module attributes the installed packages lack) in the repair prompt (adapters/preflight.py).
    static_check: bool = True
    # A sample that passes its check but dropped prints or files of the original (its `preserved` verdict)
    # gets one of the remaining repair rounds to put them back (a restore, adapters/repair_loop.py); only
    # where the findings count (:attr:`counts_findings`). Bench knob `restore`; `opsgraft adapt --no-restore`.
    restore: bool = True
    _example: str | None = field(default=None, repr=False)  # its section; None until chosen, '' for none
    # What repair and restart prompts are fitted to; set only through bind(). Unbound (None), they keep every doc.
    _backend: Backend | None = field(default=None, repr=False)
    _max_tokens: int = field(default=2048, repr=False)

    def __post_init__(self) -> None:
        if self.spec.kind == "translate" and self.callmap and self.exact_calls:
            from opsgraft.adapters import callmap

            # the tool writes `cfg.X` reads as `cfg["X"]` before the model sees the script (callmap.subscripted)
            self.source = callmap.subscripted(self.source, self.spec.key)
        if self.task is None:
            task = repair_loop.script_task(self.script, self.spec, self.with_files)
            from dataclasses import replace

            self.task = replace(task, timeout_s=self.timeout_s)

    def bind(self, backend: Backend, max_tokens: int) -> None:
        """Fit the repair and restart prompts to ``backend``'s context window with ``max_tokens`` left to answer.

        :meth:`execute` binds its backend itself; a caller that drives :func:`repair_loop.run_adaptation`
        with this workflow's prompt builders (the benchmark runner) binds before it.
        """
        self._backend, self._max_tokens = backend, max_tokens

    @property
    def bound(self) -> tuple[Backend | None, int]:
        """The backend and answer budget the repair prompts are fitted to (None before :meth:`bind`)."""
        return self._backend, self._max_tokens

    def precheck(self) -> str | None:
        """See :func:`repair_loop.precheck`."""
        return repair_loop.precheck(self.spec, self.source, self.script.name)

    def retrieve_docs(self, backend: Backend | None) -> list[RetrievedDoc]:
        """Docs for rag mode (target-search) or a translation strategy; none otherwise."""
        if self.mode != "rag" and not self.strategy:
            return []
        from opsgraft.retrieval import RetrievalRequest, retrieve

        assert self.task is not None
        strategy = self.strategy or "target-search"
        request = RetrievalRequest(
            code=self.source, target=self.spec.docs_store, source=self.spec.source_component or None,
            instruction=self.task.instruction, top_k=self.top_k,
            lookups=self.spec.lookups_for(self.source) if strategy == "target-search" else (),
        )
        return list(retrieve(strategy, request, backend=backend))

    def build_prompt(self, source: str, docs: list[RetrievedDoc] | None = None) -> Prompt:
        """The first prompt of the chosen mode."""
        assert self.task is not None
        guide = guide_text(self.spec.guide) if self.mode == "docprompt" and self.spec.guide else ""
        template = "translate_user.md" if self.spec.kind == "translate" else "inline_user.md"
        prompt = prompting.inline_prompt(self.spec, self.task.entry, source, instruction=self.task.instruction,
                                         docs=self.docs if docs is None else docs, guide=guide,
                                         template_name=template, example=self.example_text(),
                                         outline=self.outline_text(), edit_format=self.edit_format)
        if self.uses_scaffold and self.spec.kind == "translate" and self.edit_format == "whole":
            from opsgraft.adapters import scaffold

            prompt = replace(prompt, prefill=scaffold.build(source, self.spec.key))
        elif self.uses_scaffold and self.spec.functionality == "config" and self.edit_format == "whole":
            from opsgraft.adapters import config_plan, scaffold

            head = config_plan.head(source)
            prompt = replace(prompt, prefill=f"{scaffold.FENCE}{head}" if head else "")
        return prompt

    @property
    def planned_config(self) -> bool:
        """config:json on a script whose settings adapters/config_plan.py finds.

        Issue 19, n=3, round 0, the 3 config tasks: with the plan AND the worked example, every failure
        was the example's (its `history` print, its `validation_split`/`test_size` keys, its seed); without
        the example the answers broke the loader's merge (KeyError on a default key). The tool then writes
        the loader (scaffold) and the example is left out: 2 of 3 tasks, 4 of 9 samples, against 1 of 3
        and 2 of 9 with the example and no plan (cfg-json14 vs cfg-json9); 3 of 3 once seeds are settings
        (cfg-json16).
        """
        if self.spec.functionality != "config":
            return False
        from opsgraft.adapters import config_plan

        return bool(config_plan.find(self.source))

    @property
    def planned_pruning(self) -> bool:
        """Pruning on a script whose epoch loop (or Lightning Trainer) adapters/pruning_plan.py writes the calls into.

        Issue 16, held-out pruning, n=3, round 0: with the plan and the worked example 3 of 4 tasks, 9 of 12
        samples; nncf-digits-cnn 0 of 3, its answers moved the example's `if epoch == 1: nncf.prune(...)` shape
        into the plan's before-the-loop schedule (prune-plan-held2). With the plan and no example: 4 of 4
        tasks, 11 of 12 samples, every passing one preserved (prune-noex-held).
        """
        if self.spec.functionality != "pruning" or not self.exact_calls or not self.outline:
            return False
        from opsgraft.adapters import outline as outline_mod
        from opsgraft.adapters import pruning_plan

        o = outline_mod.build(self.source, self.script.name)
        assert self.task is not None
        return bool(pruning_plan.skeleton(o, self.source, outline_mod.work_scope(o), self.spec.component,
                                          self.task.instruction))

    @property
    def planned_tracking(self) -> bool:
        """Tracking with MLflow on a script whose prints adapters/tracking_plan.py writes the log calls before.

        Issue 16, tracking, n=3, round 0, with the plan: with the worked example the tuning half's keras-conv
        answers copied the example's `history.history['val_mae']` print into a log call (0 of 3, trk-tune2);
        without it the 9 MLflow tasks passed 9 of 9 (keras-conv 2 of 3, trk-plan2). W&B went the other way
        without the example (tuning gcn 3 of 3 -> 0 of 3: wandb.log before wandb.init; wordlm 2 -> 1), so
        W&B keeps it.
        """
        if self.spec.functionality != "tracking" or self.spec.component != "mlflow" or \
                not self.exact_calls or not self.outline:
            return False
        from opsgraft.adapters import tracking_plan

        return bool(tracking_plan.metric_lines(self.source, self.spec.component))

    @property
    def planned_registration(self) -> bool:
        """Registration on a script whose trained model adapters/registration_plan.py writes the run after.

        Issue 16, held-out registration, n=3, round 0, with the worked example and no plan: 3 of 4 tasks, 7 of
        12 samples, preserved 0 of 7 (reg-held1); every failure was the example's (its `val_mae` on a classifier,
        its registered name), and the passing answers replaced the script's own save with log_model.
        """
        if self.spec.functionality != "registration" or not self.exact_calls or not self.outline:
            return False
        from opsgraft.adapters import outline as outline_mod
        from opsgraft.adapters import registration_plan
        from opsgraft.adapters.specs import mlflow_flavor

        o = outline_mod.build(self.source, self.script.name)
        assert self.task is not None
        return bool(registration_plan.skeleton(o, self.source, mlflow_flavor(self.source), self.task.instruction))

    @property
    def planned_translation(self) -> bool:
        """GitPython -> DVC on a script whose GitPython function the outline writes out (callmap.rewritten).

        Issue 16, the 4 GitPython -> DVC tasks, n=3, round 0, with the function written out: with the scaffold
        (the tool writes the head: docstring, imports, `def dvc(*args)`) the held-out pair passed 6 of 6 samples
        and the tuning pair 3 of 6 (dvc-scaf-c); without it no sample passed on the tuning pair (`dvc` never
        defined, the script's own helper dropped; dvc-c). Before the function was written out, 0 of 12 with or
        without the scaffold.
        """
        if self.spec.key != "gitpython->dvc" or not (self.exact_calls and self.outline and self.callmap):
            return False
        from opsgraft.adapters import callmap

        assert self.task is not None
        return bool(callmap.rewritten(self.source, callmap.find(self.source, self.spec.key), self.spec.key,
                                      self.task.instruction))

    @property
    def uses_scaffold(self) -> bool:
        """Whether the tool writes the head of the answer (``scaffold``, resolved)."""
        if self.scaffold is not None:
            return self.scaffold
        return self.planned_config or self.planned_translation

    @property
    def shows_example(self) -> bool:
        """Whether the first prompt shows a worked example (``examples``, resolved)."""
        if self.examples is not None:
            return self.examples
        return not (self.planned_config or self.planned_pruning or self.planned_registration or self.planned_tracking)

    @property
    def aligns_examples(self) -> bool:
        """Whether the worked example is renamed to the script's names (``align_examples``, resolved)."""
        return self.spec.kind != "translate" if self.align_examples is None else self.align_examples

    def example_text(self) -> str:
        """The worked-example section of the first prompt ('' when off, when none fits, or once dropped to fit)."""
        if not self.shows_example:
            return ""
        if self._example is None:
            from opsgraft.adapters.examples import section_for_task

            assert self.task is not None
            self._example = section_for_task(self.spec, self.task, self.source, align=self.aligns_examples)
        return self._example

    def outline_text(self) -> str:
        """The outline block of the first prompt ('' with ``outline`` off or when the script has none)."""
        if not self.outline:
            return ""
        from opsgraft.adapters.outline import render

        assert self.task is not None
        return render(self.source, self.spec, self.task.entry, callmap=self.callmap, keep_outputs=self.keep_outputs,
                      exact_calls=self.exact_calls, instruction=self.task.instruction)

    def fit_docs(self, backend: Backend, max_tokens: int) -> int:
        """Drop the lowest-ranked docs until the first prompt fits the context; returns how many went.

        Counted with the backend's own tokenizer (the model's for local, tiktoken for OpenAI).
        """
        prompt, kept = self._fitting(lambda docs: self.build_prompt(self.source, docs), backend, max_tokens)
        if self.example_text() and backend.count_tokens(prompt.messages) + max_tokens > backend.context_window:
            log.info("left out the worked example to fit the context window")
            self._example = ""
            prompt, kept = self._fitting(lambda docs: self.build_prompt(self.source, docs), backend, max_tokens)
        dropped = len(self.docs) - kept
        del self.docs[kept:]
        if dropped:
            log.info("dropped %d retrieved doc(s) to fit the context window", dropped)
        return dropped

    def _fitting(self, make: Callable[[list[RetrievedDoc]], Prompt], backend: Backend | None,
                 max_tokens: int) -> tuple[Prompt, int]:
        """`make(docs)` with as many of the top-ranked docs as fit the context (all without a backend).

        Returns the prompt and how many docs it kept; the lowest-ranked go first.
        """
        docs = list(self.docs)
        while True:
            prompt = make(docs)
            if not docs or backend is None or (
                backend.count_tokens(prompt.messages) + max_tokens <= backend.context_window
            ):
                return prompt, len(docs)
            docs.pop()

    def _failure(self, attempt: repair_loop.Attempt) -> tuple[list[str], str]:
        """What went wrong in an attempt: the checker's reasons (after how the program ended) and stderr's tail."""
        assert self.task is not None
        result = attempt.result
        reasons = list(result.verdict.reasons) if result and result.verdict else []
        if result and result.status == "timeout":
            reasons.insert(0, f"the program did not finish within {self.task.timeout_s:.0f}s")
        elif result and result.status == "failed" and result.execution.returncode not in (None, 0):
            reasons.insert(0, f"the program exited with code {result.execution.returncode}")
        if attempt.candidate is None:
            edit_failed = attempt.error.startswith(repair_loop.EDIT_FAILED)
            reasons.insert(0, attempt.error if edit_failed else "the last answer held no Python code block")
        if attempt.static:
            # Every certain error at once; the run itself stopped at the first.
            shown = [*reasons, result.execution.stderr_tail if result else ""]
            reasons += [f"a static check of the code found, {f}" for f in attempt.static
                        if not any(f.split(": ", 1)[-1] in s for s in shown)]
        if result and result.preserved is False and self.counts_findings:
            reasons += [f"the script no longer does what the original did: {f}" for f in result.preserved_findings]
        return reasons, result.execution.stderr_tail if result else ""

    @property
    def counts_findings(self) -> bool:
        """Whether the preserved findings are put to the model: the script must keep doing what it did.

        Translations and PRESERVE_FINDINGS; HPO and pruning change training, so not for them.
        """
        return self.spec.kind == "translate" or self.spec.functionality in PRESERVE_FINDINGS

    def restorer(self) -> Callable[[repair_loop.Attempt], Prompt] | None:
        """The restore prompt builder for :func:`repair_loop.run_adaptation` (None: no restores)."""
        return self.build_restore if self.restore and self.counts_findings else None

    def build_restore(self, attempt: repair_loop.Attempt) -> Prompt:
        """The prompt for a passing attempt that dropped prints or files of the original: put them back."""
        assert self.task is not None and attempt.candidate is not None and attempt.result is not None
        return prompting.restore_prompt(self.task.entry, attempt.candidate.files[self.task.entry],
                                        attempt.result.preserved_findings, self.source, self.edit_format)

    def check_statically(self, attempt: repair_loop.Attempt) -> list[str]:
        """The certain errors in a failed attempt's code (adapters/preflight.py), as lines for the prompt."""
        from opsgraft.adapters import preflight

        assert self.task is not None and attempt.candidate is not None
        code = attempt.candidate.files[self.task.entry]
        local = preflight.local_module_names(f for f in self.task.files if f != self.task.entry)
        return [str(f) for f in preflight.check(code, self.task.entry, local_modules=local)]

    def build_repair(self, attempt: repair_loop.Attempt, log_lines: list[str]) -> Prompt:
        """The repair prompt for a failed attempt (falls back to the input if it had no code).

        Repair prompts carry more than the first one; they get the docs that still fit.
        """
        assert self.task is not None
        task = self.task
        code = attempt.candidate.files[task.entry] if attempt.candidate else self.source
        reasons, stderr = self._failure(attempt)
        prompt, _ = self._fitting(
            lambda docs: prompting.repair_prompt(self.spec, task.entry, code, reasons, stderr, log_lines,
                                                 instruction=task.instruction, docs=docs, original=self.source,
                                                 edit_format=self.edit_format),
            self._backend, self._max_tokens)
        return prompt

    def build_restart(self, attempt: repair_loop.Attempt, log_lines: list[str]) -> Prompt:
        """The first prompt again, with the sample's failures and the hints for its last one.

        The first prompt fitted; with the failures added, it may need to drop a doc.
        """
        assert self.task is not None
        task = self.task
        reasons, stderr = self._failure(attempt)
        hints = repair_hints(reasons, stderr, original=self.source)
        prompt, _ = self._fitting(
            lambda docs: prompting.restart_prompt(self.build_prompt(self.source, docs), task.entry, log_lines, hints,
                                                  self.edit_format),
            self._backend, self._max_tokens)
        return prompt

    def judge(self, task: Task, candidate: Candidate) -> SampleResult:
        """The evaluator's sandbox and checker: the same code path as `opsgraft evaluate`."""
        from opsgraft.evaluation.evaluator import judge

        return judge(task, candidate, device=self.device, isolation=self.isolation, preserved=self.preserved)

    def execute(self, backend: Backend, *, n: int = 1, temperature: float = 0.2, seed: int = 0,
                max_tokens: int = 2048, run: bool = False, repair: int = 0, out_dir: Path | None = None,
                on_event: Any = None, stop_at_first_pass: bool = False) -> Result:
        """Retrieve, generate, judge, repair, and write the outputs."""
        assert self.task is not None
        if on_event and (self.mode == "rag" or self.strategy):
            on_event("retrieve", {"strategy": self.strategy or "target-search"})
        self.docs = self.retrieve_docs(backend)
        self.bind(backend, max_tokens)
        self.fit_docs(backend, max_tokens)
        options = repair_loop.AdaptOptions(n=n, temperature=temperature, max_tokens=max_tokens, seed=seed,
                                        repair=repair, run=run, device=self.device, timeout_s=self.timeout_s,
                                        stop_at_first_pass=stop_at_first_pass, edit_format=self.edit_format)
        adapt_run = repair_loop.run_adaptation(
            self.task, self.spec, backend, self.source, self.build_prompt, options, mode=self.mode,
            build_repair=self.build_repair, build_restart=self.build_restart, judge=self.judge if run else None,
            on_event=on_event, static_check=self.check_statically if self.static_check else None,
            build_restore=self.restorer(),
        )
        adapt_run.prompt_parts["outline"] = self.outline_text()
        best = adapt_run.best()
        assert best is not None and best.candidate is not None
        tag = f"{self.spec.functionality}_{self.spec.component}".replace("-", "_")
        if self.spec.kind == "translate":
            tag = self.spec.component.replace("-", "_")
        paths = write_outputs(self.script, tag, best.candidate.files[self.task.entry], adapt_run.to_record(),
                              out_dir)
        result = Result(adapt_run, paths)
        faults = adapt_run.faults()
        if faults:
            first = faults[0]
            assert first.result is not None
            work = "translated" if self.spec.kind == "translate" else "adapted"
            raise repair_loop.CheckerFault(
                f"opsgraft fault: {first.result.checker_fault} (round {first.round}, sample {first.sample}). "
                f"This is a bug in opsgraft's checker, not in the {work} code; the repair loop stopped and the "
                f"model was told nothing of it. Traceback in {paths['record']}", result)
        return result


def corpus_workflow(task_id: str, *, mode: str = "zero-shot", strategy: str = "", top_k: int = 5,
                    device: str = "cpu") -> Workflow:
    """A workflow over a corpus task's input, judged by the task's checker and arguments."""
    from opsgraft.adapters.specs import adapter_for_task
    from opsgraft.evaluation.corpus import input_files, load_task

    task = load_task(task_id)
    if task.kind == "ablation":
        raise ConfigError(f"{task_id} is an ablation task; run it with 'opsgraft ablate --task {task_id}'")
    spec = adapter_for_task(task.functionality, task.component, task.source_component)
    source = input_files(task)[task.entry]
    return Workflow(spec=spec, script=Path(task.root) / task.entry, source=source, mode=mode, strategy=strategy,
                    top_k=top_k, device=device, timeout_s=task.timeout_s, task=task)
