"""The adapters: what each adds, how its result is judged, and how its presence is recognised."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from opsgraft.registry import adapters


@dataclass(frozen=True)
class AdapterSpec:
    """One inlining (``functionality:component``) or translation (``source->target``) adapter."""

    key: str
    kind: str  # inline | translate
    functionality: str
    component: str
    instruction: str
    notes: str  # template file in adapters/prompts/ with the component-specific rules, or a plugin's "pkg:path"
    checker: str
    checker_args: Mapping[str, Any] = field(default_factory=dict)
    imports: tuple[str, ...] = ()  # top-level modules whose import means "already uses it"
    source_component: str = ""
    source_imports: tuple[str, ...] = ()
    guide: str = ""  # corpus/guides/<guide>.md for docprompt mode, or a plugin's "pkg:path/guide.md"
    present_calls: tuple[str, ...] = ()  # calls that mean the functionality is already there
    present_keywords: tuple[str, ...] = ()  # keyword arguments that mean the same
    # "module:function" called with the source, True when the functionality is there (config:json's contract)
    present_test: str = ""
    # APIs whose docs rag mode looks up by name first; {flavor} is the MLflow flavor of the script's framework.
    lookups: tuple[str, ...] = ()
    store: str = ""  # the docs store rag mode searches, when it is not the component's (a module's own store)
    # Lines the prompt's environment section adds for this adapter (how its tool behaves in the sandbox).
    environment: str = ""
    # What the outline tells a tracking adapter to start around the training ('' = MLflow's run or wandb.init).
    run_start: str = ""

    @property
    def docs_store(self) -> str:
        """The store rag mode and the translation strategies search for the target component."""
        return self.store or self.component

    def lookups_for(self, code: str) -> tuple[str, ...]:
        """:attr:`lookups` for ``code``: ``{flavor}`` names resolved, dropped when no flavor fits."""
        flavor = mlflow_flavor(code)
        return tuple(n.replace("{flavor}", flavor) for n in self.lookups if flavor or "{flavor}" not in n)


def mlflow_flavor(code: str) -> str:
    """The MLflow flavor for the framework ``code`` trains with ('' when none is recognised)."""
    from opsgraft.frameworks import MLFLOW_FLAVORS, training_framework

    return MLFLOW_FLAVORS.get(training_framework(code), "")


def _register(spec: AdapterSpec) -> AdapterSpec:
    adapters.register(spec.key)(spec)
    return spec


TRACKING_MLFLOW = _register(AdapterSpec(
    key="tracking:mlflow", kind="inline", functionality="tracking", component="mlflow",
    instruction=(
        "Add MLflow experiment tracking: wrap training in an MLflow run, log the hyperparameters "
        "with mlflow.log_params and log the training/validation metrics of every epoch or step with "
        "mlflow.log_metric(name, value, step=...)."
    ),
    notes="notes_mlflow.md", checker="mlflow-tracking", checker_args={"min_params": 1, "min_metrics": 1},
    imports=("mlflow",), guide="tracking-mlflow",
    lookups=("mlflow.start_run", "mlflow.log_params", "mlflow.log_metric"),
))
TRACKING_WANDB = _register(AdapterSpec(
    key="tracking:wandb", kind="inline", functionality="tracking", component="wandb",
    instruction=(
        "Add Weights & Biases experiment tracking: call wandb.init with a project name and the "
        "hyperparameters as config, log the metrics of every epoch or step with wandb.log, and call "
        "wandb.finish() at the end."
    ),
    notes="notes_wandb.md", checker="wandb-run", checker_args={"min_config": 1, "min_history": 1},
    imports=("wandb",), guide="tracking-wandb",
    lookups=("wandb.init", "wandb.log", "wandb.finish"),
))
REGISTRATION_MLFLOW = _register(AdapterSpec(
    key="registration:mlflow", kind="inline", functionality="registration", component="mlflow",
    instruction=(
        "Add MLflow model registration: inside an MLflow run, log the hyperparameters and the final "
        "metric, then log the trained model with the matching mlflow flavor's log_model and pass "
        "registered_model_name so that a new model version is registered."
    ),
    notes="notes_mlflow_registry.md", checker="mlflow-registration", checker_args={},
    imports=(), guide="registration-mlflow",
    present_calls=("register_model",), present_keywords=("registered_model_name",),
    lookups=("mlflow.{flavor}.log_model", "mlflow.start_run", "mlflow.register_model"),
))
HPO_OPTUNA = _register(AdapterSpec(
    key="hpo:optuna", kind="inline", functionality="hpo", component="optuna",
    instruction=(
        "Add Optuna hyperparameter optimization: move training into an objective(trial) function "
        "that suggests the hyperparameters with trial.suggest_*, returns the validation metric, "
        "run study.optimize with at least 5 trials, then train the final model again with "
        "study.best_params."
    ),
    notes="notes_optuna.md", checker="optuna-study", checker_args={"min_trials": 5},
    imports=("optuna",), guide="hpo-optuna",
    lookups=("optuna.create_study", "optuna.Study.optimize", "optuna.Trial.suggest_float"),
))
PRUNING_NNCF = _register(AdapterSpec(
    key="pruning:nncf", kind="inline", functionality="pruning", component="nncf",
    instruction=(
        "Add magnitude pruning during training with NNCF 3.x: prune the model's weights with "
        "nncf.prune before or early in training, keep training (fine-tuning) the pruned model for "
        "the remaining epochs, and keep the pruning masks applied until the end."
    ),
    notes="notes_nncf.md", checker="pruning", checker_args={"target_sparsity": 0.3},
    imports=("nncf",), guide="pruning-nncf",
    lookups=("nncf.prune", "nncf.pruning_statistic", "nncf.strip"),
))
PRUNING_TORCH = _register(AdapterSpec(
    key="pruning:torch", kind="inline", functionality="pruning", component="torch-prune",
    instruction=(
        "Add magnitude pruning during training with torch.nn.utils.prune: apply "
        "prune.l1_unstructured (or global_unstructured) to the Linear/Conv weights after the first "
        "epoch, keep training with the masks in place, and make the pruning permanent with "
        "prune.remove only after the last epoch."
    ),
    notes="notes_torch_prune.md", checker="pruning", checker_args={"target_sparsity": 0.3},
    imports=("torch.nn.utils.prune",), guide="pruning-torch",
    store="torch.nn.utils.prune",  # opsgraft curate --package torch.nn.utils.prune
    lookups=("torch.nn.utils.prune.l1_unstructured", "torch.nn.utils.prune.global_unstructured",
             "torch.nn.utils.prune.remove"),
))
CONFIG_JSON = _register(AdapterSpec(
    key="config:json", kind="inline", functionality="config", component="json",
    instruction=(
        "Move the script's hard-coded hyperparameters (learning rate, batch size, epochs, optimizer "
        "name, model sizes, estimator params) into a module-level dict literal DEFAULT_CONFIG with "
        "their original values, add a --config PATH option (argparse) whose JSON object overrides "
        "those defaults (an unknown key is an error; a missing file means the defaults), and make "
        "the training read every value from the merged config."
    ),
    notes="notes_config_json.md", checker="config-json", checker_args={},
    imports=(), guide="config-json",
    present_test="opsgraft.adapters.config_params:has_config",
    lookups=("argparse.ArgumentParser.add_argument", "json.load"),
))
GITPYTHON_DVC = _register(AdapterSpec(
    key="gitpython->dvc", kind="translate", functionality="translation", component="dvc",
    instruction=(
        "Translate the data versioning of this script from GitPython (and git-lfs) to DVC: track the "
        "data file with `dvc add`, commit the .dvc file and .gitignore with git, configure a local DVC "
        "remote and `dvc push` the data. Remove every git-lfs call."
    ),
    notes="notes_dvc.md", checker="dvc-tracked", checker_args={},
    imports=("dvc",), source_component="gitpython", source_imports=("git",), guide="translate-gitpython-dvc",
))
WANDB_MLFLOW = _register(AdapterSpec(
    key="wandb->mlflow", kind="translate", functionality="translation", component="mlflow",
    instruction=(
        "Translate the experiment tracking of this script from Weights & Biases to MLflow: replace "
        "wandb.init/config with an MLflow run and mlflow.log_params, wandb.log with "
        "mlflow.log_metric(s) keeping the step, and remove every use of wandb."
    ),
    notes="notes_mlflow.md", checker="mlflow-tracking",
    checker_args={"min_params": 1, "min_metrics": 1, "forbid_imports": ["wandb"]},
    imports=(), source_component="wandb", source_imports=("wandb",), guide="translate-wandb-mlflow",
))


def get_adapter(key: str) -> AdapterSpec:
    """The adapter registered as ``key`` (UnknownComponentError lists the valid ones)."""
    spec: AdapterSpec = adapters.get(key)
    return spec


def inline_keys() -> list[str]:
    """Keys of the inlining adapters, for --add."""
    return [k for k in adapters.names() if adapters.get(k).kind == "inline"]


def translation_key(source: str, target: str) -> str:
    """``gitpython->dvc`` from its parts."""
    return f"{source}->{target}"


def adapter_for_task(functionality: str, component: str, source_component: str = "") -> AdapterSpec:
    """The adapter that serves a corpus task's functionality and component."""
    if source_component:
        return get_adapter(translation_key(source_component, component))
    short = component.removesuffix("-prune")  # corpus says torch-prune, the adapter pruning:torch
    return get_adapter(f"{functionality}:{short}")
