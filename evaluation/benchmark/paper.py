"""The paper's published Pass@3 figures, shown beside our rows as a reference (never mixed into our numbers).

Source: Harsh Patel, Buvaneswari A. Ramanan, Manzoor A. Khan, Thomas Williams, Brian Friedman and
Lawrence Drabeck, "Automating Code Adaptation for MLOps - A Benchmarking Study on LLMs",
arXiv:2405.06835 (2024), abstract. The abstract gives, per MLOps functionality, the Pass@3 of each
model "on average, in their best possible settings" (best temperature among 0, 0.2 and 1, and best
of zero-shot / DocPrompting). The per-component, per-framework and per-temperature cells of the
paper's Tables I-IV are not reproduced here: we could not find a source for them that we can cite
from this machine, so only these eight figures ship.
"""

from __future__ import annotations

from dataclasses import dataclass

CITATION = (
    "Patel, Ramanan, Khan, Williams, Friedman, Drabeck: \"Automating Code Adaptation for MLOps - "
    "A Benchmarking Study on LLMs\", arXiv:2405.06835 (2024), abstract"
)
URL = "https://arxiv.org/abs/2405.06835"
WHAT = "per-functionality best Pass@3 (best temperature and prompting setting), inline adaptation"
MODELS = ("GPT-3.5-turbo", "WizardCoder-15B")


@dataclass(frozen=True)
class PaperFigure:
    """One published number: a model's best Pass@3 (percent) on one functionality."""

    model: str
    paper_functionality: str
    functionality: str  # opsgraft's name for the same functionality
    component: str | None  # None: any component of that functionality
    pass_at_3: float


FIGURES: tuple[PaperFigure, ...] = (
    PaperFigure("GPT-3.5-turbo", "experiment tracking", "tracking", None, 100.0),
    PaperFigure("WizardCoder-15B", "experiment tracking", "tracking", None, 62.5),
    PaperFigure("GPT-3.5-turbo", "model registration", "registration", None, 92.0),
    PaperFigure("WizardCoder-15B", "model registration", "registration", None, 42.0),
    PaperFigure("GPT-3.5-turbo", "hyperparameter optimization", "hpo", None, 83.0),
    PaperFigure("WizardCoder-15B", "hyperparameter optimization", "hpo", None, 58.0),
    # The paper's "model optimization" used NNCF; our torch.nn.utils.prune tasks have no counterpart.
    PaperFigure("GPT-3.5-turbo", "model optimization (NNCF)", "pruning", "nncf", 55.0),
    PaperFigure("WizardCoder-15B", "model optimization (NNCF)", "pruning", "nncf", 0.0),
)


def figures_for(functionality: str, component: str) -> list[PaperFigure]:
    """The published figures that match one of our (functionality, component) rows, in MODELS order."""
    return [f for f in FIGURES
            if f.functionality == functionality and (f.component is None or f.component == component)]


def label(functionality: str, component: str) -> str:
    """A compact cell text, e.g. ``GPT-3.5-turbo 100% · WizardCoder-15B 62.5%``; "" when none match."""
    return " · ".join(f"{f.model} {f.pass_at_3:g}%" for f in figures_for(functionality, component))
