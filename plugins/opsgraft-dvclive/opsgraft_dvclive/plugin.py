"""What this plugin registers with opsgraft (entry point ``dvclive`` in the ``opsgraft`` group)."""

from __future__ import annotations

from pathlib import Path

from opsgraft import plugins

HERE = Path(__file__).parent
NAME = "dvclive"

TRACKING_DVCLIVE = plugins.AdapterSpec(
    key="tracking:dvclive", kind="inline", functionality="tracking", component="dvclive",
    instruction=(
        "Add DVCLive experiment tracking: create a dvclive.Live (`with Live(save_dvc_exp=False) as live:`) "
        "around the training, log the hyperparameters with live.log_params, log the training/validation "
        "metrics of every epoch with live.log_metric(name, value) and call live.next_step() once per epoch."
    ),
    notes="opsgraft_dvclive:notes_dvclive.md", checker="dvclive-tracking",
    checker_args={"min_params": 1, "min_metrics": 1, "min_steps": 2},
    imports=("dvclive",), guide="opsgraft_dvclive:guide_dvclive.md",
    lookups=("dvclive.Live", "dvclive.Live.log_params", "dvclive.Live.log_metric", "dvclive.Live.next_step"),
    environment=(
        "DVCLive writes its files into ./dvclive in the working directory, and there is no git repository: "
        "create Live with save_dvc_exp=False and keep its default dir."
    ),
    run_start="`with Live(save_dvc_exp=False) as live:`",
)


def register() -> None:
    """Called by opsgraft when it loads the ``opsgraft`` entry points."""
    plugins.add_adapter(TRACKING_DVCLIVE)
    plugins.add_checker("dvclive-tracking", "opsgraft_dvclive.checker:check_dvclive")
    plugins.add_hook_dir(NAME, HERE / "hooks")
    plugins.add_task_root(NAME, HERE / "tasks")
    # No browser, no Studio, no telemetry in a sandbox run.
    plugins.add_sandbox_env(NAME, {"DVCLIVE_OPEN": "false", "DVC_STUDIO_OFFLINE": "true"})
    plugins.add_standard_imports(NAME, {"Live": "from dvclive import Live",
                                        "DVCLiveLogger": "from dvclive.lightning import DVCLiveLogger"})
    plugins.add_hint(
        "dvclive-next-step", r"every metric was logged at 1 step",
        "DVCLive keeps every value at the same step until live.next_step() is called: call live.next_step() "
        "once at the end of each epoch, after that epoch's live.log_metric calls.")
    plugins.add_hint(
        "dvclive-no-live", r"no dvclive\.Live was created",
        "Create the logger with `from dvclive import Live` and `with Live(save_dvc_exp=False) as live:` around "
        "the training loop; write nothing into ./dvclive yourself.")
