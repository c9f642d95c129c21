"""`edgeai train digits-cnn digits -o X 2>log`: the log shows every epoch (the issue's "silent for 48 s")."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

pytest.importorskip("edgeai_datasets")


@pytest.mark.subprocess
def test_training_to_a_log_writes_a_line_per_epoch(
    tmp_path: Path, edgeai_console: Callable[..., subprocess.CompletedProcess[str]]
) -> None:
    run = edgeai_console(
        "train", "digits-cnn", "digits", "-o", str(tmp_path / "cnn"), "--epochs", "3", cwd=tmp_path
    )
    assert run.returncode == 0, run.stderr
    lines = run.stderr.splitlines()
    assert lines[:2] == ["- preparing dataset digits", "- training digits-cnn on digits"]
    epochs = [line for line in lines if "  epoch " in line]
    assert [line.split()[1] for line in epochs] == ["1/3", "2/3", "3/3"]
    assert all(" val_acc " in line for line in epochs) and "\r" not in run.stderr
    assert lines[-1].startswith("  model.pt, ") and lines[-1].endswith(" s)")
