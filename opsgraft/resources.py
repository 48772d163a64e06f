"""Text files shipped as package data, named either within opsgraft or as ``package:path`` by a plugin."""

from __future__ import annotations

from importlib import resources

from opsgraft.errors import ConfigError


def resource_text(ref: str, package: str, folder: str) -> str:
    """The text of ``ref``: ``"pkg:path/in/pkg.md"`` (a plugin's file) or a name in ``package``/``folder``."""
    if ":" in ref:
        package, _, name = ref.partition(":")
        folder = ""
    else:
        name = ref
    try:
        base = resources.files(package)
    except (ModuleNotFoundError, TypeError):  # TypeError: a module, not a package
        raise ConfigError(f"cannot read {ref!r}: no package {package!r}") from None
    path = base / folder / name if folder else base / name
    if not path.is_file():
        raise ConfigError(f"no file {name!r} in {package}{'/' + folder if folder else ''}")
    return path.read_text(encoding="utf-8")


def is_plugin_ref(ref: str) -> bool:
    """Whether ``ref`` names a file of another package (``pkg:path``)."""
    return ":" in ref
