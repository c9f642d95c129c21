"""The commit recorded in provenance is read from the repository's files, as ``git rev-parse HEAD`` gives it."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from edgeai_core.measurement import _git_sha

pytestmark = pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")


def git(cwd: Path, *args: str) -> str:
    env = {
        "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.invalid",
        "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.invalid",
        "GIT_CONFIG_GLOBAL": "/dev/null", "GIT_CONFIG_NOSYSTEM": "1", "PATH": "/usr/bin:/bin",
    }  # fmt: skip
    return subprocess.run(
        ["git", *args], cwd=cwd, env=env, check=True, capture_output=True, text=True
    ).stdout.strip()


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    root.mkdir()
    git(root, "init", "-q", "-b", "main")
    (root / "a.txt").write_text("a\n")
    git(root, "add", "a.txt")
    git(root, "commit", "-q", "-m", "first")
    return root


def test_loose_ref_from_a_subfolder(repo: Path) -> None:
    (repo / "sub" / "deeper").mkdir(parents=True)
    assert _git_sha(repo / "sub" / "deeper") == git(repo, "rev-parse", "HEAD")


def test_packed_ref_and_detached_head(repo: Path) -> None:
    git(repo, "pack-refs", "--all")
    assert not (repo / ".git" / "refs" / "heads" / "main").exists()
    assert _git_sha(repo) == git(repo, "rev-parse", "HEAD")
    (repo / "b.txt").write_text("b\n")
    git(repo, "add", "b.txt")
    git(repo, "commit", "-q", "-m", "second")
    git(repo, "checkout", "-q", "--detach", "HEAD~1")
    assert _git_sha(repo) == git(repo, "rev-parse", "HEAD")


def test_linked_worktree(repo: Path, tmp_path: Path) -> None:
    git(repo, "worktree", "add", "-q", "-b", "other", str(tmp_path / "wt"))
    (tmp_path / "wt" / "c.txt").write_text("c\n")
    git(tmp_path / "wt", "add", "c.txt")
    git(tmp_path / "wt", "commit", "-q", "-m", "on other")
    sha = git(tmp_path / "wt", "rev-parse", "HEAD")
    assert _git_sha(tmp_path / "wt") == sha
    assert sha != git(repo, "rev-parse", "HEAD")


def test_outside_a_repository_and_unborn_branch(tmp_path: Path) -> None:
    assert _git_sha(tmp_path) is None
    fresh = tmp_path / "fresh"
    fresh.mkdir()
    git(fresh, "init", "-q")
    assert _git_sha(fresh) is None
