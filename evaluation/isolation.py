"""Real isolation for sandbox runs where the machine has it: bubblewrap (``bwrap``).

Under ``bwrap`` a sample runs in its own namespaces, with:

- no network: its own network namespace, which holds only a loopback nobody else listens on;
- a read-only view of the whole file system, a fresh ``/dev``, and an empty private ``/tmp``, ``/run``
  and home folder of the user running opsgraft (the host's sockets, docker's or dbus's, live in
  ``/run`` and a read-only mount does not stop a connect; the real home holds ``~/.ssh``, cloud
  credentials and ``.netrc``); what the program needs from them (the venv, the hooks) is bound back
  read-only;
- its sample root read-only except ``work/`` (the workdir), ``home/`` (HOME), ``tmp/`` (TMPDIR),
  ``.sandbox/`` (where the hooks write evidence and the audit log) and ``remote.git/``;
- its own PID namespace: no process outside is visible, so no parent's ``/proc/PID/environ`` can
  be read, and when the program ends (or bwrap is killed) the kernel kills whatever it left behind;
- ``--die-with-parent``: a killed ``opsgraft evaluate`` takes the sample with it.

``auto`` uses bwrap when :func:`available` finds that it works here, and runs plainly otherwise.
"""

from __future__ import annotations

import functools
import glob
import logging
import os
import shutil
import subprocess
import sys
from collections.abc import Iterable, Mapping
from pathlib import Path

from opsgraft.errors import ConfigError, SandboxError

log = logging.getLogger(__name__)

MODES = ("none", "bwrap", "auto")
# The parts of a sample root the program may write to; the rest of the root stays read-only, so a
# write to ``../`` fails instead of being found afterwards.
WRITABLE = ("work", "home", "tmp", ".sandbox", "remote.git")
# Private, empty and writable (plus the real home: see private_dirs); what the program needs
# from them is bound back read-only.
PRIVATE = ("/tmp", "/run")
NAMESPACES = ("--unshare-net", "--unshare-pid", "--unshare-ipc", "--unshare-uts")
FIX = "as root: apt-get install bubblewrap (in a container, it must be allowed to create namespaces)"


def private_dirs() -> list[str]:
    """Folders replaced by an empty tmpfs: :data:`PRIVATE` and the home of the user running opsgraft."""
    homes = {os.environ.get("HOME", ""), os.path.expanduser("~")}
    try:
        import pwd

        homes.add(pwd.getpwuid(os.getuid()).pw_dir)
    except (ImportError, KeyError):
        pass
    found = [*PRIVATE, *sorted(h for h in homes if os.path.isabs(h) and os.path.isdir(h) and h != "/")]
    # Outermost first, each once: a home under /tmp or /run stays hidden by its parent's tmpfs.
    return [d for d in found if not any(d != o and Path(d).is_relative_to(o) for o in found)]


def _base_flags() -> list[str]:
    """What every isolated run gets, root layout first: later mounts go on top of earlier ones."""
    flags = ["--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc"]
    for path in private_dirs():
        flags += ["--tmpfs", path]
    # --new-session: no TIOCSTI into a terminal of ours (the sandbox gives none anyway).
    return [*flags, *NAMESPACES, "--die-with-parent", "--new-session"]


@functools.cache
def available() -> tuple[bool, str]:
    """Whether bwrap isolates on this machine (tried once per process, with the real flags), and why."""
    exe = shutil.which("bwrap")
    if exe is None:
        return False, "bwrap (bubblewrap) is not installed"
    try:
        probe = subprocess.run([exe, *_base_flags(), "--", "true"], capture_output=True, text=True, timeout=30,
                               stdin=subprocess.DEVNULL)
        version = subprocess.run([exe, "--version"], capture_output=True, text=True, timeout=30).stdout.strip()
    except (OSError, subprocess.SubprocessError) as exc:
        return False, f"{exe} could not run: {exc}"
    if probe.returncode != 0:
        lines = (probe.stderr or probe.stdout).strip().splitlines()
        return False, f"{exe} cannot isolate here: {lines[-1] if lines else f'exit {probe.returncode}'}"
    return True, f"{version or exe}: no network, read-only root, own PID namespace"


def resolve(mode: str) -> str:
    """``none|bwrap|auto`` -> what samples will run with; ConfigError for an unknown mode or bwrap not working."""
    if mode not in MODES:
        raise ConfigError(f"unknown isolation {mode!r} (valid: {', '.join(MODES)})")
    if mode == "none":
        return "none"
    ok, detail = available()
    if ok:
        return "bwrap"
    if mode == "bwrap":
        raise ConfigError(f"--isolation bwrap: {detail}; fix: {FIX}, or use --isolation auto")
    log.info("isolation auto: running without bwrap (%s)", detail)
    return "none"


def wrap(argv: list[str], *, root: Path, env: Mapping[str, str], mode: str) -> list[str]:
    """``argv`` wrapped so that it runs isolated according to ``mode``; SandboxError if it cannot be."""
    if mode not in MODES:
        raise SandboxError(f"unknown isolation {mode!r} (valid: {', '.join(MODES)})")
    if mode == "none":
        return list(argv)
    ok, detail = available()
    if not ok:
        if mode == "auto":
            return list(argv)
        raise SandboxError(f"isolation bwrap: {detail}")
    return [shutil.which("bwrap") or "bwrap", *bwrap_flags(Path(root), env, argv), "--", *argv]


def bwrap_flags(root: Path, env: Mapping[str, str], argv: Iterable[str] = ()) -> list[str]:
    """The bwrap options that isolate a run whose sample root is ``root`` (see the module docstring)."""
    root = Path(os.path.abspath(root))
    flags = _base_flags()
    if env.get("OPSGRAFT_DEVICE") == "cuda":
        for dev in sorted(glob.glob("/dev/nvidia*")):  # the fresh /dev has no GPU nodes
            flags += ["--dev-bind", dev, dev]
    for path in _hidden_needs(root, env, argv):
        flags += ["--ro-bind", str(path), str(path)]
    flags += ["--ro-bind", str(root), str(root)]
    for name in WRITABLE:
        if (root / name).exists():
            flags += ["--bind", str(root / name), str(root / name)]
    return [*flags, "--chdir", str(root / "work")]


def _hidden_needs(root: Path, env: Mapping[str, str], argv: Iterable[str] = ()) -> list[Path]:
    """Paths the program needs (interpreter, files in ``argv``, PYTHONPATH, PATH, plugin hook folders) that a
    private folder hides.

    Parents come first and nested ones are dropped: each bind shows its whole tree.
    """
    wanted: Iterable[str] = [
        sys.prefix, sys.base_prefix, sys.exec_prefix, os.path.realpath(sys.executable),
        *(arg for arg in argv if os.path.isabs(arg)),
        *env.get("PYTHONPATH", "").split(os.pathsep), *env.get("PATH", "").split(os.pathsep),
        # plugins' sandbox hook folders (a plugin installed from a checkout under /tmp, as in CI)
        *env.get("OPSGRAFT_HOOK_DIRS", "").split(os.pathsep),
    ]
    hidden = private_dirs()
    found: list[Path] = []
    for text in wanted:
        if not text or not os.path.exists(text):
            continue
        path = Path(os.path.abspath(text))
        if path.is_file():
            path = path.parent
        if any(path.is_relative_to(p) for p in hidden) and not path.is_relative_to(root):
            found.append(path)
    kept: list[Path] = []
    for path in sorted(set(found), key=lambda p: len(p.parts)):
        if not any(path.is_relative_to(k) for k in kept):
            kept.append(path)
    return kept
