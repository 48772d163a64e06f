import pytest

from opsgraft.retrieval.search import module_depth, name_words, query_words, title_overlap


def test_query_words_drop_stopwords_and_stem():
    assert query_words("load an existing study from storage") == {"load", "study", "storag"}
    assert query_words("commit staged changes") == {"commit", "stag", "chang"}
    # Inflections of one word meet: "files" and "file", "staged" and "stage".
    assert query_words("stage files") == query_words("staged file") == {"stag", "fil"}
    # Long queries (code, doc text) get no heading bonus.
    assert query_words(" ".join(["word"] * 13)) == set()


def test_only_the_documented_name_counts():
    assert name_words("optuna > optuna.load_study") == {"load", "study"}
    assert name_words("optuna.storages > class optuna.storages.JournalStorage > "
                      "optuna.storages.JournalStorage.get_study_id_from_name") == {"get", "study", "id", "from", "nam"}
    assert name_words("dvc push") == {"dvc", "push"}
    assert name_words("git > class git.IndexFile") == name_words("git > git.index_files") == {"index", "fil"}
    # API abbreviations are spelled out the way a query says them.
    assert name_words("git > class git.Repo > git.Repo.init") == query_words("initialize") == {"initializ"}
    assert name_words("dvc > dvc.repo.Repo") == {"repository"}


def test_module_depth_counts_submodules_below_the_component():
    assert module_depth("nncf.quantize") == 0
    assert module_depth("mlflow.sklearn.log_model") == 1
    assert module_depth("mlflow.MlflowClient.log_metric") == 0
    assert module_depth("nncf.quantization.algorithms.algorithm.Algorithm.apply") == 3
    assert module_depth("torch.nn.utils.prune.l1_unstructured", "torch.nn.utils.prune") == 0
    assert module_depth("") == 0


def test_title_overlap_needs_half_the_words():
    words = query_words("load an existing study from storage")
    assert title_overlap(words, "optuna > optuna.load_study") == 2 / 3
    assert title_overlap(words, "x > optuna.storages.JournalStorage.get_study_id_from_name") == 0.0
    assert title_overlap(query_words("push to remote"), "dvc push") == 0.5


# As embedded (heading + text), every filler is nearer to "load an existing study" than load_study
# (MiniLM cosine 0.36-0.48 vs 0.34), but none names loading in its heading.
_FILLERS = ["directions", "user attributes", "trials", "complete trials", "first trial", "last trial",
            "best trial", "trial count", "sampler", "random sampler", "creation date"]
OPTUNA_DOCS = {
    "optuna.load_study": "Get a handle on a stored run of optimization by its name and the database URL.",
    **{f"optuna.study.Study.{a.replace(' ', '_')}": f"Return the {a} of an existing study." for a in _FILLERS},
}


def test_search_adds_and_boosts_chunks_whose_heading_names_the_query(tmp_path) -> None:
    from opsgraft.curation.embed import get_embedder
    from opsgraft.curation.store import Stores
    from opsgraft.retrieval.search import RERANK_POOL, searcher

    from .conftest import doc_chunks

    emb = get_embedder("local")
    Stores(tmp_path).write("optuna", "4.0.0", doc_chunks(OPTUNA_DOCS, "optuna", "4.0.0"), emb, {})
    s = searcher("optuna", tmp_path)
    query = "load an existing study"
    # Vector search alone does not even put optuna.load_study into the rerank pool ...
    near = s.collection.query(query_embeddings=[emb.embed([query])[0]], n_results=RERANK_POOL, include=["metadatas"])
    assert "optuna.load_study" not in [m["title"] for m in near["metadatas"][0]]
    # ... the hybrid search finds it through its heading and ranks it first.
    top = s.search(query, top_k=1)
    assert [d.title for d in top] == ["optuna > optuna.load_study"]


def test_a_section_comes_back_once_by_its_best_chunk(tmp_path) -> None:
    from opsgraft.curation.chunker import chunk_id
    from opsgraft.curation.embed import get_embedder
    from opsgraft.curation.store import Stores
    from opsgraft.retrieval.search import searcher
    from opsgraft.types import Chunk

    # mlflow.start_run's long docstring is three chunks under one heading.
    parts = {
        ("mlflow", "mlflow.start_run"): ["Start a new MLflow run, setting it as the active run.",
                                          "run_name: name of the new MLflow run, used when a run is started.",
                                          "nested: start the run nested inside the active run."],
        ("mlflow", "mlflow.log_param"): ["Log a parameter (e.g. a hyperparameter) under the current run."],
        ("mlflow", "mlflow.set_tag"): ["Set a tag under the current run."],
    }
    chunks = [Chunk(id=chunk_id(path, text), text=text, url=f"pkgdoc://mlflow@3/x.html#{path[-1]}", title=path[-1],
                    component="mlflow", version="3", heading_path=path)
              for path, texts in parts.items() for text in texts]
    emb = get_embedder("local")
    Stores(tmp_path).write("mlflow", "3", chunks, emb, {})
    s = searcher("mlflow", tmp_path)
    query = "start a new run"
    # By chunk, the top 3 would be start_run three times ...
    near = s.collection.query(query_embeddings=[emb.embed([query])[0]], n_results=3, include=["metadatas"])
    assert {m["heading_path"] for m in near["metadatas"][0]} == {"mlflow > mlflow.start_run"}
    # ... by section, start_run comes once, by its best chunk, and the other two sections follow.
    top = s.search(query, top_k=3)
    assert [d.title for d in top][0] == "mlflow > mlflow.start_run"
    assert len({d.title for d in top}) == 3
    assert top[0].chunk_id == near["ids"][0][0]


def test_internals_pay_for_each_submodule_beyond_the_first(tmp_path, monkeypatch) -> None:
    import opsgraft.retrieval.search as search
    from opsgraft.curation.embed import get_embedder
    from opsgraft.curation.store import Stores

    from .conftest import doc_chunks

    text = "Applies post-training quantization to the model with a calibration dataset."
    internal = "nncf.quantization.algorithms.accuracy_control.algorithm.Restorer.apply"  # 4 submodules
    docs = {internal: text, "nncf.quantize": text, "nncf.torch.quantize": text}
    Stores(tmp_path).write("nncf", "3", doc_chunks(docs, "nncf", "3"), get_embedder("local"), {})
    s = search.searcher("nncf", tmp_path)

    def scores() -> dict[str, float]:
        return {d.title.split(" > ")[-1]: d.score for d in s.search("calibrate and quantize", top_k=3)}

    weight, ranked = search.DEPTH_WEIGHT, scores()
    monkeypatch.setattr(search, "DEPTH_WEIGHT", 0.0)
    flat = scores()
    assert flat[internal] - ranked[internal] == pytest.approx(3 * weight)
    assert flat["nncf.quantize"] == ranked["nncf.quantize"]
    assert flat["nncf.torch.quantize"] == ranked["nncf.torch.quantize"]  # one submodule is free


def test_queries_merged_by_section(tmp_path) -> None:
    from opsgraft.curation.chunker import chunk_id
    from opsgraft.curation.embed import get_embedder
    from opsgraft.curation.store import Stores
    from opsgraft.retrieval import retrievers
    from opsgraft.types import Chunk

    # Two chunks of one section, each the best hit of one of two queries.
    parts = {("dvc", "dvc.repo.Repo.push"): ["Upload tracked data to remote storage.",
                                             "jobs: number of parallel upload jobs to use."],
             ("dvc", "dvc.repo.Repo.gc"): ["Garbage-collect unused cache objects."]}
    chunks = [Chunk(id=chunk_id(path, text), text=text, url="pkgdoc://dvc@3/x.html", title=path[-1],
                    component="dvc", version="3", heading_path=path)
              for path, texts in parts.items() for text in texts]
    Stores(tmp_path).write("dvc", "3", chunks, get_embedder("local"), {})
    strategy = retrievers.get("target-search")(stores_dir=tmp_path)
    per_query = [strategy.search("dvc", [q], 1, "docs-target")[0].chunk_id
                 for q in ("upload data to remote storage", "parallel upload jobs")]
    assert len(set(per_query)) == 2  # each query finds its own chunk of Repo.push ...
    merged = strategy.search("dvc", ["upload data to remote storage", "parallel upload jobs"], 2, "docs-target")
    assert [d.title.split(" > ")[-1] for d in merged] == ["dvc.repo.Repo.push", "dvc.repo.Repo.gc"]  # ... once
