"""The tool-owned ablation harness: one sandbox run per trial, resume, repair, judge, plots.

A study lives in its own folder beside the input (``<stem>_ablation/``, never a user file):
``study.json`` (what was planned), ``trials.jsonl`` (one line per finished trial, appended as it
finishes), ``variants/<trial>/`` (the code each trial ran, with a ``.diff``), ``evidence/<trial>/``
(what the sandbox hooks saw), ``ablation_results.json`` and the plots. Rerunning the same study
reruns only the trials without a result; a trial that failed is tried again.
"""

from __future__ import annotations

import ast
import hashlib
import json
import logging
import re
import shutil
import tempfile
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from opsgraft import pyast
from opsgraft.adapters.ablation import prompts
from opsgraft.adapters.ablation.annotations import Plan, Trial
from opsgraft.adapters.ablation.variants import fix_widths, variant_files
from opsgraft.adapters.output import unified_diff
from opsgraft.files import write_whole
from opsgraft.types import ExecutionResult, Message, Task, Verdict

log = logging.getLogger(__name__)

RUNNER = "_opsgraft_trial.py"
RESULTS = "ablation_results.json"
TRIALS = "trials.jsonl"
Event = Callable[[str, dict[str, Any]], None]


@dataclass
class StudyConfig:
    """How trials run."""

    seed: int = 0
    timeout_s: float = 300.0
    repair: int = 3
    device: str = "cpu"
    isolation: str = "none"
    metric_pattern: str | None = None
    temperature: float = 0.2
    max_tokens: int = 2048
    docs: str = ""
    checker_args: Mapping[str, Any] = field(default_factory=dict)
    width_fix: bool = True  # off: the model alone repairs broken variants (to measure it)


def fingerprint(files: Mapping[str, str], plan: Plan, config: StudyConfig) -> str:
    """What makes two runs the same study: the inputs, the trials, the seed and the metric."""
    payload = {"files": dict(sorted(files.items())), "trials": [[t.name, list(t.removed)] for t in plan.trials],
               "seed": config.seed, "metric": config.metric_pattern}
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:16]


def study_dir(base: Path, stem: str, key: str, fresh: bool = False) -> tuple[Path, bool]:
    """The folder of this study: an unfinished or finished one with the same key (resumed), else a new one."""
    i = 1
    while True:
        candidate = base / (f"{stem}_ablation" if i == 1 else f"{stem}_ablation_{i}")
        if not candidate.exists():
            candidate.mkdir(parents=True)
            return candidate, False
        meta = candidate / "study.json"
        if not fresh and meta.is_file():
            try:
                if json.loads(meta.read_text(encoding="utf-8")).get("key") == key:
                    return candidate, True
            except (json.JSONDecodeError, UnicodeDecodeError):
                pass
        i += 1


def read_trials(directory: Path) -> dict[str, dict[str, Any]]:
    """The last recorded outcome of each trial; a torn last line (a killed run) is ignored."""
    out: dict[str, dict[str, Any]] = {}
    path = directory / TRIALS
    if path.is_file():
        for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
            try:
                entry = json.loads(line)
            except json.JSONDecodeError:
                continue
            if isinstance(entry, dict) and "name" in entry:
                out[entry["name"]] = entry
    return out


def results_entries(plan: Plan, outcomes: Mapping[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """The checker's format: one entry per trial that produced a metric, in plan order."""
    keys = ("name", "metric", "features") if plan.mode == "features" else ("name", "n_params", "metric")
    return [{k: outcomes[t.name][k] for k in keys if k in outcomes[t.name]}
            for t in plan.trials if outcomes.get(t.name, {}).get("status") == "ok"]


@dataclass
class Study:
    """One ablation study of ``files`` (name -> source, ``entry`` is run) in ``directory``."""

    files: dict[str, str]
    entry: str
    plan: Plan
    directory: Path
    config: StudyConfig
    backend: Any = None  # an opsgraft Backend; None: no repair by the model
    on_event: Event = lambda kind, data: None
    record: dict[str, Any] = field(default_factory=dict)

    def run(self) -> dict[str, dict[str, Any]]:
        """Run every trial without a result, one by one; returns the outcome of every trial."""
        meta = self.directory / "study.json"
        if not meta.exists():
            write_whole(meta, json.dumps({
                "key": fingerprint(self.files, self.plan, self.config), "entry": self.entry, "mode": self.plan.mode,
                "trials": [{"name": t.name, "removed": list(t.removed)} for t in self.plan.trials]}, indent=1))
        outcomes = read_trials(self.directory)
        self.record.setdefault("repairs", [])
        for trial in self.plan.trials:
            if outcomes.get(trial.name, {}).get("status") == "ok":
                self.on_event("skip", {"trial": trial.name})
                continue
            self.on_event("trial", {"trial": trial.name})
            outcome = self._run_trial(trial)
            outcomes[trial.name] = outcome
            with (self.directory / TRIALS).open("a", encoding="utf-8") as fh:
                fh.write(json.dumps(outcome) + "\n")
            write_whole(self.directory / RESULTS, json.dumps(results_entries(self.plan, outcomes), indent=1))
            self.on_event("done", outcome)
        return outcomes

    # --- one trial -------------------------------------------------------------------------------

    def _run_trial(self, trial: Trial) -> dict[str, Any]:
        comps = [self.plan.component(n) for n in trial.removed]
        files = variant_files(self.files, comps) if self.plan.mode == "model" else dict(self.files)
        drop = sorted({f for c in comps for f in c.features})
        t0 = time.monotonic()
        outcome, run = self._execute(trial, files, drop)
        source = "input" if not trial.removed else "mechanical"
        if outcome["status"] != "ok" and trial.removed and self.plan.mode == "model" and self.config.width_fix:
            widened = {n: fix_widths(self.files[n], code, [c for c in comps if c.file == n])
                       for n, code in files.items() if any(c.file == n for c in comps)}
            if any(widened[n] != files[n] for n in widened):
                files = {**files, **widened}
                outcome, run = self._execute(trial, files, drop)
                source = "mechanical, widths adjusted"
        rounds = 0
        tried = {files[self.entry]}
        history: list[str] = []
        while (outcome["status"] != "ok" and trial.removed and self.plan.mode == "model" and self.backend is not None
               and rounds < self.config.repair):
            rounds += 1
            self.on_event("repair", {"trial": trial.name, "round": rounds})
            error = error_text(run.stderr_tail, run.workdir, files) if run else ""
            fixed = self._ask(trial, files, outcome["reason"], error, tried, history, rounds - 1)
            if fixed is None:
                history.append(f"round {rounds}: {self.record['repairs'][-1].get('error', 'no usable answer')}")
                continue
            files = {**files, **fixed}
            tried.update(fixed.values())
            outcome, run = self._execute(trial, files, drop)
            source = f"model, repair round {rounds}"
            if outcome["status"] != "ok":
                history.append(f"round {rounds}: your fix ran and failed: {outcome['reason'][:200]}")
        self._save_variant(trial, files)
        return {**outcome, "source": source, "repair_rounds": rounds, "wall_s": round(time.monotonic() - t0, 2)}

    def _execute(self, trial: Trial, files: Mapping[str, str], drop: list[str]) -> tuple[dict[str, Any], Any]:
        """One sandbox run of the trial; its hooks' evidence is kept under ``evidence/<trial>/``."""
        from opsgraft.evaluation import sandbox
        from opsgraft.evaluation.evaluator import sandbox_base

        runner = (Path(__file__).parent / "trial_runner.py").read_text(encoding="utf-8")
        watch = sorted({f for c in self.plan.components for f in c.features})
        config = {"name": trial.name, "script": self.entry, "seed": self.config.seed, "mode": self.plan.mode,
                  "drop": drop, "watch": watch, "metric_pattern": self.config.metric_pattern,
                  "torch": any("torch" in s for s in files.values())}
        all_files = {**files, RUNNER: runner, "_opsgraft_trial.json": json.dumps(config)}
        root = Path(tempfile.mkdtemp(prefix=f"opsgraft-ablate-{trial.name[:20]}-", dir=sandbox_base()))
        try:
            run = sandbox.run_program(all_files, RUNNER, root=root, timeout_s=self.config.timeout_s,
                                      device=self.config.device, isolation=self.config.isolation)
            result = run.result
            keep = self.directory / "evidence" / trial.name
            if keep.exists():
                shutil.rmtree(keep)
            keep.mkdir(parents=True)
            evidence = sandbox.evidence_dir(root)
            for f in evidence.glob("*.jsonl") if evidence.is_dir() else []:
                shutil.copyfile(f, keep / f.name)
            produced = run.workdir / "trial_result.json"
            if result.status == "passed" and produced.is_file():
                data = json.loads(produced.read_text(encoding="utf-8"))
                return {"name": trial.name, "status": "ok", **{k: v for k, v in data.items() if k != "name"}}, result
            return {"name": trial.name, "status": "failed", "reason": _reason(result)}, result
        finally:
            shutil.rmtree(root, ignore_errors=True)

    def _ask(self, trial: Trial, files: Mapping[str, str], reason: str, stderr: str,
             tried: set[str], history: list[str] | None = None, index: int = 0) -> dict[str, str] | None:
        """The model's repair of the variant's entry file, or None when the answer is unusable."""
        from opsgraft.adapters.postprocess import complete
        from opsgraft.codeblocks import extract_code
        from opsgraft.errors import NoCodeError

        comp = self.plan.component(trial.removed[0])
        original = self.files.get(comp.file or self.entry, "").splitlines()
        removed = [original[n - 1].strip() for n in comp.lines if 0 < n <= len(original)]
        how = (prompts.HOW_LINE.format(line=removed[0]) if comp.kind == "line" and removed
               else prompts.HOW_BLOCK.format(lines="; ".join(f"`{r}`" for r in removed)))
        target = comp.file or self.entry
        text = prompts.REPAIR.format(
            file=target, name=comp.name, description=f" ({comp.text})" if comp.text and comp.text != comp.name else "",
            how=how, error="\n".join(stderr.strip().splitlines()[-12:]) or reason,
            docs=prompts.DOCS.format(text=self.config.docs) if self.config.docs else "", code=files[target].rstrip(),
            history=prompts.HISTORY.format(lines="\n".join(f"- {h}" for h in history)) if history else "",
            focus=prompts.FOCUS.format(line=focus) if (focus := focus_line(stderr, target, files[target])) else "")
        messages = [Message("system", prompts.SYSTEM), Message("user", text)]
        entry: dict[str, Any] = {"trial": trial.name, "prompt": text}
        self.record.setdefault("repairs", []).append(entry)
        temperature = self.config.temperature
        for _ in range(2):  # a repeat of code that already failed is sampled once more, hotter
            gen = self.backend.generate(messages, n=1, temperature=temperature, max_tokens=self.config.max_tokens,
                                        seed=self.config.seed, first_index=index)[0]
            entry.setdefault("answers", []).append(gen.text)
            try:
                code, steps = complete(apply_answer(files[target], extract_code(gen.text)), self.files.get(target, ""))
            except NoCodeError:
                entry["error"] = "the answer holds no code"
                return None
            except ValueError as exc:
                entry["error"] = str(exc)
                return None
            back = _put_back(removed, files[target], code)
            if back:
                entry["error"] = f"the answer puts the removed code back: {back[0]}"
                return None
            if code not in tried:
                entry["postprocess"] = steps
                return {target: code}
            temperature = 0.8
        entry["error"] = "the answer repeats code that already failed"
        return None

    def _save_variant(self, trial: Trial, files: Mapping[str, str]) -> None:
        folder = self.directory / "variants" / trial.name
        folder.mkdir(parents=True, exist_ok=True)
        diffs = []
        for name, code in files.items():
            if code != self.files.get(name):
                write_whole(folder / Path(name).name, code)
                diffs.append(unified_diff(self.files[name], code, f"a/{name}", f"b/{name}"))
        if diffs:
            write_whole(folder / f"{trial.name}.diff", "".join(diffs))

    # --- the verdict -----------------------------------------------------------------------------

    def judge(self, outcomes: Mapping[str, dict[str, Any]]) -> Verdict:
        """The corpus's ``ablation`` checker over the results and every trial's hook evidence."""
        from opsgraft.evaluation.checkers.base import CheckContext
        from opsgraft.evaluation.evaluator import get_checker

        entries = results_entries(self.plan, outcomes)
        args = {"min_trials": max(1, len(self.plan.trials) - 1), "mode": self.plan.mode,
                **dict(self.config.checker_args)}
        task = Task(id="ablate", kind="ablation", functionality="ablation", component="ablation", framework="",
                    instruction="", entry=self.entry, files=tuple(self.files), checker="ablation", checker_args=args)
        with tempfile.TemporaryDirectory(prefix="opsgraft-ablate-judge-") as tmp:
            work, evidence = Path(tmp) / "work", Path(tmp) / "evidence"
            work.mkdir()
            evidence.mkdir()
            (work / str(args.get("results", RESULTS))).write_text(json.dumps(entries), encoding="utf-8")
            for trial in self.plan.trials:
                for f in sorted((self.directory / "evidence" / trial.name).glob("*.jsonl")):
                    _merge_evidence(f, evidence / f.name, trial.name)
            wall = sum(float(o.get("wall_s", 0)) for o in outcomes.values())
            ctx = CheckContext(task=task, workdir=work, execution=ExecutionResult("passed", 0, wall),
                               env={"OPSGRAFT_EVIDENCE_DIR": str(evidence)}, files=self.files)
            verdict: Verdict = get_checker("ablation")(ctx, **args)
        failed = [f"{n}: {o.get('reason', '')}" for n, o in outcomes.items() if o.get("status") != "ok"]
        if failed:
            from dataclasses import replace

            verdict = replace(verdict, passed=False, reasons=(*verdict.reasons, *(f"trial {f}" for f in failed)))
        return verdict


def focus_line(error: str, name: str, code: str) -> str:
    """The definition (``self.head = nn.Linear(32, 10)``) of the layer the failing line of ``name`` calls."""
    lines = error.splitlines()
    failing = [lines[i + 1] for i in range(len(lines) - 1) if lines[i].strip().startswith(f'File "{name}"')]
    if not failing:
        return ""
    # in text order the outermost call comes first, and it runs last; a removed layer has no size
    for attr in re.findall(r"self\.(\w+)\(", failing[-1]):
        found = re.search(rf"^[ \t]*self\.{attr}\s*=.*$", code, re.MULTILINE)
        if found and "Identity()" not in found.group(0):
            return found.group(0).strip()
    return ""


def _target(line: str) -> str | None:
    """What a one-line assignment assigns to (``self.head``), or None."""
    try:
        node = pyast.parse(line.strip()).body
    except SyntaxError:
        return None
    if len(node) == 1 and isinstance(node[0], ast.Assign | ast.AnnAssign | ast.AugAssign):
        stmt = node[0]
        target = stmt.targets[0] if isinstance(stmt, ast.Assign) else stmt.target
        return ast.unparse(target)
    return None


def apply_answer(variant: str, answer: str) -> str:
    """The variant with the answer applied: a whole file as it is, or changed lines put in place of the
    variant's lines that assign the same target. ValueError when a line matches none or several."""
    lines = [ln for ln in answer.splitlines() if ln.strip() and not ln.strip().startswith("#")]
    if len(lines) > max(8, len(variant.splitlines()) // 2) or any(
            ln.lstrip().startswith(("class ", "def ", "import ", "from ")) for ln in lines):
        return answer
    out = variant.splitlines(keepends=True)
    for line in lines:
        target = _target(line)
        hits = [i for i, old in enumerate(out) if target is not None and _target(old) == target]
        if len(hits) != 1:
            what = f"assigns {target}, which" if target else "is not an assignment and"
            raise ValueError(f"the answer line `{line.strip()[:80]}` {what} matches {len(hits)} lines of the file")
        old = out[hits[0]]
        indent = old[: len(old) - len(old.lstrip())]
        out[hits[0]] = f"{indent}{line.strip()}\n"
    return "".join(out)


def _code_lines(text: str) -> list[str]:
    return [ln.split("#", 1)[0].strip() for ln in text.splitlines()]


def _put_back(removed: list[str], variant: str, answer: str) -> list[str]:
    """Removed statements the answer has more often than the variant it was asked to fix."""
    before, after = _code_lines(variant), _code_lines(answer)
    wanted = {r.split("#", 1)[0].strip() for r in removed} - {""}
    return [r for r in sorted(wanted) if after.count(r) > before.count(r)]


def _merge_evidence(src: Path, dest: Path, trial: str) -> None:
    """Append one trial's evidence lines, its process ids made unique (runs may reuse a pid)."""
    lines = []
    for line in src.read_text(encoding="utf-8", errors="replace").splitlines():
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(record, dict) and "pid" in record:
            record["pid"] = f"{trial}:{record['pid']}"
        lines.append(json.dumps(record))
    with dest.open("a", encoding="utf-8") as fh:
        fh.write("".join(f"{ln}\n" for ln in lines))


def error_text(stderr: str, workdir: str, files: Mapping[str, str], keep: int = 12) -> str:
    """The traceback as the model should see it: sandbox paths made relative, and only the frames of
    the user's files and the exception (the harness's and libraries' frames change nothing it can fix,
    and paths that differ per run would make every prompt unique)."""
    text = stderr.replace(f"{workdir}/", "") if workdir else stderr
    lines = text.splitlines()
    starts = [i for i, ln in enumerate(lines) if ln.startswith("Traceback (most recent call last)")]
    lines = lines[starts[-1]:] if starts else lines  # warnings before it name machine-specific paths
    out: list[str] = []
    i = 0
    while i < len(lines):
        line = lines[i]
        frame = re.match(r'\s*File "([^"]+)", line \d+', line)
        if frame:
            if frame.group(1) in files:
                out.append(line)
                if i + 1 < len(lines) and not re.match(r'\s*File "', lines[i + 1]):
                    out.append(lines[i + 1])
            i += 2 if i + 1 < len(lines) and not re.match(r'\s*File "', lines[i + 1]) else 1
            continue
        if line.strip() and not line.startswith((" ", "\t")) or line.startswith("Traceback"):
            out.append(line)
        i += 1
    return "\n".join(out[-keep:])


def _reason(result: ExecutionResult) -> str:
    """One line on why a trial failed."""
    if result.status == "timeout":
        return f"timed out after {result.wall_s:.0f} s"
    lines = [ln.strip() for ln in (result.stderr_tail or result.stdout_tail).splitlines() if ln.strip()]
    return (lines[-1] if lines else f"exit code {result.returncode}")[:300]
