"""The ``opsgraft`` command: a thin lazy group; each subcommand lives in opsgraft/commands/."""

from __future__ import annotations

import importlib
import logging
import sys
from typing import Any

import click

from opsgraft import __version__
from opsgraft.errors import OpsgraftError

# name -> "module:attr"; imported only when that subcommand runs, so --help stays fast.
COMMANDS: dict[str, str] = {
    "adapt": "opsgraft.commands.adapt:adapt",
    "ablate": "opsgraft.commands.ablate:ablate",
    "translate": "opsgraft.commands.translate:translate",
    "evaluate": "opsgraft.commands.evaluate:evaluate",
    "corpus": "opsgraft.commands.corpus:corpus",
    "curate": "opsgraft.commands.curate:curate",
    "stores": "opsgraft.commands.curate:stores",
    "retrieve": "opsgraft.commands.retrieve:retrieve",
    "doctor": "opsgraft.commands.doctor:doctor",
    "model": "opsgraft.commands.model:model",
    "bench": "opsgraft.commands.bench:bench",
    "report": "opsgraft.commands.report:report",
    "ui": "opsgraft.commands.ui:ui",
}

HELP = {
    "adapt": "Add an MLOps functionality to a training script with the LLM.",
    "ablate": "Run an ablation study of the annotated components of a training script.",
    "translate": "Translate a script from one MLOps tool to another (gitpython->dvc, wandb->mlflow).",
    "evaluate": "Run generations in the sandbox, judge them with checkers and report pass@k.",
    "corpus": "List and check the benchmark corpus.",
    "curate": "Crawl docs (a site or an installed package) into a Chroma store.",
    "stores": "List or remove the curated doc stores.",
    "retrieve": "Print the docs a retrieval strategy finds for a file.",
    "doctor": "Check the model, llama.cpp, Chromium, embeddings and caches.",
    "model": "Assemble and verify the embedded local model.",
    "bench": "Run the Pass@k benchmark grid from a config or preset (resumable), then its report.",
    "report": "Render report.md and a self-contained report.html from a bench run directory.",
    "ui": "Serve a local web page: parameter grids with MLflow and an LLM report, adapt, runs.",
}


class LazyGroup(click.Group):
    """A group whose subcommands are imported on first use."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        target = COMMANDS.get(cmd_name)
        if target is None:
            return None
        module, _, attr = target.partition(":")
        try:
            cmd: click.Command = getattr(importlib.import_module(module), attr)
        except ModuleNotFoundError as exc:
            if exc.name and exc.name.startswith("opsgraft"):
                raise click.ClickException(f"'{cmd_name}' is not available in this build ({exc.name})") from None
            raise
        return cmd

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        # Short help comes from the table above so that --help imports no subcommand.
        with formatter.section("Commands"):
            formatter.write_dl([(name, HELP.get(name, "")) for name in self.list_commands(ctx)])


@click.group(cls=LazyGroup)
@click.version_option(__version__, prog_name="opsgraft")
@click.option("-v", "--verbose", count=True, help="More logging (-vv for debug).")
def cli(verbose: int) -> None:
    """opsgraft: graft MLOps functionality into ML training code with an LLM, and prove it ran.

    Generated programs run in a subprocess with a timeout, resource limits and a scrubbed
    environment. That is NOT a security sandbox: only run models and code you trust.
    """
    from opsgraft.config import apply_offline_env

    apply_offline_env()
    level = logging.WARNING - 10 * verbose
    logging.basicConfig(level=max(level, logging.DEBUG), format="%(levelname)s %(name)s: %(message)s")


def main(argv: list[str] | None = None) -> Any:
    """Entry point: OpsgraftError becomes one line on stderr and its exit code."""
    try:
        return cli.main(args=argv, prog_name="opsgraft", standalone_mode=False)
    except OpsgraftError as exc:
        click.echo(f"error: {_one_line(str(exc))}", err=True)
        sys.exit(exc.exit_code)
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        sys.exit(130)
    except click.ClickException as exc:
        click.echo(f"error: {_one_line(exc.format_message())}", err=True)
        sys.exit(exc.exit_code)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        click.echo("interrupted", err=True)
        sys.exit(130)


def _one_line(text: str) -> str:
    return " ".join(text.split()) or "failed"


if __name__ == "__main__":
    main()
