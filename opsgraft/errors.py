"""The one exception tree of opsgraft; the CLI turns each into a one-line message."""

from __future__ import annotations


class OpsgraftError(Exception):
    """Root of every error opsgraft raises on purpose."""

    exit_code = 1


class ConfigError(OpsgraftError):
    """Bad configuration, task spec or command-line value."""

    exit_code = 2


class InputError(OpsgraftError):
    """The user's input file is missing, unreadable, not Python, not UTF-8 or not parseable."""

    exit_code = 2


class UnknownComponentError(ConfigError):
    """A registry lookup for a name nobody registered."""


class BackendError(OpsgraftError):
    """An LLM backend failed (unreachable endpoint, bad answer, missing model)."""

    exit_code = 3


class ContextOverflowError(BackendError):
    """The prompt plus the requested completion do not fit the model's context window."""


class NoCodeError(BackendError):
    """The LLM answered without any code to extract."""


class ReplayMiss(BackendError):
    """A strict replay backend was asked for a response it has not recorded."""


class SandboxError(OpsgraftError):
    """The sandbox itself could not run (not: the program under test failed)."""

    exit_code = 4


class StoreError(OpsgraftError):
    """A document store is missing, corrupt or cannot be written."""

    exit_code = 5


class CrawlError(OpsgraftError):
    """A crawl could not start: unreachable URL, 404 or non-HTML start page."""

    exit_code = 5
