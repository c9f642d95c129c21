"""Missing or invalid results files stop the report with one line naming the file (and the field)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from click.testing import CliRunner

from edgeai_core.cli import cli
from edgeai_core.errors import UsageError
from edgeai_core.plugins import PluginHost
from edgeai_report import ReportInputError, render_report


def _write(path: Path, doc: Any) -> Path:
    path.write_text(json.dumps(doc), encoding="utf-8")
    return path


def _broken(rt: SimpleNamespace, tmp_path: Path, name: str, change: Any) -> Path:
    doc = rt.load_fixture("blobs-mlp-int8")
    change(doc)
    return _write(tmp_path / f"{name}.json", doc)


CASES = [
    (
        "negative-sample",
        lambda d: d["latency"]["samples_ns"].__setitem__(3, -5),
        "latency.samples_ns[3]: must be >= 0",
    ),
    (
        "string-sample",
        lambda d: d["latency"]["samples_ns"].__setitem__(7, "12"),
        "latency.samples_ns[7]: must be an integer",
    ),
    ("bad-status", lambda d: d.__setitem__("status", "done"), "status"),
    ("no-quality", lambda d: d.pop("quality"), "quality"),
    ("bad-accuracy", lambda d: d["quality"].__setitem__("accuracy", 1.5), "quality.accuracy"),
    ("ragged-matrix", lambda d: d["quality"]["confusion_matrix"][1].pop(), "quality.confusion_matrix"),
    (
        "bad-size",
        lambda d: d["steps"][1]["artifact"].__setitem__("size_bytes", -1),
        "steps[1].artifact.size_bytes",
    ),
    (
        "newer-schema",
        lambda d: d.__setitem__("schema_version", "2.0"),
        "schema_version: 2.0 is not supported",
    ),
]


@pytest.mark.parametrize("name, change, field", CASES, ids=[c[0] for c in CASES])
def test_invalid_documents_name_the_file_and_field(
    name: str, change: Any, field: str, tmp_path: Path, rt: SimpleNamespace
) -> None:
    bad = _broken(rt, tmp_path, name, change)
    good = rt.fixture_path("torch-eager")
    with pytest.raises(ReportInputError) as caught:
        render_report([good, bad], tmp_path / "out", jobs=1)
    message = str(caught.value)
    assert message.startswith(f"{bad}: "), message
    assert field in message, message
    assert caught.value.path == bad and caught.value.exit_code == 2
    assert not (tmp_path / "out").exists(), "nothing is written when an input is bad"


def test_missing_and_unreadable_files(tmp_path: Path, rt: SimpleNamespace) -> None:
    missing = tmp_path / "nope" / "results.json"
    with pytest.raises(ReportInputError, match=r"nope/results.json: no such file"):
        render_report([rt.fixture_path("torch-eager"), missing], tmp_path / "out")
    truncated = tmp_path / "truncated.json"
    truncated.write_text(rt.fixture_path("torch-eager").read_text()[:5000], encoding="utf-8")
    with pytest.raises(ReportInputError, match=r"truncated.json: not valid JSON \(line 1, column"):
        render_report([truncated], tmp_path / "out")
    listing = _write(tmp_path / "list.json", [1, 2])
    with pytest.raises(ReportInputError, match=r"list.json: not an edgeai results document \(a JSON list"):
        render_report([listing], tmp_path / "out")
    empty_dir = tmp_path / "run"
    empty_dir.mkdir()
    with pytest.raises(ReportInputError, match=r"run: folder holds no results.json"):
        render_report([empty_dir], tmp_path / "out")


def test_a_run_folder_is_accepted(tmp_path: Path, rt: SimpleNamespace) -> None:
    folder = tmp_path / "run"
    folder.mkdir()
    (folder / "results.json").write_bytes(rt.fixture_path("blobs-mlp-int8").read_bytes())
    result = render_report([folder], tmp_path / "out", formats="md", jobs=1)
    assert result.runs == ["blobs-mlp-int8"]


def test_option_errors(tmp_path: Path, rt: SimpleNamespace) -> None:
    paths = [rt.fixture_path("torch-eager"), rt.fixture_path("torch-traced")]
    with pytest.raises(UsageError, match="--names: got 1 names for 2 results files"):
        render_report(paths, tmp_path, names=["a"])
    with pytest.raises(UsageError, match="--format: unknown format 'pdf'"):
        render_report(paths, tmp_path, formats="html,pdf")
    with pytest.raises(UsageError, match="--baseline: no run is named 'float'"):
        render_report(paths, tmp_path, baseline="float")
    with pytest.raises(UsageError, match=r"--img-dir: .* must lie inside --root-dir"):
        render_report(paths, tmp_path / "out", img_dir=tmp_path / "img", root_dir=tmp_path / "docs")


def test_cli_errors_exit_2_and_name_the_file(host: PluginHost, tmp_path: Path, rt: SimpleNamespace) -> None:
    runner = CliRunner()
    missing = tmp_path / "missing.json"
    result = runner.invoke(cli, ["report", str(missing), "-o", str(tmp_path / "out")], obj={"host": host})
    assert result.exit_code == 2
    assert result.stderr.strip().splitlines() == [
        f"error: {missing}: no such file; pass results.json files written by `edgeai run` or `edgeai demo`"
    ]
    bad = _broken(rt, tmp_path, "bad", lambda d: d["latency"]["samples_ns"].__setitem__(0, -1))
    result = runner.invoke(cli, ["report", str(bad), "-o", str(tmp_path / "out")], obj={"host": host})
    assert result.exit_code == 2 and f"error: {bad}: latency.samples_ns[0]: must be >= 0" in result.stderr
    result = runner.invoke(
        cli,
        ["report", str(rt.fixture_path("torch-eager")), "-o", str(tmp_path), "--names", "a,,b"],
        obj={"host": host},
    )
    assert result.exit_code == 2 and "--names: empty name" in result.stderr


@pytest.mark.subprocess
def test_installed_command_exits_2_naming_the_file(tmp_path: Path) -> None:
    import shutil
    import subprocess

    edgeai = Path(sys.executable).parent / "edgeai"
    command = str(edgeai) if edgeai.exists() else shutil.which("edgeai")
    if command is None:
        pytest.skip("the edgeai console script is not installed")
    missing = tmp_path / "gone.json"
    proc = subprocess.run(
        [command, "report", str(missing), "-o", str(tmp_path / "out")],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 2, proc.stderr
    assert (
        proc.stderr.strip()
        == f"error: {missing}: no such file; pass results.json files written by `edgeai run` or `edgeai demo`"
    )
