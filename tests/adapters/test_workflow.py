"""Prompt modes and doc trimming of the workflow (no LLM needed)."""

from opsgraft.adapters.specs import get_adapter
from opsgraft.adapters.workflow import Workflow, corpus_workflow
from opsgraft.llm.scripted import ScriptedBackend
from opsgraft.types import RetrievedDoc


def docs(n, words=200):
    return [RetrievedDoc(text=f"doc{i} " + "word " * words, score=1 - i / 10, source=f"http://x/{i}",
                         component="mlflow", version="3") for i in range(n)]


def test_docs_that_overflow_the_context_are_dropped_lowest_ranked_first(sklearn_script, monkeypatch):
    flow = Workflow(spec=get_adapter("tracking:mlflow"), script=sklearn_script, source=sklearn_script.read_text(),
                    mode="rag")
    monkeypatch.setattr(flow, "retrieve_docs", lambda backend: docs(5))
    backend = ScriptedBackend(["```python\nx = 1\n```"], context_window=1500)
    flow.execute(backend, max_tokens=400, out_dir=sklearn_script.parent / "out")
    kept = [d.text.split()[0] for d in flow.docs]
    assert 0 < len(kept) < 5 and kept == [f"doc{i}" for i in range(len(kept))]
    prompt = backend.calls[0][0][-1].content
    assert backend.count_tokens(backend.calls[0][0]) + 400 <= 1500
    assert "doc0" in prompt and f"doc{len(kept)}" not in prompt
    assert flow.bound == (backend, 400)  # execute() bound its backend, so repairs are fitted to the same window


def test_docprompt_mode_carries_the_guide_and_zero_shot_does_not():
    doc_flow = corpus_workflow("tracking-mlflow-sklearn-diabetes", mode="docprompt")
    zero = corpus_workflow("tracking-mlflow-sklearn-diabetes", mode="zero-shot")
    with_guide = doc_flow.build_prompt(doc_flow.source).messages[-1].content
    without = zero.build_prompt(zero.source).messages[-1].content
    assert "Step-by-step guide:" in with_guide and "Step-by-step guide:" not in without
    assert len(with_guide) > len(without)


def test_translation_prompt_lays_out_docs_x_then_docs_y():
    flow = corpus_workflow("translate-gitpython-dvc-lfs-dataset", strategy="docs-search", mode="docs-search")
    flow.docs = [RetrievedDoc("git add and commit", 0.9, "http://g", "gitpython", step="docs-x"),
                 RetrievedDoc("dvc add tracks data", 0.8, "http://d", "dvc", step="docs-y")]
    text = flow.build_prompt(flow.source).messages[-1].content
    x, y = text.index("Docs-X"), text.index("Docs-Y")
    assert x < text.index("git add and commit") < y < text.index("dvc add tracks data")


def test_repair_and_restart_prompts_keep_the_top_docs_that_fit(sklearn_script):
    """Both carry more than the first prompt, so they may keep fewer docs; never a lower-ranked one over a higher."""
    from opsgraft.adapters.repair_loop import Attempt
    from opsgraft.types import Candidate, Generation

    source = sklearn_script.read_text()
    # Without the outline block or the worked example, which only the first and restart prompts carry:
    # with them the first prompt can outgrow the repair prompt this test wants to be the larger one.
    flow = Workflow(spec=get_adapter("tracking:mlflow"), script=sklearn_script, source=source, mode="rag",
                    outline=False, examples=False)
    task = flow.task
    assert task is not None
    flow.docs = docs(5, words=400)
    first = flow.build_prompt(source)
    # The first prompt fits with all five docs, to the token.
    window = ScriptedBackend([]).count_tokens(first.messages) + 400
    backend = ScriptedBackend([], context_window=window)
    attempt = Attempt(round=0, sample=0, prompt=first, generation=Generation("x"),
                      candidate=Candidate(task.id, 0, {task.entry: source + "\n# failing\n" * 40}, task.entry))
    # Unbound, the repair prompt is fitted to nothing and keeps every doc; bound, it must fit the window.
    assert flow.bound[0] is None
    assert all(f"doc{i} " in flow.build_repair(attempt, []).messages[-1].content for i in range(5))
    flow.bind(backend, 400)
    assert flow.bound == (backend, 400)
    for prompt in (flow.build_repair(attempt, ["round 0: failed: no metric"]),
                   flow.build_restart(attempt, ["round 0: failed: no metric"])):
        text = prompt.messages[-1].content
        kept = [i for i in range(5) if f"doc{i} " in text]
        assert backend.count_tokens(prompt.messages) + 400 <= window
        assert 0 < len(kept) < 5 and kept == list(range(len(kept)))
    assert len(flow.docs) == 5  # the first prompt's docs are left as they were
