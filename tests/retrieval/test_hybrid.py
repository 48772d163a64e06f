from opsgraft.retrieval.index import name_words, query_words, title_overlap


def test_query_words_drop_stopwords_and_stem():
    assert query_words("load an existing study from storage") == {"load", "study", "storage"}
    assert query_words("commit staged changes") == {"commit", "stag", "chang"}
    # Long queries (code, doc text) get no heading bonus.
    assert query_words(" ".join(["word"] * 13)) == set()


def test_only_the_documented_name_counts():
    assert name_words("optuna > optuna.load_study") == {"load", "study"}
    assert name_words("optuna.storages > class optuna.storages.JournalStorage > "
                      "optuna.storages.JournalStorage.get_study_id_from_name") == {"get", "study", "id", "from", "name"}
    assert name_words("dvc push") == {"dvc", "push"}
    assert name_words("git > class git.IndexFile") == {"index", "file"}


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
    from opsgraft.retrieval.index import RERANK_POOL, searcher

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
