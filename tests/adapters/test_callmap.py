"""Call maps for translations (adapters/callmap.py, adapters/callmaps/*.yaml).

Expected lines come from searching the script's text (the test's own oracle), never from the AST code under test.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from opsgraft.adapters import callmap
from opsgraft.adapters.outline import render
from opsgraft.adapters.specs import get_adapter

SCRIPTS = Path(__file__).parent / "callmap_scripts"


def line_of(source: str, text: str) -> int:
    hits = [i for i, ln in enumerate(source.splitlines(), 1) if text in ln]
    assert hits, f"{text!r} not in the script"
    return hits[0]


def by_line(source: str, key: str) -> dict[int, callmap.Mapping]:
    found = callmap.find(source, key)
    assert len({m.line for m in found}) == len(found), "a statement is listed twice"
    assert [m.line for m in found] == sorted(m.line for m in found)
    return {m.line: m for m in found}


WANDB = '''import wandb as wb
from wandb import Artifact

def build(cfg):
    return cfg.hidden * 2

def main():
    run = wb.init(project="p", config=CFG)
    cfg = run.config
    width = build(cfg)
    lr = wb.config["lr"]
    wb.config.update({"extra": 1})
    wb.config.depth = 3
    for epoch in range(cfg.epochs):
        run.log({"loss": 1.0}, step=epoch)
    wb.summary["best"] = 0.5
    run.summary["last"] = 0.4
    wb.save("model.pt")
    art = Artifact("m", type="model")
    art.add_file("model.pt")
    run.log_artifact(art)
    wb.watch(None)
    name = wb.run.name
    wb.finish()
'''

EXPECTED_WANDB = {
    "import wandb as wb": "import mlflow",
    "run = wb.init(": 'mlflow.set_experiment("p")',
    "cfg = run.config": "CFG",
    "return cfg.hidden": 'cfg["hidden"]',
    'lr = wb.config["lr"]': 'CFG["lr"]',
    "wb.config.update(": 'mlflow.log_params({"extra": 1})',
    "wb.config.depth = 3": 'mlflow.log_param("depth", 3)',
    "for epoch in range(cfg.epochs)": 'cfg["epochs"]',
    "run.log(": 'mlflow.log_metrics({"loss": 1.0}, step=epoch)',
    'wb.summary["best"]': 'mlflow.log_metric("best", 0.5)',
    'run.summary["last"]': 'mlflow.log_metric("last", 0.4)',
    "wb.save(": 'mlflow.log_artifact("model.pt")',
    "art.add_file(": 'mlflow.log_artifact("model.pt")',
    "run.log_artifact(": "delete it",
    "wb.watch(": "delete it",
    "name = wb.run.name": "mlflow.active_run().info.run_name",
    "wb.finish()": "mlflow.end_run()",
}


def test_every_wandb_entry_kind_found_on_its_line_through_aliases():
    found = by_line(WANDB, "wandb->mlflow")
    for text, target in EXPECTED_WANDB.items():
        line = line_of(WANDB, text)
        assert line in found, f"{text!r} (line {line}) not mapped"
        assert target in found[line].target, (text, found[line].target)
    # the variable passed to build() is the config, so build's parameter is mapped too; `width = build(cfg)`
    # itself is not a W&B statement
    assert line_of(WANDB, "width = build(cfg)") not in found


GIT = '''from pathlib import Path
from git import Repo as R

def main():
    repo = R(".")
    Path(".gitattributes").write_text("*.csv filter=lfs diff=lfs merge=lfs -text")
    repo.git.lfs("track", "*.csv")
    repo.index.add([".gitattributes"])
    repo.index.add(["data/a.csv", ".gitattributes"])
    repo.git.add("data/b.csv")
    repo.index.commit("data")
    repo.create_tag("v1")
    origin = repo.remote("origin")
    origin.push("main")
    repo.remotes.origin.push("v1")
    print(repo.head.commit.hexsha)
'''

EXPECTED_GIT = {
    'repo = R(".")': 'dvc("init")',
    'Path(".gitattributes")': "delete it",
    "repo.git.lfs(": "delete it",
    'repo.index.add([".gitattributes"])': "delete it",
    # a literal path gives literal names (an f-string around "data/a.csv" is a SyntaxError on Python 3.11)
    'repo.index.add(["data/a.csv"': '`dvc("add", "data/a.csv")`, then `repo.index.add([\'data/a.csv.dvc\', \'data/.gitignore\'])`',
    'repo.git.add("data/b.csv")': 'dvc("add", "data/b.csv")',
    "repo.index.commit(": "keep it",
    "repo.create_tag(": "keep it",
    'origin.push("main")': '`dvc("push")`, then `origin.push("main")`',
    'repo.remotes.origin.push("v1")': 'dvc("push")',
}


def test_every_gitpython_entry_kind_found_on_its_line_through_aliases():
    found = by_line(GIT, "gitpython->dvc")
    for text, target in EXPECTED_GIT.items():
        line = line_of(GIT, text)
        assert line in found, f"{text!r} (line {line}) not mapped"
        assert target in found[line].target, (text, found[line].target)
    assert line_of(GIT, 'origin = repo.remote("origin")') not in found  # binds the remote, changes nothing
    assert line_of(GIT, "print(repo.head") not in found  # git metadata stays


def test_wandb_target_lines_name_only_mlflow_attributes_that_exist():
    import mlflow

    cm = callmap.load("wandb->mlflow")
    assert cm is not None and cm.version >= 1
    named = set()
    for e in cm.entries:
        for attr in re.findall(r"\bmlflow\.(\w+)", e.target):
            named.add(attr)
            assert hasattr(mlflow, attr), f"mlflow.{attr} (in {e.target!r}) does not exist in mlflow {mlflow.__version__}"
        if "active_run().info." in e.target:
            info = re.search(r"info\.(\w+)", e.target).group(1)
            assert hasattr(mlflow.entities.RunInfo, info)
    assert {"set_experiment", "start_run", "log_params", "log_metrics", "log_metric", "end_run"} <= named
    sig = __import__("inspect").signature(mlflow.log_metrics)
    assert "step" in sig.parameters and "run_name" in __import__("inspect").signature(mlflow.start_run).parameters


def test_lightning_logger_target_exists():
    from pytorch_lightning.loggers import MLFlowLogger

    assert hasattr(MLFlowLogger, "log_hyperparams") and hasattr(MLFlowLogger, "log_metrics")
    src = ("from pytorch_lightning.loggers import WandbLogger\nlogger = WandbLogger(project='x')\n"
           "logger.experiment.config.update(CFG)\ntrainer = make(logger=logger)\n")
    found = by_line(src, "wandb->mlflow")
    assert found[1].target == "from pytorch_lightning.loggers import MLFlowLogger"
    assert found[2].target == "MLFlowLogger(experiment_name='x')"
    assert found[3].target == "logger.log_hyperparams(CFG)" and 4 not in found


@pytest.mark.parametrize("key, source", [
    ("wandb->mlflow", "import numpy as np\nrun = np.zeros(3)\nrun.log(1)\nconfig = {}\nprint(config['lr'])\n"),
    ("wandb->mlflow", "import mlflow\nwith mlflow.start_run() as run:\n    mlflow.log_metric('a', 1)\n"),
    ("gitpython->dvc", "import subprocess\nrepo = open('x')\nrepo.index.add(['a'])\n# git lfs track\n"),
    ("gitpython->dvc", '"""Uses git lfs and .gitattributes in prose only."""\nimport os\nos.remove("a")\n'),
    ("no->map", "import wandb\nwandb.init()\n"),
])
def test_no_false_positives_without_the_source_tool(key, source):
    assert callmap.find(source, key) == []


def test_a_statement_is_listed_once():
    src = "import wandb\nwandb.log({'a': wandb.config.lr, 'b': wandb.config.lr}, step=wandb.config.epochs)\n"
    found = callmap.find(src, "wandb->mlflow")
    assert len(found) == 2 and found[1].target.startswith("mlflow.log_metrics(")


def test_each_use_in_a_multiline_statement_gets_its_own_line():
    # issue 16 (keras-imbalanced): only the first use of a statement over several lines was listed, and the
    # model left the later ones (`cfg.dropout` in `keras.Sequential([...])`) untranslated
    wb = (SCRIPTS / "wb_multiline_config.py").read_text()
    found = by_line(wb, "wandb->mlflow")
    expected = {
        "n_samples=wandb.config.samples": ("wandb.config.samples", 'SETTINGS["samples"]'),
        "n_features=wandb.config.features": ("wandb.config.features", 'SETTINGS["features"]'),
        "cfg = run.config": ("run.config", "`SETTINGS` (a plain dict)"),
        "n_estimators=cfg.n_estimators": ("cfg.n_estimators", 'cfg["n_estimators"]'),
        "max_depth=cfg.depth": ("cfg.depth", 'cfg["depth"]'),
        "learning_rate=cfg.rate": ("cfg.rate", 'cfg["rate"]'),
        "wandb.log(": ("wandb.log(", "mlflow.log_metrics({...}, step=0)"),
    }
    for text, (source, target) in expected.items():
        line = line_of(wb, text)
        assert line in found, f"{text!r} (line {line}) not mapped"
        assert found[line].source.startswith(source) and found[line].target == target, (text, found[line])
    others = {line_of(wb, t) for t in ("import wandb", "run = wandb.init(", "run.finish()")}
    assert set(found) == others | {line_of(wb, t) for t in expected}  # nothing else, each once (by_line)
    text = render(wb, get_adapter("wandb->mlflow"), "wb.py")
    lines = ", ".join(str(line_of(wb, t)) for t in ("cfg.n_estimators", "cfg.depth", "cfg.rate"))
    assert f"- lines {lines} `cfg.X` -> `cfg[\"X\"]` (X: n_estimators, depth, rate)" in text


def test_each_gitpython_call_in_a_multiline_statement_gets_its_own_line():
    gl = (SCRIPTS / "git_multiline_exports.py").read_text()
    found = by_line(gl, "gitpython->dvc")
    expected = {
        "repo.index.add([": '`dvc("add", "exports/train.csv", "exports/test.csv")`, then `repo.index.add(',
        'repo.index.commit("exports v1")': "keep it (it commits",
        'repo.create_tag("exports-v1")': "keep it (the tag",
        "repo.git.push(": '`dvc("push")`, then `repo.git.push(',
    }
    for text, target in expected.items():
        line = line_of(gl, text)
        assert line in found, f"{text!r} (line {line}) not mapped"
        assert found[line].target.startswith(target), (text, found[line].target)
    assert set(found) == {line_of(gl, 'git.Repo(".")')} | {line_of(gl, t) for t in expected}


def test_a_long_statement_lists_every_read_and_caps_the_other_uses():
    reads = "".join(f"    'p{i}': wandb.config.p{i},\n" for i in range(10))
    images = "".join(f"    'img{i}': wandb.Image(x{i}),\n" for i in range(10))
    src = "import wandb\nwandb.init(project='p')\nparams = {\n" + reads + "}\nwandb.log({\n" + images + "})\n"
    found = by_line(src, "wandb->mlflow")
    # the reads all get a line (the outline groups them into one) ...
    assert [(m.line, m.source) for m in found.values() if m.kind == "read"] == \
        [(line_of(src, f"wandb.config.p{i},"), f"wandb.config.p{i}") for i in range(10)]
    # ... of the ten images in one wandb.log(...) only the first _MORE, after the call itself
    log = line_of(src, "wandb.log(")
    assert [ln for ln in found if ln > log] == [line_of(src, f"'img{i}'") for i in range(callmap._MORE)]
    assert found[log].target.startswith("mlflow.log_metrics(")
    assert all(found[line_of(src, f"'img{i}'")].target == f'mlflow.log_image(x{i}, key="image", step=epoch)'
               for i in range(callmap._MORE))
    lines = callmap.render(list(found.values()), "wandb->mlflow")
    assert len([ln for ln in lines if ln.startswith("- line")]) == 1 + 1 + 1 + 1 + callmap._MORE  # import, init,
    # the grouped reads, the log, the images


def test_outside_scripts_and_outline():
    wb = (SCRIPTS / "wb_alias_summary.py").read_text()
    text = render(wb, get_adapter("wandb->mlflow"), "wb.py")
    assert f"line {line_of(wb, 'run.summary[')} `run.summary[\"best_mse\"] = best` -> " \
           "`mlflow.log_metric(\"best_mse\", best)`" in text
    assert f"line {line_of(wb, 'wb.watch(')} `wb.watch(None)` -> delete it" in text
    assert "mlflow.summary" in text and "do not exist" in text  # the setup line
    gl = (SCRIPTS / "git_lfs_weights.py").read_text()
    text = render(gl, get_adapter("gitpython->dvc"), "gl.py", exact_calls=False)  # the per-statement listing
    for needle in ("repo.git.lfs(", "Path(\".gitattributes\")", "repo.git.add(\".gitattributes\")"):
        assert re.search(rf"line {line_of(gl, needle)} `.*` -> delete it", text), needle
    assert f"line {line_of(gl, 'repo.index.add(')} `repo.index.add([str(WEIGHTS)])` -> `dvc(\"add\", str(WEIGHTS))`, then `repo.index.add(" in text
    assert "def dvc(*args): subprocess.run([sys.executable, \"-m\", \"dvc\", *args], check=True)" in text
    assert "no `import dvc`" in text


def test_outline_groups_many_reads_and_caps_the_listing():
    body = "".join(f"x{i} = wandb.config.p{i}\n" for i in range(20))
    src = "import wandb\nwandb.init(project='p')\n" + body + "".join(f"wandb.log({{'m': {i}}})\n" for i in range(20))
    lines = callmap.render(callmap.find(src, "wandb->mlflow"), "wandb->mlflow", limit=12)
    assert any(ln.startswith("- lines 3, 4, 5,") and '`config["X"]`' in ln for ln in lines)
    assert "- and 11 more of the same kinds" in lines  # import, init, one grouped line, 9 of the 20 logs
    assert len([ln for ln in lines if ln.startswith("- line")]) == 12


def test_maps_ship_as_package_data():
    text = (Path(__file__).resolve().parents[2] / "pyproject.toml").read_text()
    assert '"callmaps/*.yaml"' in text
    assert callmap.load("gitpython->dvc") is not None and callmap.load("wandb->mlflow") is not None


def test_callmap_knob_off_falls_back_to_the_plain_listing():
    # the bench's `callmap = false` (A/B): the outline still names the statements to replace, unmapped
    gl = (SCRIPTS / "git_lfs_weights.py").read_text()
    spec = get_adapter("gitpython->dvc")
    off = render(gl, spec, "gl.py", callmap=False)
    assert "replace the gitpython code (" in off and f"line {line_of(gl, 'repo.index.add(')}" in off
    assert "def dvc(*args)" not in off and " -> " not in off
    assert "def dvc(*args)" in render(gl, spec, "gl.py")


def test_adding_several_paths_commits_each_dvc_file():
    """`repo.index.add([a, b])` -> `dvc add a b`, then git adds a.dvc, b.dvc and the .gitignore beside each."""
    src = ("import os\nfrom pathlib import Path\nfrom git import Repo\n\nDATA = Path('data/train.csv')\n"
           "repo = Repo('.')\nrepo.index.add([str(DATA), 'labels.csv'])\n")
    [add] = [m for m in callmap.find(src, "gitpython->dvc") if m.line == 7]
    assert add.target.startswith('`dvc("add", str(DATA), \'labels.csv\')`, then `repo.index.add([')
    for part in ('f"{DATA}.dvc"', 'os.path.join(os.path.dirname(DATA), ".gitignore")', "'labels.csv.dvc'",
                 "'.gitignore'"):
        assert part in add.target
    for code in re.findall(r"`([^`]+)`", add.target):  # each statement is code the model can copy as it is
        compile(code, "<target>", "exec")


def test_the_instructions_remote_and_an_already_tracked_file_become_calls_with_its_names():
    gl = (SCRIPTS / "git_lfs_weights.py").read_text()
    spec = get_adapter("gitpython->dvc")
    instruction = ('Move weights/model.pt from git-lfs to DVC: it is already committed to git, so stop tracking it '
                   'there first; configure a default DVC remote named "vault" at the folder /srv/dvc-vault, '
                   'and dvc push it.')
    text = render(gl, spec, "gl.py", instruction=instruction, exact_calls=False)
    assert '`dvc("remote", "add", "-d", "-f", "vault", "/srv/dvc-vault")`' in text
    add = line_of(gl, "repo.index.add(")
    assert f'right before line {add}, `repo.git.rm("--cached", "--ignore-unmatch", str(WEIGHTS))`' in text
    # the generic setup lines these replace are gone; without the instruction they are there
    assert "NAME, DIR" not in text and "PATH" not in text
    untracked = render(gl, spec, "gl.py", instruction='Use DVC with a remote named "vault" at the folder vault.',
                       exact_calls=False)
    assert "--cached" not in untracked  # the instruction does not say git tracks it: no generic rm line either
    plain = render(gl, spec, "gl.py", exact_calls=False)
    assert "NAME, DIR" in plain and "vault" not in plain and "str(WEIGHTS))`, so" not in plain


@pytest.mark.parametrize(("phrase", "name", "folder"), [
    ('a default DVC remote named "backup" at the folder dvc-storage inside the repository', "backup", "dvc-storage"),
    ('a default DVC remote named "storage" at the local folder dvc-storage inside', "storage", "dvc-storage"),
    ("add a default DVC remote called `local` pointing to the folder ../remote.", "local", "../remote"),
])
def test_remote_phrasings(phrase, name, folder):
    src = "from git import Repo\nrepo = Repo('.')\nrepo.index.add(['a.csv'])\nrepo.index.commit('m')\n"
    lines, _ = callmap.asked(callmap.find(src, "gitpython->dvc"), "gitpython->dvc", phrase + " and dvc push")
    assert f'`dvc("remote", "add", "-d", "-f", "{name}", "{folder}")`' in lines[0]
    # the script never pushed: the instruction's dvc push comes after its commit
    assert lines[-1] == '- after the commit at line 4: `dvc("push")`, which the instruction asks for'


def test_the_function_is_written_out_with_every_statement_rewritten_in_place():
    gl = (SCRIPTS / "git_lfs_weights.py").read_text()
    instruction = ('Move weights/model.pt from git-lfs to DVC: it is already committed to git, so stop tracking it '
                   'there first; configure a default DVC remote named "vault" at the folder /srv/dvc-vault.')
    text = render(gl, get_adapter("gitpython->dvc"), "gl.py", instruction=instruction)
    code = text[text.index("```python\n") + 10:text.index("\n```", text.index("```python"))]
    lines = code.splitlines()
    compile(code, "<main>", "exec")  # the function is code as it stands
    assert lines[0] == gl.splitlines()[line_of(gl, "def main(") - 1]
    assert not any("lfs" in ln or ".gitattributes" in ln for ln in lines)  # the git-lfs statements are deleted
    init = lines.index('        dvc("init")')
    assert lines[init + 1] == '    dvc("remote", "add", "-d", "-f", "vault", "/srv/dvc-vault")'
    add = lines.index('    dvc("add", str(WEIGHTS))')
    assert lines[add - 1] == '    repo.git.rm("--cached", "--ignore-unmatch", str(WEIGHTS))'
    assert lines[add + 1].startswith("    repo.index.add([") and lines[add + 1].endswith('".dvc/config"])')
    push = next(i for i, ln in enumerate(lines) if ".push(" in ln and "dvc(" not in ln)
    assert lines[push - 1] == '    dvc("push")'
    # the listing it replaces is gone; the setup lines that define dvc() stay
    assert "replace the gitpython code statement by statement:" not in text and "def dvc(*args)" in text


def test_prose_that_names_git_lfs_says_dvc_in_the_written_function_and_the_scaffold():
    from opsgraft.adapters import scaffold

    src = ('"""Version the table with git-lfs through GitPython."""\n\nfrom git import Repo\n\n\ndef main():\n'
           '    repo = Repo(".")\n    repo.git.lfs("track", "*.csv")\n    repo.index.add(["t.csv"])\n'
           '    repo.index.commit("table v1 (stored with git-lfs)")\n')
    written = callmap.rewritten(src, callmap.find(src, "gitpython->dvc"), "gitpython->dvc")
    assert '    repo.index.commit("table v1 (stored with DVC)")' in written
    assert not any("lfs" in line for line in written)
    assert scaffold.build(src, "gitpython->dvc").startswith('```python\n"""Version the table with DVC through GitPython."""')
    assert callmap.retire("wandb->mlflow", "git-lfs") == "git-lfs"  # only the translation that removes it


def test_the_dvc_scaffold_is_on_by_default_where_the_function_is_written_out(tmp_path):
    from opsgraft.adapters.workflow import Workflow

    gl = (SCRIPTS / "git_lfs_weights.py").read_text()
    script = tmp_path / "gl.py"
    script.write_text(gl)
    flow = Workflow(spec=get_adapter("gitpython->dvc"), script=script, source=gl)
    assert flow.planned_translation and flow.uses_scaffold
    assert flow.build_prompt(gl).prefill.count("def dvc(*args):") == 1
    assert not Workflow(spec=get_adapter("gitpython->dvc"), script=script, source=gl, scaffold=False).uses_scaffold
    assert not Workflow(spec=get_adapter("gitpython->dvc"), script=script, source=gl, exact_calls=False).uses_scaffold
    wb = (SCRIPTS / "wb_alias_summary.py").read_text()
    assert not Workflow(spec=get_adapter("wandb->mlflow"), script=script, source=wb).uses_scaffold


def test_config_attribute_reads_become_subscripts_through_aliases_and_parameters():
    out = callmap.subscripted(WANDB, "wandb->mlflow")
    assert len(out.splitlines()) == len(WANDB.splitlines())  # line for line: the outline's numbers still hold
    assert "return cfg[\"hidden\"] * 2" in out  # a parameter passed the run's config
    assert 'for epoch in range(cfg["epochs"]):' in out
    # what is not a read through the script's own name stays: stores, calls, reads on the module
    for kept in ("wb.config.depth = 3", 'wb.config.update({"extra": 1})', 'lr = wb.config["lr"]', "wb.run.name"):
        assert kept in out
    changed = [(a, b) for a, b in zip(WANDB.splitlines(), out.splitlines(), strict=True) if a != b]
    assert len(changed) == 2, changed
    # the rewritten reads are no longer listed: the target reads a dict the same way
    listed = {m.line for m in callmap.find(out, "wandb->mlflow")}
    assert line_of(out, "return cfg[") not in listed
    assert line_of(out, "cfg = run.config") in listed


def test_a_read_inside_an_fstring_takes_the_other_quote():
    src = ('import wandb\n\ndef main():\n    wandb.init(config={"lr": 0.1})\n    cfg = wandb.config\n'
           '    print(f"lr {cfg.lr} {cfg.lr:.2f}")\n    print(f\'x {cfg.lr}\')\n')
    out = callmap.subscripted(src, "wandb->mlflow")
    assert "print(f\"lr {cfg['lr']} {cfg['lr']:.2f}\")" in out
    assert "print(f'x {cfg[\"lr\"]}')" in out
    compile(out, "s.py", "exec")  # Python 3.11: a quote inside an f-string must differ from its own


def test_subscripts_leave_scripts_without_the_tool_and_maps_without_reads_alone():
    plain = "from types import SimpleNamespace\ncfg = SimpleNamespace(lr=0.1)\nprint(cfg.lr)\n"
    assert callmap.subscripted(plain, "wandb->mlflow") == plain
    git = "import git\nrepo = git.Repo('.')\nrepo.index.add(['a'])\nprint(repo.head.commit.hexsha)\n"
    assert callmap.subscripted(git, "gitpython->dvc") == git
    assert callmap.subscripted("def broken(:\n", "wandb->mlflow") == "def broken(:\n"


def test_the_translation_workflow_shows_the_subscripted_script_and_leaves_the_file_alone(tmp_path):
    from opsgraft.adapters.workflow import Workflow

    script = tmp_path / "train.py"
    script.write_text(WANDB)
    flow = Workflow(spec=get_adapter("wandb->mlflow"), script=script, source=WANDB)
    assert 'cfg["hidden"]' in flow.source and 'cfg["hidden"]' in flow.build_prompt(flow.source).messages[-1].content
    assert script.read_text() == WANDB
    off = Workflow(spec=get_adapter("wandb->mlflow"), script=script, source=WANDB, callmap=False)
    assert off.source == WANDB
