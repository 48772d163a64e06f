"""pass@k against hand-computed values and the exact binomial formula; report aggregates."""

from __future__ import annotations

import math

import pytest

from opsgraft.errors import ConfigError
from opsgraft.evaluation.passk import check_ks, parse_ks, pass_at_k, summarize
from opsgraft.types import ExecutionResult, SampleResult, Task


@pytest.mark.parametrize(
    ("n", "c", "k", "expected"),
    [
        (5, 0, 1, 0.0),  # nothing passes
        (5, 5, 1, 1.0),
        (5, 1, 1, 0.2),  # pass@1 is c/n
        (10, 3, 1, 0.3),
        (5, 2, 3, 0.9),  # 1 - C(3,3)/C(5,3) = 1 - 1/10
        (10, 3, 2, 1 - 21 / 45),  # 1 - C(7,2)/C(10,2)
        (4, 1, 4, 1.0),  # n = k: any pass makes it certain
        (4, 0, 4, 0.0),  # n = k, c = 0
        (3, 0, 3, 0.0),
        (6, 4, 3, 1.0),  # n - c < k
    ],
)
def test_pass_at_k_hand_computed(n: int, c: int, k: int, expected: float) -> None:
    assert pass_at_k(n, c, k) == pytest.approx(expected, abs=1e-12)


def test_pass_at_k_matches_exact_binomials_on_a_grid() -> None:
    for n in range(1, 16):
        for c in range(n + 1):
            for k in range(1, n + 1):
                exact = 1 - math.comb(n - c, k) / math.comb(n, k)
                assert pass_at_k(n, c, k) == pytest.approx(exact, abs=1e-12), (n, c, k)


def test_pass_at_k_is_stable_for_large_n() -> None:
    value = pass_at_k(2000, 7, 100)
    exact = 1 - math.comb(1993, 100) / math.comb(2000, 100)
    assert value == pytest.approx(exact, rel=1e-9)


@pytest.mark.parametrize(("n", "c", "k"), [(3, 0, 4), (1, 1, 2), (5, 6, 1), (5, -1, 1), (5, 1, 0)])
def test_pass_at_k_refuses_bad_values(n: int, c: int, k: int) -> None:
    with pytest.raises(ConfigError):
        pass_at_k(n, c, k)


def test_parse_ks() -> None:
    assert parse_ks("3,1, 10") == [1, 3, 10]
    assert parse_ks("1") == [1]
    for bad in ("", "a", "0", "1,-2"):
        with pytest.raises(ConfigError):
            parse_ks(bad)


def test_check_ks_names_the_short_task() -> None:
    check_ks({"a": 3, "b": 5}, [1, 3])
    with pytest.raises(ConfigError, match="a has 2"):
        check_ks({"a": 2, "b": 5}, [1, 3])


def _task(task_id: str, functionality: str, component: str, framework: str) -> Task:
    return Task(task_id, "inline", functionality, component, framework, "x", "train.py", ("train.py",), "c")


def _result(task_id: str, index: int, status: str) -> SampleResult:
    return SampleResult(task_id, index, status, ExecutionResult(status, 0, 0.1))  # type: ignore[arg-type]


def test_summarize_per_task_and_groups() -> None:
    tasks = {
        "t1": _task("t1", "tracking", "mlflow", "sklearn"),
        "t2": _task("t2", "tracking", "wandb", "keras"),
        "t3": _task("t3", "hpo", "optuna", "sklearn"),
    }
    results = [
        _result("t1", 0, "passed"), _result("t1", 1, "failed"), _result("t1", 2, "passed"),
        _result("t2", 0, "failed"), _result("t2", 1, "timeout"), _result("t2", 2, "error"),
        _result("t3", 0, "passed"), _result("t3", 1, "passed"), _result("t3", 2, "passed"),
    ]
    report = summarize(results, tasks, [1, 3])
    assert report["n_tasks"] == 3 and report["n_samples"] == 9
    assert report["by_task"]["t1"]["c"] == 2
    assert report["by_task"]["t1"]["pass@1"] == pytest.approx(2 / 3)
    assert report["by_task"]["t1"]["pass@3"] == 1.0
    assert report["by_task"]["t2"]["pass@3"] == 0.0
    assert report["by_functionality"]["tracking"]["pass@1"] == pytest.approx((2 / 3 + 0) / 2)
    assert report["by_functionality"]["hpo"]["pass@1"] == 1.0
    assert report["by_framework"]["sklearn"]["n_tasks"] == 2
    assert report["by_framework"]["sklearn"]["pass@1"] == pytest.approx((2 / 3 + 1) / 2)
    assert report["by_component"]["wandb"]["pass@1"] == 0.0
    assert report["overall"]["pass@1"] == pytest.approx((2 / 3 + 0 + 1) / 3)
    assert report["statuses"] == {"passed": 5, "failed": 2, "timeout": 1, "error": 1}
    with pytest.raises(ConfigError):
        summarize(results, tasks, [4])
