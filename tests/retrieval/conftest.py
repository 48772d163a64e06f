"""Fixtures: small real GitPython and DVC stores (real embeddings, real Chroma) in a tmp dir."""

from __future__ import annotations

from pathlib import Path

import pytest

from opsgraft.curation.chunker import chunk_id
from opsgraft.curation.embed import get_embedder
from opsgraft.curation.store import Stores
from opsgraft.types import Chunk

GIT_DOCS = {
    "git.Repo.init": "Repo.init(path, mkdir=True) creates a new empty git repository at path and returns a Repo.",
    "git.IndexFile.add": "repo.index.add(items) stages the given files: adds them to the index (staging area) "
                         "so that the next commit records them.",
    "git.IndexFile.commit": "repo.index.commit(message) records the staged changes of the index as a new commit.",
    "git.Repo.create_remote": "repo.create_remote(name, url) adds a remote such as origin pointing at url.",
    "git.Remote.push": "remote.push(refspec=None) uploads local commits and branches to the remote repository.",
    "git.Repo.clone_from": "Repo.clone_from(url, to_path) clones a repository from url into to_path.",
    "git.Repo.blame": "repo.blame(rev, file) tells which commit last changed each line of a file.",
    "git.TagReference": "A tag reference points at a commit; create one with repo.create_tag(name).",
}
DVC_DOCS = {
    "dvc.repo.Repo.add": "Repo.add(targets) starts tracking data files or directories with DVC: it moves them "
                         "to the cache and writes a .dvc file that you commit to git instead of the data.",
    "dvc.repo.Repo.push": "Repo.push(targets=None, remote=None) uploads tracked data from the cache to remote "
                          "storage, like git push for data.",
    "dvc.repo.Repo.pull": "Repo.pull(remote=None) downloads tracked data from remote storage into the workspace.",
    "dvc.repo.Repo.commit": "Repo.commit(target) records changes of tracked data in its .dvc file.",
    "dvc.repo.Repo.init": "Repo.init(root_dir, no_scm=False) initializes a DVC project inside a git repository.",
    "dvc.config.remote": "Configure a default remote: with repo.config.edit() as conf: "
                         "conf['remote']['storage'] = {'url': path}; conf['core']['remote'] = 'storage'.",
    "dvc.repo.Repo.gc": "Repo.gc(workspace=True) garbage-collects unused objects from the cache to free space.",
    "dvc.api.open": "dvc.api.open(path, repo=None, rev=None) opens a tracked file for reading, fetching it "
                    "from remote storage if needed.",
}

GIT_SCRIPT = '''import git

repo = git.Repo.init("data_repo")
with open("data_repo/data.csv", "w") as f:
    f.write("a,b\\n1,2\\n")
repo.index.add(["data.csv"])
repo.index.commit("add data")
origin = repo.create_remote("origin", "../remote.git")
origin.push()
'''


def doc_chunks(docs: dict[str, str], component: str, version: str) -> list[Chunk]:
    out = []
    for name, text in docs.items():
        path = (name.rsplit(".", 1)[0], name)
        out.append(Chunk(id=chunk_id(path, text), text=text, url=f"pkgdoc://{component}@{version}/x.html#{name}",
                         title=name, component=component, version=version, heading_path=path))
    return out


@pytest.fixture(scope="session")
def stores_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A stores dir with gitpython@3.1.0 and dvc@3.0.0 (lazy summaries) built from the docs above."""
    root = tmp_path_factory.mktemp("stores")
    stores = Stores(root)
    emb = get_embedder("local")
    stores.write("gitpython", "3.1.0", doc_chunks(GIT_DOCS, "gitpython", "3.1.0"), emb, {"summarize": "lazy"})
    stores.write("dvc", "3.0.0", doc_chunks(DVC_DOCS, "dvc", "3.0.0"), emb, {"summarize": "lazy"})
    return root
