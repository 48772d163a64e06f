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
