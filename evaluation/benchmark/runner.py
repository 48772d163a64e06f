"""Run the benchmark grid: models x modes x temperatures over the selected tasks, n sample chains each.

Each (cell, task) runs the code path of ``opsgraft adapt --run``: a corpus Workflow's prompt and
retrieval, :func:`opsgraft.adapters.repair_loop.run_adaptation` with its repair loop, and the evaluator's
sandbox and checker (through the executors, see judging.py). Around it:

- Resume: every record is fsynced as its verdict arrives; a rerun skips finished chains and redoes
  only the unfinished samples (``AdaptOptions.samples``), with their own seeds.
- Overlap: several task workers share one model behind a lock, so while one task's samples are in
  the sandbox another task's samples are generated. ``overlap=False`` is the serial baseline.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import queue
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from opsgraft.errors import ConfigError, ContextOverflowError, NoCodeError
from opsgraft.evaluation.benchmark import records as rec
from opsgraft.evaluation.benchmark.config import (
    STRATEGIES,
    BenchConfig,
    ModelEntry,
    local_model_file,
    model_name,
    resolve_path,
    select_tasks,
    task_modes,
)
from opsgraft.llm.base import Backend
from opsgraft.types import Candidate, Message, SampleResult, Task, from_dict, to_dict

log = logging.getLogger(__name__)
EventFn = Callable[[str, dict[str, Any]], None]
BackendFactory = Callable[[ModelEntry], Backend]


@dataclass(frozen=True)
class Unit:
    """The samples of one task still to run in one cell."""

    model: str
    mode: str
    temperature: float
    task: Task
    samples: tuple[int, ...]
    repair: int | None = None  # the model's own repair rounds after a failed check; None: the grid's

    def rounds(self, cfg: BenchConfig) -> int:
        """The repair rounds this unit runs."""
        return cfg.repair if self.repair is None else self.repair

    @property
    def cell(self) -> str:
        return rec.cell_name(self.model, self.mode, self.temperature)

    def docs_stores(self) -> tuple[str, ...]:
        """The components whose docs stores this unit's retrieval searches (as Workflow.retrieve_docs)."""
        from opsgraft.adapters.specs import adapter_for_task
        from opsgraft.retrieval import stores_needed

        strategy = "target-search" if self.mode == "rag" else self.mode if self.mode in STRATEGIES else ""
        if not strategy:
            return ()
        spec = adapter_for_task(self.task.functionality, self.task.component, self.task.source_component)
        return stores_needed(strategy, spec.docs_store, spec.source_component or None)


@dataclass
class Grid:
    """The validated grid: tasks, models by name, and where config paths are relative to."""

    cfg: BenchConfig
    tasks: list[Task]
    models: dict[str, ModelEntry]
    base: Path | None = None

    def units(self, done: set[rec.Key] | frozenset[rec.Key] = frozenset(), split_samples: bool = False,
              only: Sequence[str] = ()) -> list[Unit]:
        """What is left to run, task by task (so a cut-short run compares the cells on the same tasks);
        ``only``: just these models' units."""
        out = []
        for name, model in self.models.items():
            if only and name not in only:
                continue
            for task in self.tasks:
                for mode in task_modes(self.cfg, task.kind, model):
                    for temp in self.cfg.temperatures:
                        cell = rec.cell_name(name, mode, temp)
                        todo = tuple(i for i in range(self.cfg.n) if (cell, task.id, i) not in done)
                        if not todo:
                            continue
                        parts = [(i,) for i in todo] if split_samples else [todo]
                        out += [Unit(name, mode, temp, task, p, model.repair) for p in parts]
        return out

    def check_models(self, names: Sequence[str]) -> None:
        """A one-line error for a name that is not one of the grid's models."""
        for name in names:
            if name not in self.models:
                raise ConfigError(f"unknown model {name!r} for --only-model; the grid's models: "
                                  + ", ".join(self.models))

    def check_stores(self, units: Sequence[Unit], stores_dir: Path | str | None = None) -> None:
        """A one-line StoreError, before any model loads, for each docs store ``units`` search and lack."""
        from opsgraft.errors import StoreError
        from opsgraft.retrieval.search import stores_at

        needed: dict[str, set[str]] = {}
        for u in units:
            for component in u.docs_stores():
                needed.setdefault(component, set()).add(u.mode)
        if not needed:
            return
        stores = stores_at(stores_dir)
        missing = []
        for component, modes in needed.items():
            try:
                stores.find(component)
            except StoreError:
                missing.append((component, modes))
        if missing:
            what = "; ".join(f"{c} (for {', '.join(sorted(m))})" for c, m in missing)
            build = " && ".join(f"opsgraft curate --package {c}" for c, _ in missing)
            raise StoreError(f"no docs store for the units left to run: {what}; build with `{build}`")

    def cells(self) -> list[str]:
        """Every cell with at least one task."""
        seen: dict[str, None] = {}
        for u in self.units():
            seen.setdefault(u.cell, None)
        return list(seen)

    def generations(self, units: Sequence[Unit] | None = None) -> tuple[int, int]:
        """(first answers, at most this many more repair answers) the units imply."""
        units = self.units() if units is None else units
        return sum(len(u.samples) for u in units), sum(len(u.samples) * u.rounds(self.cfg) for u in units)

    def config_json(self) -> dict[str, Any]:
        """The grid as run.json records it (what a resumed run must match)."""
        data = self.cfg.model_dump(exclude={"tasks", "models"})
        data["tasks"] = [t.id for t in self.tasks]
        data["models"] = [_entry_json(self.models[name]) | {"name": name} for name in self.models]
        return data

    def models_json(self) -> dict[str, dict[str, Any]]:
        """Each model's backend and identity: the GGUF's sha256 (hashed once, then cached)."""
        out = {}
        for name, m in self.models.items():
            path = sha = None
            if m.backend == "local":
                file = local_model_file(m, self.base)
                path, sha = str(file.resolve()), rec.file_sha256(file)
            elif m.backend == "replay":
                path = str(resolve_path(str(m.cassette), self.base).resolve())
            out[name] = {"backend": m.backend, "path": path, "sha256": sha, "base_url": m.base_url,
                         "model": m.model} | {k: v for k, v in (("modes", m.modes), ("repair", m.repair)) if v is not None}
        return out


def _entry_json(entry: ModelEntry) -> dict[str, Any]:
    """A model entry as run.json records it; a model's own modes and repair only where set, so that run
    directories written before models had them still resume."""
    return entry.model_dump(exclude={k for k in ("modes", "repair") if getattr(entry, k) is None})


def make_grid(cfg: BenchConfig, base: Path | None = None, tasks_dir: Path | None = None) -> Grid:
    """Check everything that can be checked before a model loads: tasks, modes, model files, cassettes."""
    tasks = select_tasks(cfg.tasks, tasks_dir)
    models: dict[str, ModelEntry] = {}
    for m in cfg.models:
        if m.backend == "local":
            local_model_file(m, base)
        elif m.backend == "replay":
            cassette = resolve_path(str(m.cassette), base)
            if not cassette.is_file():
                raise ConfigError(f"model {model_name(m)!r}: cassette not found: {cassette}")
        models[model_name(m)] = m
    grid = Grid(cfg, tasks, models, base)
    if not grid.units():
        raise ConfigError("the grid is empty: no selected task takes any of the modes "
                          f"{cfg.modes} (docprompt and rag are for inline tasks, strategies for translations)")
    return grid


def build_backend(entry: ModelEntry, base: Path | None = None, *, cache: bool = True,
                  batched: bool = True, coalesce: bool = False) -> Backend:
    """The backend of a model entry, built as `opsgraft adapt` builds it (response cache included)."""
    import inspect

    from opsgraft.llm import get_backend
    from opsgraft.llm.replay import ReplayBackend

    if entry.backend == "replay":
        return ReplayBackend(resolve_path(str(entry.cassette), base), model=entry.model,
                             context_window=entry.context_window)
    backend: Backend
    if entry.backend == "local":
        from opsgraft.llm.local import LocalBackend

        kw: dict[str, Any] = {"model_file": local_model_file(entry, base)}
        if entry.context_window:
            kw["n_ctx"] = entry.context_window
        if entry.n_threads:
            kw["n_threads"] = entry.n_threads
        if "batched" in inspect.signature(LocalBackend.__init__).parameters:
            kw["batched"] = batched
        if "coalesce" in inspect.signature(LocalBackend.__init__).parameters:
            kw["coalesce"] = coalesce
        backend = get_backend("local", **kw)
    else:
        backend = get_backend("openai", model=entry.model, base_url=entry.base_url, api_key_env=entry.api_key_env,
                              context_window=entry.context_window)
    if cache:
        from opsgraft.config import responses_dir
        from opsgraft.llm.cache import CachedBackend

        backend = CachedBackend(backend, responses_dir())
    return backend


def _engine(backend: Any) -> Any:
    """The continuous-batching engine under ``backend`` (through a response cache), or None."""
    while backend is not None:
        if getattr(backend, "engine", None) is not None:
            return backend.engine
        backend = getattr(backend, "inner", None)
    return None


class LockedBackend:
    """One model shared by task workers: one generation at a time; counts busy time and tokens.

    Over a local model that coalesces (opsgraft/llm/engine.py) there is no lock: the workers' calls
    decode together, and the busy time is the engine's.
    """

    def __init__(self, inner: Backend, lock: threading.Lock | None = None):
        self.inner = inner
        self.name, self.model, self.context_window = inner.name, inner.model, inner.context_window
        self.supports_prefill = getattr(inner, "supports_prefill", False)  # a translation's answer scaffold
        self._lock = lock or threading.Lock()
        self._local = threading.local()
        self._busy_s = 0.0
        self.tokens = 0
        self.engine = _engine(inner)
        self._count = threading.Lock()

    @property
    def busy_s(self) -> float:
        """Seconds the model spent generating (the engine's own count where it coalesces)."""
        return self._busy_s + (self.engine.busy_s if self.engine is not None else 0.0)

    def waited_s(self) -> float:
        """Seconds the calling thread has spent waiting for another worker's generation to end."""
        return float(getattr(self._local, "waited", 0.0))

    def _acquire(self) -> None:
        t0 = time.perf_counter()
        self._lock.acquire()
        self._local.waited = self.waited_s() + time.perf_counter() - t0

    def generate(self, messages: Sequence[Message], n: int = 1, temperature: float = 0.2, max_tokens: int = 1024,
                 seed: int | None = None, first_index: int = 0) -> list[Any]:
        if self.engine is not None:  # each sample's wall_s is already its share of the model's steps
            out = self.inner.generate(messages, n=n, temperature=temperature, max_tokens=max_tokens, seed=seed,
                                      first_index=first_index)
            with self._count:
                self.tokens += sum(g.usage.completion_tokens for g in out if not g.cached)
            return out
        self._acquire()
        try:
            t0 = time.perf_counter()
            out = self.inner.generate(messages, n=n, temperature=temperature, max_tokens=max_tokens, seed=seed,
                                      first_index=first_index)
            call_s = time.perf_counter() - t0
            self._busy_s += call_s
            if len(out) > 1:
                # Samples decoded together (batched llama.cpp, an OpenAI n=) each report the whole call's span;
                # a record's generate time is the sample's share of the model's time, so tokens/s adds up.
                out = [dataclasses.replace(g, wall_s=call_s / len(out)) for g in out]
            self.tokens += sum(g.usage.completion_tokens for g in out if not g.cached)
        finally:
            self._lock.release()
        return out

    def count_tokens(self, messages: Sequence[Message]) -> int:
        if self.engine is not None:  # tokenizing does not wait for the decode steps
            return self.inner.count_tokens(messages)
        self._acquire()
        try:
            return self.inner.count_tokens(messages)
        finally:
            self._lock.release()


@dataclass
class RunOptions:
    """How to run the grid (not part of it: changing these never changes a verdict)."""

    executor: str = "local"
    jobs: int = 1
    device: str = "auto"
    isolation: str = "auto"
    overlap: bool = True  # task workers share the model; False: one sample generated, judged, then the next
    workers: int = 0  # task workers with overlap (0: jobs + 1, or jobs + 3 where the model coalesces)
    cache: bool = True  # the on-disk response cache of `opsgraft adapt`
    batched: bool = True  # multi-sequence decoding where the local backend offers it
    # with overlap and batched: the workers' calls to a local model decode together (opsgraft/llm/engine.py)
    coalesce: bool = True
    render: bool = True  # report.md/report.html at the end (if the report module is there)
    preserved: bool = True  # the preserved check, as `opsgraft adapt` runs it (where this opsgraft has it)
    mlflow_dir: Path | None = None
    only_models: Sequence[str] = ()  # run just these models' units now (the run directory keeps the whole grid)


@dataclass
class Summary:
    """What a run did, for the command's last lines (and MLflow)."""

    run_dir: Path
    chains_done: int = 0
    chains_total: int = 0
    wall_s: float = 0.0
    generate_busy_s: float = 0.0
    completion_tokens: int = 0
    judge_calls: int = 0
    judge_reused: int = 0  # rounds judged before a resume whose kept verdicts were reused (rec.JUDGED_DIR)
    failed_units: list[str] = field(default_factory=list)
    cells: dict[str, dict[str, float]] = field(default_factory=dict)
    report: dict[str, Path] = field(default_factory=dict)
    mlflow_dir: Path | None = None


def run_bench(grid: Grid, run_dir: Path, options: RunOptions | None = None, *, on_event: EventFn | None = None,
              backend_factory: BackendFactory | None = None) -> Summary:
    """Run what is left of the grid in ``run_dir`` (created, or resumed when compatible)."""
    from opsgraft.evaluation.benchmark.judging import JudgePool

    opts = options or RunOptions()
    reused = {"n": 0}
    count = threading.Lock()

    def emit(kind: str, data: dict[str, Any]) -> None:
        if kind == "judge-reused":
            with count:
                reused["n"] += 1
        if on_event is not None:
            on_event(kind, data)

    t_start = time.perf_counter()
    grid.check_models(opts.only_models)
    header = rec.run_header(grid.config_json(), grid.models_json())
    resumed = rec.check_run_dir(Path(run_dir), header) is not None  # refusals first, nothing written yet
    done = rec.finished_keys(rec.read_records(run_dir)) if resumed else set()
    units = grid.units(done, split_samples=not opts.overlap, only=opts.only_models)
    grid.check_stores(units)  # before the run directory is made, the model loads or anything is generated
    rd = rec.RunDir(run_dir, header)
    total = sum(len(u.samples) for u in units)
    summary = Summary(Path(run_dir), chains_total=total)
    emit("start", {"total": total, "done": len(done), "units": len(units)})
    pool = JudgePool(opts.executor, opts.jobs, opts.device, opts.isolation, preserved=opts.preserved)
    coalesce = opts.coalesce and opts.overlap and opts.batched
    factory = backend_factory or (lambda e: build_backend(e, grid.base, cache=opts.cache, batched=opts.batched,
                                                          coalesce=coalesce))
    try:
        for name, entry in grid.models.items():
            todo = [u for u in units if u.model == name]
            if not todo:
                continue
            emit("model", {"model": name})
            backend = LockedBackend(factory(entry))
            # a sample judged here takes a core: the coalescing model decodes on one thread fewer meanwhile
            pool.lender = backend.engine.lend_core if backend.engine is not None else None
            # coalescing, up to three workers' prompts decode together (the engine's default room) while
            # another one's samples are judged
            workers = 1 if not opts.overlap else (opts.workers or opts.jobs + (3 if backend.engine else 1))
            failed = _run_units(todo, backend, pool, rd, grid.cfg, workers, emit, opts.preserved)
            summary.failed_units += failed
            summary.generate_busy_s += backend.busy_s
            summary.completion_tokens += backend.tokens
            if backend.engine is not None and backend.engine.drafted:
                log.info("%s: %d of %d drafted tokens kept (prompt lookup)", name, backend.engine.accepted,
                         backend.engine.drafted)
            del backend
    finally:
        pool.close()
        summary.judge_calls = pool.calls
        summary.judge_reused = reused["n"]
    summary.wall_s = time.perf_counter() - t_start
    chains = rec.finished_chains(rec.read_records(run_dir))
    summary.chains_done = len(chains)
    summary.cells = cell_scores(chains, grid.cfg.n)
    if opts.mlflow_dir is not None:
        from opsgraft.evaluation.benchmark.tracking import log_cells

        log_cells(opts.mlflow_dir, Path(run_dir), grid, summary.cells)
        summary.mlflow_dir = opts.mlflow_dir
    if opts.render:
        summary.report = render_report(Path(run_dir))
    emit("end", {"summary": summary})
    return summary


def cell_scores(chains: Sequence[Sequence[dict[str, Any]]], n: int) -> dict[str, dict[str, float]]:
    """Per cell: pass@1 and pass@3 (unbiased, averaged over tasks), tasks and passed chains."""
    from opsgraft.evaluation.passk import pass_at_k

    per: dict[str, list[tuple[int, int]]] = {}
    for (cell, _task), (n_done, c) in sorted(rec.pass_counts(chains).items()):
        per.setdefault(cell, []).append((n_done, c))
    out = {}
    for cell, rows in per.items():
        scores = {f"pass@{k}": sum(pass_at_k(nn, c, k) for nn, c in rows) / len(rows)
                  for k in (1, 3) if all(nn >= k for nn, _ in rows)}
        out[cell] = {**scores, "tasks": float(len(rows)), "passed": float(sum(c for _, c in rows)),
                     "chains": float(sum(nn for nn, _ in rows))}
    return out


def render_report(run_dir: Path) -> dict[str, Path]:
    """report.md/report.html through the report module, when this build has it."""
    try:
        from opsgraft.evaluation.benchmark import report
    except ImportError:
        log.warning("opsgraft.evaluation.benchmark.report is not available; no report rendered")
        return {}
    paths: dict[str, Path] = report.render(run_dir)
    return paths


def _run_units(units: list[Unit], backend: LockedBackend, pool: Any, rd: rec.RunDir, cfg: BenchConfig,
               workers: int, emit: EventFn, preserved: bool = True) -> list[str]:
    """Run units on ``workers`` daemon threads (a Ctrl-C is not held up by a generation in flight)."""
    todo: queue.Queue[Unit] = queue.Queue()
    for u in units:
        todo.put(u)
    failed: list[str] = []
    stop = threading.Event()

    def work() -> None:
        while not stop.is_set():
            try:
                unit = todo.get_nowait()
            except queue.Empty:
                return
            try:
                _run_unit(unit, backend, pool, rd, cfg, emit, preserved)
            except Exception as exc:  # one broken task must not sink the benchmark; its chains stay unfinished
                log.error("%s on %s failed: %s", unit.cell, unit.task.id, " ".join(str(exc).split()))
                failed.append(f"{unit.cell} {unit.task.id}: {exc}")
                emit("unit-failed", {"cell": unit.cell, "task": unit.task.id, "error": str(exc)})

    threads = [threading.Thread(target=work, name=f"bench-worker-{i}", daemon=True)
               for i in range(max(1, min(workers, len(units))))]
    for t in threads:
        t.start()
    try:
        while any(t.is_alive() for t in threads):
            for t in threads:
                t.join(0.2)
    except BaseException:
        stop.set()
        raise
    return failed



# The benchmark config's prompt knobs, set on each unit's Workflow when the config gives them.
PROMPT_KNOBS = ("outline", "callmap", "scaffold", "examples", "align_examples", "keep_outputs", "edit_format",
                "static_check", "restore", "exact_calls")

def _run_unit(unit: Unit, backend: Backend, pool: Any, rd: rec.RunDir, cfg: BenchConfig, emit: EventFn,
              preserved: bool = True) -> None:
    """Adapt and judge one task's remaining samples in one cell, writing each record as it is known."""
    from opsgraft.adapters import repair_loop
    from opsgraft.adapters.workflow import corpus_workflow

    strategy = unit.mode if unit.mode in STRATEGIES else ""
    flow = corpus_workflow(unit.task.id, mode=unit.mode, strategy=strategy, top_k=cfg.top_k)
    flow.preserved = preserved  # its repair prompts name what the script no longer does
    for knob in PROMPT_KNOBS:  # None keeps the Workflow's default
        value = getattr(cfg, knob)
        if value is not None:
            setattr(flow, knob, value)
    assert flow.task is not None
    emit("unit", {"cell": unit.cell, "task": unit.task.id, "samples": unit.samples})
    waited = getattr(backend, "waited_s", lambda: 0.0)
    t0, w0 = time.perf_counter(), waited()
    flow.docs = flow.retrieve_docs(backend)
    flow.bind(backend, cfg.max_tokens)  # its repair prompts are fitted to this model's window
    flow.fit_docs(backend, cfg.max_tokens)
    # Counting the prompt's tokens goes through the shared model: the wait for another task's generation
    # is queueing, not retrieval (the smoke run's "retrieve" was 64 s of waiting on zero-shot prompts).
    retrieve_s = time.perf_counter() - t0 - (waited() - w0)
    kw: dict[str, Any] = {"n": cfg.n, "temperature": unit.temperature, "max_tokens": cfg.max_tokens,
                          "seed": cfg.seed, "repair": unit.rounds(cfg), "run": True, "timeout_s": flow.task.timeout_s,
                          "samples": unit.samples}
    kw["stop_at_first_pass"] = False  # pass@k needs every chain
    kw["edit_format"] = flow.edit_format
    options = repair_loop.AdaptOptions(**kw)
    chains = ChainRecorder(unit, rd, cfg, flow.task, flow.source, retrieve_s, pool, emit)
    try:
        run = repair_loop.run_adaptation(flow.task, flow.spec, backend, flow.source, flow.build_prompt, options,
                                      mode=unit.mode, build_repair=flow.build_repair,
                                      build_restart=flow.build_restart, judge=chains.judge, on_event=chains.event,
                                      static_check=flow.check_statically if flow.static_check else None,
                                      build_restore=flow.restorer())
    except (NoCodeError, ContextOverflowError) as exc:
        # Deterministic for this prompt: the chains end here (adapt stops the same way).
        chains.close_all("no-code" if isinstance(exc, NoCodeError) else "error", str(exc))
        return
    chains.finish(run)


class ChainRecorder:
    """Turns the pipeline's events into records: each as soon as it is known to be final or not."""

    def __init__(self, unit: Unit, rd: rec.RunDir, cfg: BenchConfig, task: Task, source: str, retrieve_s: float,
                 pool: Any, emit: EventFn):
        self.unit, self.rd, self.cfg, self.task, self.source = unit, rd, cfg, task, source
        self.retrieve_s = retrieve_s / max(1, len(unit.samples))
        self.pool, self.emit = pool, emit
        self.judge_s: dict[tuple[int, int], float] = {}
        self.written: set[tuple[int, int]] = set()
        self.finished: set[int] = set()
        self.reused: set[tuple[int, int]] = set()  # (sample, round) whose kept judgement was reused

    def judge(self, task: Task, candidate: Candidate) -> SampleResult:
        """The executors' judge, timed per (sample, round); a round judged before a resume is not run again.

        Only the same code under the same judge settings reuses a kept judgement (rec.RunDir.load_judged);
        a checker fault (opsgraft's bug, not the program's) is never kept.
        """
        round_ = int(candidate.origin.removeprefix("round") or 0) if candidate.origin.startswith("round") else 0
        where = (self.unit.cell, self.task.id, candidate.sample_index, round_)
        key = judge_key(candidate, getattr(self.pool, "settings", None))
        kept = self.rd.load_judged(*where, key)
        if kept is not None:
            try:
                result = from_dict(SampleResult, kept["result"])
            except (TypeError, ValueError, KeyError):
                result = None
            if result is not None:
                self.judge_s[(candidate.sample_index, round_)] = float(kept.get("judge_s") or 0.0)
                self.reused.add((candidate.sample_index, round_))
                self.emit("judge-reused", {"cell": where[0], "task": where[1], "sample": where[2], "round": round_})
                return result
        t0 = time.perf_counter()
        result = self.pool.judge(task, candidate)
        took = self.judge_s[(candidate.sample_index, round_)] = time.perf_counter() - t0
        if not result.checker_fault:
            self.rd.save_judged(*where, key, to_dict(result), took)
        return result

    def event(self, kind: str, data: dict[str, Any]) -> None:
        self.emit("phase", {"kind": kind, "cell": self.unit.cell, "task": self.unit.task.id,
                            **{k: v for k, v in data.items() if k != "attempt"}})
        attempt = data.get("attempt")
        if attempt is None:
            return
        if kind == "verdict" and getattr(attempt, "restore", False):
            # A restore the chain does not keep is written after its final (passing) record: pass@k and the
            # preserved counts read the passing attempt (records.finished_chains stops at the last final).
            self.write(attempt, final=attempt.kept)
        elif kind == "verdict" and (attempt.passed or attempt.round >= self.unit.rounds(self.cfg)):
            self.write(attempt, final=True)
        elif kind == "repair":
            self.write(attempt, final=False)  # a repair follows: this round was not the chain's last

    def finish(self, run: Any) -> None:
        """Write what the events did not: each chain's last round is final."""
        last = run.final()
        for a in sorted(run.attempts, key=lambda a: (a.round, a.sample)):
            if (a.sample, a.round) not in self.written:
                self.write(a, final=last[a.sample] is a)

    def close_all(self, status: str, reason: str) -> None:
        """End every sample without an answer to judge (no code at all, the prompt does not fit)."""
        for sample in self.unit.samples:
            if sample not in self.finished:
                self._append(sample, 0, True, status, [reason], None, 0, 0, 0.0, None, None)

    def write(self, a: Any, final: bool) -> None:
        if (a.sample, a.round) in self.written:
            return
        code_file = diff_file = None
        if a.candidate is not None:
            code_file, diff_file = self.rd.save_code(self.unit.cell, self.task.id, a.sample, a.round, self.task.entry,
                                                     a.candidate.files[self.task.entry], self.source)
        res = a.result
        status = res.status if res else ("no-code" if a.candidate is None else "error")
        reasons = _reasons(res) if res else ([a.error] if a.error else [])
        g = a.generation
        self._append(a.sample, a.round, final, status, reasons, getattr(res, "preserved", None),
                     g.usage.prompt_tokens, g.usage.completion_tokens, g.wall_s, code_file, diff_file,
                     list(getattr(res, "preserved_findings", None) or ()), list(getattr(a, "static", None) or ()),
                     restore=bool(getattr(a, "restore", False)))

    def _append(self, sample: int, round_: int, final: bool, status: str, reasons: list[str], preserved: Any,
                prompt_tokens: int, completion_tokens: int, generate_s: float, code_file: str | None,
                diff_file: str | None, preserved_findings: list[str] | None = None,
                static: list[str] | None = None, restore: bool = False) -> None:
        u, t = self.unit, self.task
        reasons = [" ".join(r.split()) for r in reasons if r and r.strip()]
        # as the pipeline seeds them: sample i of round 0 is the backend's index i (seed + i)
        seed = self.cfg.seed + sample if round_ == 0 else self.cfg.seed + 1000 * round_ + sample
        self.rd.append({
            "v": rec.RECORD_VERSION, "cell": u.cell, "model": u.model, "mode": u.mode, "temperature": u.temperature,
            "task": t.id, "functionality": t.functionality, "component": t.component,
            "source_component": t.source_component, "framework": t.framework,
            "kind": t.kind, "split": t.split, "sample": sample, "round": round_, "final": final, "status": status,
            "reason": "" if status == "passed" else (reasons[0][:300] if reasons else status),
            "reasons": reasons if status != "passed" else [],
            "preserved": preserved if isinstance(preserved, bool) else None,
            "preserved_findings": [str(f)[:300] for f in preserved_findings or []],
            "static": [str(f)[:300] for f in static or []],
            "restore": restore,
            "judge_reused": (sample, round_) in self.reused,
            "prompt_tokens": int(prompt_tokens), "completion_tokens": int(completion_tokens),
            "wall_s": {"retrieve": round(self.retrieve_s if round_ == 0 else 0.0, 3),
                       "generate": round(float(generate_s), 3),
                       "judge": round(self.judge_s.get((sample, round_), 0.0), 3)},
            "seed": seed, "code_file": code_file, "diff_file": diff_file, "time": rec.now(),
        })
        self.written.add((sample, round_))
        if final or restore:  # a restore not kept is written after its chain's final record
            self.rd.forget_judged(u.cell, t.id, sample)
        if final:
            self.finished.add(sample)
            self.emit("chain", {"cell": u.cell, "task": t.id, "sample": sample, "status": status,
                                "passed": status == "passed"})


def judge_key(candidate: Candidate, settings: Mapping[str, Any] | None) -> str:
    """What a judgement depends on besides the task (pinned by the run directory): the code and settings."""
    blob = json.dumps({"entry": candidate.entry, "files": dict(sorted(candidate.files.items())),
                       "settings": dict(settings or {})}, sort_keys=True, default=str)
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


def _reasons(result: SampleResult) -> list[str]:
    """The checker's reasons, after how the program ended; the last stderr line when there is nothing else."""
    reasons = list(result.verdict.reasons) if result.verdict else []
    if result.status == "timeout":
        reasons.insert(0, f"the program did not finish within {result.execution.wall_s:.0f}s")
    elif result.status == "failed" and result.execution.returncode not in (None, 0) and not any(
            f"code {result.execution.returncode}" in r for r in reasons):
        # The error line says more than the checker's account of what is missing afterwards.
        lines = [ln for ln in result.execution.stderr_tail.splitlines() if ln.strip()]
        reasons.insert(0, f"exit code {result.execution.returncode}: {lines[-1] if lines else 'no stderr'}")
    if not reasons and result.status != "passed":
        lines = [ln for ln in result.execution.stderr_tail.splitlines() if ln.strip()]
        reasons = [lines[-1] if lines else result.status]
    return reasons
