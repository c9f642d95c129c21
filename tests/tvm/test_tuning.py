"""MetaSchedule tuning with a reusable database.

The only real tuning in the suite is 4 trials on a one-operator graph (about 15 s on two cores, mostly starting
the measuring worker and importing XGBoost): enough to prove that records are written, reused without tuning
again, and applied with ``tuning_trials = 0``. Tuning the CNN takes minutes; bench/tvm_overhead.py does that.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from edgeai_core.errors import ParameterError


@pytest.mark.slow
def test_tune_then_reuse_the_database(build: Any, tiny: Any, tmp_path: Path, run_tvm: Any):
    pytest.importorskip("xgboost", reason="tuning needs edgeai-tvm[tune] (xgboost-cpu)")
    artifact = tiny.artifact(tmp_path / "tiny.onnx", batch=4)
    database = tmp_path / "tuning"
    options = {"num-cores": 1}
    x = np.random.default_rng(2).standard_normal((4, 16)).astype(np.float32)

    first = build(
        "compiler", "tvm", batch=4, tuning_trials=4, tuning_dir=str(database), target_options=options
    )
    tuned = first.compile(artifact, None)
    report = tuned.metadata["tuning"]
    assert report["tasks"] == 1 and report["tasks_tuned"] == 1 and report["tasks_from_database"] == 0
    assert 1 <= report["trials_measured"] <= 4 and report["records_added"] == report["trials_measured"]
    assert report["tasks_untuned"] == 0 and report["database"] == str(database)
    assert tuned.metadata["target"]["num-cores"] == 1
    np.testing.assert_allclose(run_tvm(tuned, x), tiny.reference(x), rtol=1e-5, atol=1e-5)
    records = (database / "database_tuning_record.json").read_bytes()
    assert not list(database.glob(".candidates-*")), "candidate builds are cleaned up"

    # the same operator again: found in the database, nothing measured, nothing written
    again = build(
        "compiler", "tvm", batch=4, tuning_trials=4, tuning_dir=str(database), target_options=options
    )
    reused = again.compile(artifact, None).metadata["tuning"]
    assert reused["tasks_from_database"] == 1 and reused["tasks_tuned"] == 0
    assert reused["trials_measured"] == 0 and reused["records_added"] == 0
    assert (database / "database_tuning_record.json").read_bytes() == records

    # tuning_trials = 0 applies the database without tuning (a fresh work folder, the same schedules)
    applied = build("compiler", "tvm", batch=4, tuning_dir=str(database)).compile(artifact, None)
    assert applied.metadata["tuning"]["tasks_from_database"] == 1
    np.testing.assert_allclose(run_tvm(applied, x), tiny.reference(x), rtol=1e-5, atol=1e-5)


def test_tuning_dir_without_database_is_refused(build: Any, tiny: Any, tmp_path: Path):
    artifact = tiny.artifact(tmp_path / "tiny.onnx", batch=1)
    with pytest.raises(ParameterError) as caught:
        build("compiler", "tvm", tuning_dir=str(tmp_path / "nothing")).compile(artifact, None)
    assert caught.value.field == "tvm.tuning_dir" and "holds no MetaSchedule database" in str(caught.value)


def test_tuning_needs_a_static_batch(build: Any, tiny: Any, tmp_path: Path):
    artifact = tiny.artifact(tmp_path / "tiny.onnx")
    with pytest.raises(ParameterError) as caught:
        build("compiler", "tvm", batch="dynamic", tuning_trials=8).compile(artifact, None)
    assert caught.value.field == "tvm.tuning_trials" and "static batch" in str(caught.value)


def test_missing_tasks_counts_failed_records_as_missing() -> None:
    from edgeai_tvm.tuning import missing_tasks

    class Task:
        def __init__(self, name: str) -> None:
            self.task_name, self.dispatched = name, [name]

    class Database:
        workloads = ("good", "failed")
        working = ("good",)

        def has_workload(self, mod: str) -> bool:
            return mod in self.workloads

        def query_tuning_record(self, mod: str, target: Any, name: str) -> object | None:
            return object() if mod in self.working else None

    tasks = [Task("good"), Task("failed"), Task("new")]
    assert [t.task_name for t in missing_tasks(tasks, Database(), None)] == ["failed", "new"]


def test_tuning_without_xgboost_names_the_extra(
    build: Any, tiny: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    import importlib.util

    from edgeai_core.errors import MissingDependencyError

    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *args: None if name == "xgboost" else real(name, *args)
    )
    artifact = tiny.artifact(tmp_path / "tiny.onnx", batch=1)
    with pytest.raises(MissingDependencyError, match=r"needs 'xgboost'.*pip install edgeai-tvm\[tune\]"):
        build("compiler", "tvm", tuning_trials=8).compile(artifact, None)
