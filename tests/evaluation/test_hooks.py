"""The post-import hook mechanism of hooks/sitecustomize.py, proved with tmp hooks on ``json``."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from opsgraft.evaluation.sandbox import hooks_dir

HOOK = '''
"""A test hook."""
import os
TARGET = "json"  # the module to watch


def install(module):
    complete = hasattr(module, "dumps") and hasattr(module, "loads")
    with open(os.environ["HOOK_LOG"], "a") as fh:
        fh.write(f"installed {module.__name__} complete={complete}\\n")
'''


def _run(pythonpath: list[Path], code: str, **env: str) -> subprocess.CompletedProcess[str]:
    full_env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "OPSGRAFT_SANDBOX_ROOT")}
    full_env.update(env, PYTHONPATH=os.pathsep.join(map(str, pythonpath)))
    return subprocess.run([sys.executable, "-c", code], env=full_env, capture_output=True, text=True, timeout=60)


@pytest.fixture
def hook_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "hooks"
    folder.mkdir()
    shutil.copy(hooks_dir() / "sitecustomize.py", folder / "sitecustomize.py")
    (folder / "hook_json.py").write_text(HOOK)
    return folder


def test_hook_runs_once_right_after_its_target_is_imported(hook_dir: Path, tmp_path: Path) -> None:
    log = tmp_path / "hook.log"
    code = (
        "import os, sys\n"
        "assert not os.path.exists(os.environ['HOOK_LOG']), 'hook ran before the import'\n"
        "assert 'hook_json' not in sys.modules\n"
        "import json\n"
        "print(open(os.environ['HOOK_LOG']).read().strip())\n"
        "import json.decoder, importlib\n"
        "del sys.modules['json']\n"
        "import json\n"
        "print(type(json.__loader__).__name__, type(json.__spec__.loader).__name__)\n"
    )
    proc = _run([hook_dir], code, HOOK_LOG=str(log))
    assert proc.returncode == 0, proc.stderr
    first, loaders = proc.stdout.strip().splitlines()
    assert first == "installed json complete=True"
    assert log.read_text().count("installed") == 1  # only the first import counts
    assert loaders == "SourceFileLoader SourceFileLoader"  # the wrapper is gone after import


def test_a_failing_hook_never_breaks_the_program(hook_dir: Path, tmp_path: Path) -> None:
    (hook_dir / "hook_bad.py").write_text('TARGET = "json"\ndef install(module):\n    raise RuntimeError("boom")\n')
    (hook_dir / "hook_exits.py").write_text("TARGET = 'json'\nimport sys\ndef install(module):\n    sys.exit(5)\n")
    (hook_dir / "hook_broken_import.py").write_text("TARGET = 'json'\nimport does_not_exist_anywhere\n")
    (hook_dir / "hook_no_target.py").write_text("def install(module):\n    pass\n")
    log = tmp_path / "hook.log"
    proc = _run([hook_dir], "import json\nprint(json.dumps({'a': 1}))", HOOK_LOG=str(log))
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == '{"a": 1}'
    assert "hook_bad.install(json) failed: RuntimeError: boom" in proc.stderr
    assert "hook_exits.install(json) failed: SystemExit" in proc.stderr
    assert "hook_broken_import" in proc.stderr and "ModuleNotFoundError" in proc.stderr
    assert "hook_no_target.py: no module-level TARGET" in proc.stderr
    assert "installed json" in log.read_text()  # the good hook still ran


def test_hooks_of_modules_never_imported_are_never_loaded(hook_dir: Path, tmp_path: Path) -> None:
    (hook_dir / "hook_torch_like.py").write_text("TARGET = 'not_a_real_module_xyz'\nraise RuntimeError('loaded')\n")
    proc = _run([hook_dir], "import sys\nprint(sorted(m for m in sys.modules if m.startswith('hook_')))",
                HOOK_LOG=str(tmp_path / "log"))
    assert proc.returncode == 0 and proc.stdout.strip() == "[]" and not proc.stderr


def test_a_missing_target_module_still_raises_importerror(hook_dir: Path) -> None:
    (hook_dir / "hook_missing.py").write_text("TARGET = 'not_a_real_module_xyz'\ndef install(m):\n    pass\n")
    proc = _run([hook_dir], "import not_a_real_module_xyz")
    assert proc.returncode == 1 and "ModuleNotFoundError" in proc.stderr


def test_submodule_targets_work(hook_dir: Path, tmp_path: Path) -> None:
    (hook_dir / "hook_json.py").write_text(HOOK.replace('TARGET = "json"', 'TARGET = "json.decoder"'))
    log = tmp_path / "hook.log"
    proc = _run([hook_dir], "import json", HOOK_LOG=str(log))
    assert proc.returncode == 0, proc.stderr
    assert log.read_text().strip() == "installed json.decoder complete=False"  # decoder has no dumps


def test_chains_to_the_next_sitecustomize(hook_dir: Path, tmp_path: Path) -> None:
    other = tmp_path / "other"
    other.mkdir()
    (other / "sitecustomize.py").write_text("import os\nos.environ['CHAINED'] = 'yes'\nprint('chained')\n")
    proc = _run([hook_dir, other], "import os\nprint(os.environ.get('CHAINED'))")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["chained", "yes"]


def test_startup_imports_nothing_extra() -> None:
    """The real hooks folder adds only sitecustomize itself to a bare interpreter's modules."""
    code = "import sys\nprint(' '.join(sorted(sys.modules)))"
    bare = set(_run([], code).stdout.split())
    hooked_proc = _run([hooks_dir()], code)
    assert hooked_proc.returncode == 0, hooked_proc.stderr
    extra = set(hooked_proc.stdout.split()) - bare
    assert extra <= {"sitecustomize"}, extra


def test_write_audit_logs_python_writes_outside_the_root(hook_dir: Path, tmp_path: Path) -> None:
    root = tmp_path / "root"
    (root / ".sandbox").mkdir(parents=True)
    outside = tmp_path / "outside"
    code = (
        "import os, sqlite3\n"
        f"open({str(outside / 'a.txt')!r}, 'w').write('x') if os.makedirs({str(outside)!r}) is None else None\n"
        f"open({str(root / 'inside.txt')!r}, 'w').write('x')\n"
        f"open({str(outside / 'a.txt')!r}).read()\n"
        f"sqlite3.connect({str(outside / 'db.sqlite')!r}).close()\n"
        f"os.remove({str(outside / 'a.txt')!r})\n"
    )
    proc = _run([hook_dir], code, OPSGRAFT_SANDBOX_ROOT=str(root))
    assert proc.returncode == 0, proc.stderr
    lines = (root / ".sandbox" / "outside_writes.log").read_text().splitlines()
    assert lines == [
        f"os.mkdir\t{outside}",
        f"open\t{outside / 'a.txt'}",
        f"sqlite3.connect\t{outside / 'db.sqlite'}",
    ]  # the read is no write; the second event on a.txt is deduplicated; inside the root is fine
