"""The plugin interface, through real distributions: a dist-info with entry_points.txt on sys.path,
found by importlib.metadata exactly as an installed plugin is."""

from __future__ import annotations

import importlib
import json
import sys
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import yaml

from opsgraft import registry
from tests.conftest import run_cli

FAKE_PLUGIN = '''
from pathlib import Path

from opsgraft import plugins

HERE = Path(__file__).parent


def check_fakelog(ctx, min_lines=1):
    lines = (ctx.workdir / "fakelog.txt").read_text().splitlines() if (ctx.workdir / "fakelog.txt").is_file() else []
    reasons = [] if len(lines) >= min_lines else [f"fakelog holds {len(lines)} line(s)"]
    return plugins.verdict("fakelog-run", reasons, {"lines": len(lines)})


def register():
    plugins.add_adapter(plugins.AdapterSpec(
        key="tracking:fakelog", kind="inline", functionality="tracking", component="fakelog",
        instruction="Add fakelog tracking.", notes="fake_opsgraft_plugin:notes.md",
        checker="fakelog-run", imports=("fakelog",), guide="fake_opsgraft_plugin:guide.md",
        environment="fakelog writes ./fakelog.txt; never pass a path.", run_start="fakelog.start()",
    ))
    plugins.add_checker("fakelog-run", check_fakelog)
    plugins.add_hook_dir("fakelog", HERE / "hooks")
    plugins.add_task_root("fakelog", HERE / "tasks")
    plugins.add_sandbox_env("fakelog", {"FAKELOG_MODE": "offline", "WANDB_MODE": "online"})
    plugins.add_standard_imports("fakelog", {"cs": "import colorsys as cs"})
    plugins.add_hint("fakelog-empty", r"fakelog holds 0 line", "Call fakelog.write(...) once per epoch.")
    plugins.add_backend("fakelog-llm", "opsgraft.llm.scripted:ScriptedBackend")
    plugins.add_retriever("fakelog-search", "opsgraft.retrieval.strategies:DocsSearch")
'''

HOOK = '''
from opsgraft_evidence import emit

TARGET = "colorsys"


def install(module):
    emit("fakelog.jsonl", {"event": "install", "module": module.__name__})
'''

TASK = {
    "id": "fakelog-task", "kind": "inline", "functionality": "tracking", "component": "fakelog",
    "framework": "none", "instruction": "Add fakelog tracking.", "entry": "train.py", "files": ["train.py"],
    "checker": "fakelog-run", "split": "tune",
}


def _dist(site: Path, name: str, entry_points: str) -> None:
    info = site / f"{name}-0.1.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text("[opsgraft]\n" + textwrap.dedent(entry_points))


@pytest.fixture
def site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A folder on sys.path for fake distributions; plugin state is reloaded before and after."""
    folder = tmp_path / "site"
    folder.mkdir()
    monkeypatch.syspath_prepend(str(folder))
    importlib.invalidate_caches()
    registry.reset_plugins()
    yield folder
    for name in [m for m in sys.modules if m.startswith(("fake_opsgraft_plugin", "broken_opsgraft_plugin"))]:
        del sys.modules[name]
    registry.reset_plugins()


@pytest.fixture
def install_fake(site: Path) -> Callable[[], None]:
    def install() -> None:
        data = site / "fake_opsgraft_plugin"
        (data / "hooks").mkdir(parents=True)
        (data / "__init__.py").write_text(FAKE_PLUGIN)
        (data / "notes.md").write_text("Rules of fakelog: open it once.\n")
        (data / "guide.md").write_text("1. import fakelog\n2. fakelog.start()\n")
        (data / "hooks" / "hook_colorsys.py").write_text(HOOK)
        task = data / "tasks" / "fakelog-task"
        (task / "reference").mkdir(parents=True)
        (task / "task.yaml").write_text(yaml.safe_dump(TASK))
        (task / "train.py").write_text("print('train')\n")
        (task / "reference" / "train.py").write_text("open('fakelog.txt', 'w').write('epoch 1\\n')\n")
        _dist(site, "fakelog_plugin", "fakelog = fake_opsgraft_plugin:register\n")
        importlib.invalidate_caches()
        registry.reset_plugins()

    return install


def test_a_plugin_distribution_contributes_each_extension_point(install_fake: Callable[[], None]) -> None:
    from opsgraft.adapters import postprocess
    from opsgraft.adapters.hints import repair_hints
    from opsgraft.adapters.prompting import inline_prompt
    from opsgraft.adapters.specs import get_adapter, inline_keys
    from opsgraft.adapters.workflow import guide_text
    from opsgraft.evaluation.corpus import load_corpus, load_task
    from opsgraft.evaluation.evaluator import get_checker
    from opsgraft.evaluation.sandbox import sandbox_env

    assert "tracking:fakelog" not in registry.adapters
    install_fake()
    assert [p.name for p in registry.plugins() if p.name == "fakelog"] == ["fakelog"]
    assert all(p.ok for p in registry.plugins())
    spec = get_adapter("tracking:fakelog")
    assert "tracking:fakelog" in inline_keys() and registry.adapters.owner("tracking:fakelog") == "fakelog"
    user = inline_prompt(spec, "train.py", "print('x')\n").messages[-1].content
    assert "Rules of fakelog: open it once." in user
    assert "- fakelog writes ./fakelog.txt; never pass a path." in user
    assert guide_text(spec.guide).startswith("1. import fakelog")
    assert get_checker("fakelog-run").__name__ == "check_fakelog"
    task = load_task("fakelog-task")
    assert task.component == "fakelog" and "fakelog-task" in {t.id for t in load_corpus()}
    env = sandbox_env(Path("/nonexistent-root"))
    assert env["FAKELOG_MODE"] == "offline"
    assert env["WANDB_MODE"] == "offline"  # a plugin cannot turn the offline switches off
    assert env["OPSGRAFT_HOOK_DIRS"].endswith("fake_opsgraft_plugin/hooks")
    code, notes = postprocess.complete("print(cs.rgb_to_hsv(1, 0, 0))\n", "print(1)\n")
    assert code.startswith("import colorsys as cs\n") and notes
    assert "Call fakelog.write(...) once per epoch." in repair_hints(["fakelog holds 0 line(s)"], "")
    assert "fakelog-llm" in registry.backends and "fakelog-search" in registry.retrievers


def test_the_plugin_hook_and_task_run_in_the_sandbox(install_fake: Callable[[], None], tmp_path: Path) -> None:
    from opsgraft.evaluation.corpus import load_task
    from opsgraft.evaluation.evaluator import judge
    from opsgraft.evaluation.ground_truth import ground_truth_candidates
    from opsgraft.evaluation.sandbox import evidence_dir, run_program

    install_fake()
    root = tmp_path / "root"
    root.mkdir()
    run = run_program({"main.py": "import colorsys\nprint(colorsys.rgb_to_hsv(1, 0, 0))\n"}, "main.py",
                      root=root, timeout_s=60)
    assert run.result.status == "passed", run.result.stderr_tail
    records = [json.loads(ln) for ln in (evidence_dir(root) / "fakelog.jsonl").read_text().splitlines()]
    assert [(r["event"], r["module"]) for r in records] == [("install", "colorsys")]
    task = load_task("fakelog-task")
    verdicts = {c.origin: judge(task, c).status for c in ground_truth_candidates(task)}
    assert verdicts == {"input": "failed", "reference": "passed"}


def test_adapt_help_lists_a_plugin_component_only_while_it_is_installed(
        install_fake: Callable[[], None], site: Path) -> None:
    code, out, _ = run_cli(["adapt", "--help"])
    assert code == 0 and "tracking:mlflow" in out and "tracking:fakelog" not in out
    install_fake()
    code, out, _ = run_cli(["adapt", "--help"])
    assert code == 0 and "tracking:fakelog" in " ".join(out.split()) and "fakelog-llm" in out
    code, out, _ = run_cli(["translate", "--help"])
    assert code == 0 and "fakelog-search" in out and "target-search" not in out
    code, out, _ = run_cli(["corpus", "list"])
    assert code == 0 and "fakelog-task" in out
    # Uninstalled: its dist-info is gone, so nothing it registered is left.
    for info in site.glob("fakelog_plugin-*.dist-info"):
        for f in info.iterdir():
            f.unlink()
        info.rmdir()
    importlib.invalidate_caches()
    registry.reset_plugins()
    code, out, _ = run_cli(["adapt", "--help"])
    assert code == 0 and "tracking:fakelog" not in out and "fakelog-llm" not in out
    code, _, err = run_cli(["adapt", "x.py", "--add", "tracking:mlflow", "--backend", "fakelog-llm"])
    assert code == 2 and "'fakelog-llm' is not one of 'local', 'openai', 'replay'" in err
    assert "fakelog-run" not in registry.checkers and "fakelog" not in registry.task_roots
    code, out, _ = run_cli(["corpus", "list"])
    assert code == 0 and "fakelog-task" not in out


BROKEN = '''
from opsgraft import plugins


def register():
    plugins.add_adapter(plugins.AdapterSpec(
        key="tracking:halfway", kind="inline", functionality="tracking", component="halfway",
        instruction="x", notes="notes_mlflow.md", checker="mlflow-tracking"))
    raise RuntimeError("halfway plugin cannot find its config")
'''


def test_a_broken_plugin_is_reported_by_name_and_opsgraft_still_works(site: Path) -> None:
    (site / "broken_opsgraft_plugin.py").write_text(BROKEN)
    _dist(site, "halfway_plugin", "halfway = broken_opsgraft_plugin:register\n")
    _dist(site, "gone_plugin", "gone = no_such_module_for_opsgraft:register\n")
    _dist(site, "usurper_plugin", "usurper = broken_opsgraft_plugin:usurp\n")
    (site / "broken_opsgraft_plugin.py").write_text(BROKEN + '''

def usurp():
    plugins.add_checker("mlflow-tracking", "os:getcwd")
''')
    importlib.invalidate_caches()
    registry.reset_plugins()
    status = {p.name: p for p in registry.plugins()}
    assert "RuntimeError: halfway plugin cannot find its config" in status["halfway"].error
    assert "ModuleNotFoundError" in status["gone"].error and status["gone"].distribution == "gone_plugin"
    assert "already registered" in status["usurper"].error
    assert "tracking:halfway" not in registry.adapters  # what it registered before failing is dropped
    from opsgraft.evaluation.evaluator import get_checker

    assert get_checker("mlflow-tracking").__name__ == "check_mlflow_tracking"
    code, out, _ = run_cli(["doctor"])
    line = next(ln for ln in out.splitlines() if " plugins " in ln)
    assert line.startswith("warn") and "halfway (halfway_plugin)" in line and "gone (gone_plugin)" in line
    code, out, err = run_cli(["adapt", "--help"])
    assert code == 0 and "tracking:mlflow" in out and "tracking:halfway" not in out, err


def test_the_dvclive_plugin_disappears_without_its_entry_point(monkeypatch: pytest.MonkeyPatch) -> None:
    """plugins/opsgraft-dvclive adds tracking:dvclive, its checker and tasks; without its entry point
    (uninstalled) opsgraft has none of them, and --help and corpus list say so."""
    import importlib.metadata as metadata

    pytest.importorskip("opsgraft_dvclive", reason="plugins/opsgraft-dvclive is not installed")
    from opsgraft.evaluation.corpus import load_corpus

    registry.reset_plugins()
    assert "tracking:dvclive" in registry.adapters and "dvclive-tracking" in registry.checkers
    assert {"tracking-dvclive-pytorch-wine", "tracking-dvclive-lightning-digits"} <= {t.id for t in load_corpus()}

    real = metadata.entry_points

    def without_dvclive(**params: str) -> list[metadata.EntryPoint]:
        return [ep for ep in real(**params) if ep.value.split(":")[0].split(".")[0] != "opsgraft_dvclive"]

    monkeypatch.setattr(metadata, "entry_points", without_dvclive)
    registry.reset_plugins()
    try:
        assert "tracking:dvclive" not in registry.adapters and "dvclive-tracking" not in registry.checkers
        assert not [t.id for t in load_corpus() if t.component == "dvclive"]
        code, out, _ = run_cli(["adapt", "--help"])
        assert code == 0 and "tracking:dvclive" not in " ".join(out.split())
        code, out, _ = run_cli(["corpus", "list"])
        assert code == 0 and "dvclive" not in out
    finally:
        monkeypatch.undo()
        registry.reset_plugins()
    code, out, _ = run_cli(["adapt", "--help"])
    assert "tracking:dvclive" in " ".join(out.split())
