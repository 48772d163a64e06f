"""The pruning adapters' rules name the installed APIs: every call they show runs against the installed NNCF and torch.

Held-out pruning without the worked example (issue 16, held-r14) invented `nncf.MultiStepMagnitudePruningScheduler`,
`nncf.prune` as a module and `prune_l1_unstructured`: the rules are where the model learns the real names,
so each call in them is executed here, in order, on a small model.
"""

from __future__ import annotations

import os

import pytest

from opsgraft.adapters.prompting import template

NNCF_CALLS = [
    "model = nncf.prune(model, mode=nncf.PruneMode.UNSTRUCTURED_MAGNITUDE_LOCAL, ratio=0.5, examples_inputs=x)",
    "from nncf.torch.function_hook.pruning.magnitude.schedulers import MultiStepMagnitudePruningScheduler",
    "scheduler = MultiStepMagnitudePruningScheduler(model, mode=..., steps={0: 0.1, 2: 0.5})",
    "ExponentialMagnitudePruningScheduler(model, mode=..., initial_ratio=0.1, target_ratio=0.5, target_epoch=3)",
    "scheduler.step()",
    "print(nncf.pruning_statistic(model))",
]
TORCH_CALLS = [
    "import torch.nn.utils.prune as prune",
    "layers = [m for m in model.modules() if isinstance(m, (nn.Linear, nn.Conv2d))]",
    'prune.l1_unstructured(module, name="weight", amount=0.5)',
    'prune.global_unstructured([(m, "weight") for m in layers], pruning_method=prune.L1Unstructured, amount=0.5)',
    'prune.remove(module, "weight")',
]


def _model():  # type: ignore[no-untyped-def]
    import torch
    from torch import nn

    class Net(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.layers = nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 2))

        def forward(self, x):  # type: ignore[no-untyped-def]
            return self.layers(x)

    torch.manual_seed(0)
    return Net(), torch.randn(4, 8)


@pytest.mark.parametrize(("notes", "calls"), [("notes_nncf.md", NNCF_CALLS), ("notes_torch_prune.md", TORCH_CALLS)])
def test_the_rules_show_these_calls(notes: str, calls: list[str]):
    text = template(notes)
    for call in calls:
        assert f"`{call}`" in text, call


def test_the_nncf_calls_run_and_prune(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("NNCF_CI", os.environ.get("NNCF_CI", "1"))
    import nncf
    from nncf.torch.function_hook.pruning.magnitude import schedulers

    model, x = _model()
    ns = {"nncf": nncf, "model": model, "x": x}
    exec(NNCF_CALLS[0], ns)
    exec(NNCF_CALLS[1], ns)
    mode = "nncf.PruneMode.UNSTRUCTURED_MAGNITUDE_LOCAL"
    exec(NNCF_CALLS[2].replace("...", mode), ns)
    for _ in range(3):
        exec(NNCF_CALLS[4], ns)
    assert ns["scheduler"].current_ratio == 0.5
    ns["ExponentialMagnitudePruningScheduler"] = schedulers.ExponentialMagnitudePruningScheduler
    exec("other = " + NNCF_CALLS[3].replace("...", mode), ns)
    stat = nncf.pruning_statistic(ns["model"])
    assert 0.45 <= stat.pruning_ratio <= 0.55
    exec(NNCF_CALLS[5], ns)


def test_nncf_prune_fails_on_a_bare_sequential_as_the_rules_say(monkeypatch: pytest.MonkeyPatch):
    """When an NNCF release prunes a bare nn.Sequential, this fails: drop that line from notes_nncf.md."""
    monkeypatch.setenv("NNCF_CI", os.environ.get("NNCF_CI", "1"))
    import nncf
    import torch
    from torch import nn

    assert "a bare `nn.Sequential` fails" in template("notes_nncf.md")
    with pytest.raises(NotImplementedError):
        nncf.prune(nn.Sequential(nn.Linear(8, 4), nn.ReLU(), nn.Linear(4, 2)),
                   mode=nncf.PruneMode.UNSTRUCTURED_MAGNITUDE_LOCAL, ratio=0.5, examples_inputs=torch.randn(2, 8))


def test_the_torch_calls_run_and_prune():
    from torch import nn

    model, _ = _model()
    ns: dict[str, object] = {"model": model, "nn": nn}
    exec(TORCH_CALLS[0], ns)
    exec(TORCH_CALLS[1], ns)
    layers = ns["layers"]
    assert isinstance(layers, list) and len(layers) == 2
    exec(TORCH_CALLS[3], ns)
    for module in layers:
        exec(TORCH_CALLS[4], {**ns, "module": module})
    zeros = sum(int((m.weight == 0).sum()) for m in layers)
    assert zeros / sum(m.weight.numel() for m in layers) == pytest.approx(0.5, abs=0.01)
    single = nn.Linear(4, 4)
    exec(TORCH_CALLS[2], {**ns, "module": single})
    assert float((single.weight == 0).float().mean()) == pytest.approx(0.5)
