"""Process trees of sandbox samples: find, measure and kill every descendant; the per-sample supervisor.

Run as a script (``python -I -S procs.py [--parent PID] [--rlimit NAME=SOFT:HARD]... -- ARGV...``)
this module is the supervisor that :mod:`opsgraft.evaluation.sandbox` puts between itself and
the program. It makes itself a child subreaper (``PR_SET_CHILD_SUBREAPER``), so orphans of the
program re-parent to it instead of init and stay findable as its descendants however they
detach (``setsid``, ``setpgid``, double fork); asks for SIGTERM when its parent dies
(``PR_SET_PDEATHSIG``); applies the rlimits; starts ARGV with ``PR_SET_PDEATHSIG(SIGKILL)``;
waits for it, kills every process left under it and exits with the program's status.

Only the standard library is used, and nothing outside this file: the supervisor runs with
``-I -S`` (no site, no sitecustomize, no hooks), which keeps its start-up at a few milliseconds.
"""

from __future__ import annotations

import os
import signal
import sys
import time
from collections.abc import Iterable

PR_SET_PDEATHSIG = 1
PR_SET_CHILD_SUBREAPER = 36
MARKER = "OPSGRAFT_SANDBOX_ROOT"
_PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


def _pids() -> list[int]:
    try:
        return [int(name) for name in os.listdir("/proc") if name.isdigit()]
    except OSError:
        return []


def _stat_fields(pid: int) -> list[str] | None:
    """The fields of /proc/PID/stat after the command name (state is [0], ppid [1], starttime [19])."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            data = fh.read()
    except OSError:
        return None
    return data[data.rfind(b")") + 2 :].decode("ascii", "replace").split()


def start_time(pid: int) -> int | None:
    """The start time of ``pid`` in clock ticks since boot (None if it is gone): a pid is reused, this is not."""
    fields = _stat_fields(pid)
    return int(fields[19]) if fields and len(fields) > 19 else None


def alive(pid: int, started: int | None = None) -> bool:
    """True while ``pid`` runs (a zombie is dead) and, if ``started`` is given, is the same process."""
    fields = _stat_fields(pid)
    if not fields or fields[0] in ("Z", "X"):
        return False
    return started is None or (len(fields) > 19 and int(fields[19]) == started)


def descendants(pid: int) -> list[int]:
    """Every live process below ``pid`` (not ``pid`` itself), parents before children."""
    children: dict[int, list[int]] = {}
    for p in _pids():
        fields = _stat_fields(p)
        if fields and len(fields) > 1 and fields[0] not in ("Z", "X"):
            children.setdefault(int(fields[1]), []).append(p)
    found: list[int] = []
    todo = [pid]
    while todo:
        kids = children.get(todo.pop(), [])
        found.extend(kids)
        todo.extend(kids)
    return found


def marked(root: str) -> list[int]:
    """Processes whose environment carries ``OPSGRAFT_SANDBOX_ROOT=root``: the sample's, wherever they went."""
    needle = f"{MARKER}={root}\0".encode()
    me = os.getpid()
    found = []
    for p in _pids():
        if p == me:
            continue
        try:
            with open(f"/proc/{p}/environ", "rb") as fh:
                env = b"\0" + fh.read()
        except OSError:
            continue
        if b"\0" + needle in env or env.endswith(b"\0" + needle[:-1]):
            found.append(p)
    return found


def rss_bytes(pids: Iterable[int]) -> int:
    """The summed resident memory of ``pids`` (pages shared between them count once per process)."""
    total = 0
    for p in pids:
        try:
            with open(f"/proc/{p}/statm", "rb") as fh:
                total += int(fh.read().split()[1]) * _PAGE
        except (OSError, IndexError, ValueError):
            continue
    return total


def pss_bytes(pids: Iterable[int]) -> int:
    """The summed proportional memory of ``pids``: a page shared by N of them counts 1/N in each.

    Slower than :func:`rss_bytes` (the kernel walks the page tables), so it is asked only when the
    RSS sum is over a limit: forked workers (a DataLoader's) share their parent's pages, which
    RSS counts once per process. Falls back to RSS where ``smaps_rollup`` is missing.
    """
    total = 0
    for p in pids:
        try:
            with open(f"/proc/{p}/smaps_rollup", "rb") as fh:
                for line in fh:
                    if line.startswith(b"Pss:"):
                        total += int(line.split()[1]) * 1024
                        break
        except (OSError, IndexError, ValueError):
            total += rss_bytes([p])
    return total


def _kill(pids: Iterable[int]) -> int:
    n = 0
    for p in pids:
        try:
            os.kill(p, signal.SIGKILL)
            n += 1
        except (ProcessLookupError, PermissionError):
            pass
    return n


def kill_tree(pid: int, root: str | None = None, *, include_self: bool = True, rounds: int = 50) -> None:
    """SIGKILL everything below ``pid`` (and ``pid`` unless not ``include_self``), then every process marked ``root``.

    ``pid`` must be a real process (> 1): the tree below pid 0 or 1 is the whole machine.
    ``pid`` is kept alive until the rest is gone: as the subreaper it collects the orphans of
    killed processes, so a process forked mid-sweep is still found in the next round.
    """
    if pid <= 1:
        raise ValueError(f"refusing to kill the tree below pid {pid}")
    me = os.getpid()
    for _ in range(rounds):
        below = [p for p in descendants(pid) if p != me]
        if not _kill(below):
            break
        time.sleep(0.01)
    if include_self and pid != me:
        _kill([pid])
    if root:
        kill_marked(root, spare=() if include_self else (pid,), rounds=rounds)


def kill_marked(root: str, *, spare: Iterable[int] = (), rounds: int = 50) -> None:
    """SIGKILL every process marked ``root`` (see :func:`marked`) but ``spare``, until none is left."""
    # pid 1 is bwrap's init inside a PID namespace: it carries the marker too and ignores SIGKILL.
    keep = {os.getpid(), 1, *spare}
    for _ in range(rounds):
        if not _kill(p for p in marked(root) if p not in keep):
            break
        time.sleep(0.01)


# --- the supervisor ------------------------------------------------------------------------------


def _prctl(option: int, value: int) -> bool:
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        return bool(libc.prctl(option, value, 0, 0, 0) == 0)
    except (OSError, AttributeError):
        return False


def _parse(argv: list[str]) -> tuple[int | None, list[tuple[str, int, int]], list[str]]:
    parent: int | None = None
    limits: list[tuple[str, int, int]] = []
    i = 0
    while i < len(argv) and argv[i] != "--":
        if argv[i] == "--parent":
            parent = int(argv[i + 1])
        elif argv[i] == "--rlimit":
            name, _, values = argv[i + 1].partition("=")
            soft, _, hard = values.partition(":")
            limits.append((name, int(soft), int(hard or soft)))
        else:
            raise SystemExit(f"procs.py: unknown option {argv[i]!r}")
        i += 2
    return parent, limits, argv[i + 1 :]


def _set_rlimits(limits: list[tuple[str, int, int]]) -> None:
    import resource

    for name, soft, hard in limits:
        which = getattr(resource, name, None)
        if which is None:
            continue
        try:
            _old_soft, old_hard = resource.getrlimit(which)
            if old_hard != resource.RLIM_INFINITY:
                soft, hard = min(soft, old_hard), min(hard, old_hard)
            resource.setrlimit(which, (soft, hard))
        except (OSError, ValueError):
            pass


def supervise(argv: list[str]) -> int:
    """Run ARGV as described in the module docstring; returns its exit code (or re-raises its signal)."""
    parent, limits, command = _parse(argv)
    if not command:
        raise SystemExit("procs.py: no command after --")
    me = os.getpid()
    root = os.environ.get(MARKER)

    def cleanup(signum: int = 0, _frame: object = None) -> None:
        kill_tree(me, root, include_self=False)
        if signum:
            os._exit(128 + signum)

    # Our parent (the evaluator) died or gave up on us: take the whole sample with us.
    signal.signal(signal.SIGTERM, cleanup)
    signal.signal(signal.SIGHUP, cleanup)
    _prctl(PR_SET_CHILD_SUBREAPER, 1)
    _prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    if parent is not None and os.getppid() != parent:
        cleanup(signal.SIGTERM)  # it died before PDEATHSIG was armed
    _set_rlimits(limits)
    pid = os.fork()
    if pid == 0:
        try:
            _prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
            if os.getppid() != me:
                os._exit(137)
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            signal.signal(signal.SIGHUP, signal.SIG_DFL)
            os.execvp(command[0], command)
        except BaseException as exc:  # noqa: BLE001  (nothing may escape a forked child)
            os.write(2, f"[opsgraft] could not start {command[0]}: {exc}\n".encode())
        os._exit(127)
    status = 0
    while True:
        try:
            done, wstatus = os.waitpid(-1, 0)  # reaps adopted orphans too
        except ChildProcessError:
            break
        if done == pid:
            status = wstatus
            break
    cleanup()
    while True:  # reap what the sweep killed
        try:
            os.waitpid(-1, 0)
        except ChildProcessError:
            break
    if os.WIFSIGNALED(status):
        sig = os.WTERMSIG(status)
        signal.signal(sig, signal.SIG_DFL)
        os.kill(me, sig)  # the caller sees the program's signal as its own (returncode -sig)
        return 128 + sig
    return os.WEXITSTATUS(status)


if __name__ == "__main__":
    sys.exit(supervise(sys.argv[1:]))
