import json

from opsgraft.types import (
    Candidate,
    ExecutionResult,
    Generation,
    SampleResult,
    Task,
    Usage,
    Verdict,
    from_dict,
    to_dict,
)


def test_sample_result_round_trips_through_json():
    result = SampleResult(
        task_id="t", sample_index=2, status="failed",
        execution=ExecutionResult(status="failed", returncode=1, wall_s=1.5, stderr_tail="boom",
                                  outside_writes=("~/x",)),
        verdict=Verdict(passed=False, checker="mlflow-tracking", reasons=("no run",), evidence={"runs": 0}),
    )
    again = from_dict(SampleResult, json.loads(json.dumps(to_dict(result))))
    assert again == result
    assert isinstance(again.execution.outside_writes, tuple)


def test_generation_and_candidate_round_trip():
    gen = Generation(text="x", index=1, usage=Usage(10, 5), wall_s=0.5)
    assert from_dict(Generation, to_dict(gen)) == gen
    cand = Candidate("t", 0, {"train.py": "print(1)\n"}, "train.py")
    assert from_dict(Candidate, to_dict(cand)) == cand


def test_task_tuple_fields_and_optional_verdict():
    task = Task(id="a", kind="inline", functionality="tracking", component="mlflow", framework="sklearn",
                instruction="i", entry="train.py", files=("train.py", "data.csv"), checker="c")
    assert from_dict(Task, to_dict(task)).files == ("train.py", "data.csv")
    raw = to_dict(SampleResult("t", 0, "timeout", ExecutionResult("timeout", None, 3.0)))
    assert from_dict(SampleResult, raw).verdict is None
