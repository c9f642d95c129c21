"""shapes-segmenter-keras: the Keras twin of the tiny U-Net, trained on shapes-segmentation, through TFLite.

Trained once per module with the model's defaults (10 epochs on the 840 training images of the default
1200: about a minute). Measured (seed 0): test mIoU 0.9899 in Keras, 0.9899 as float32 TFLite, 0.9897 as
full int8 TFLite (float or int8 IO). The bounds below leave room for other CPUs' arithmetic.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("tensorflow", reason="the compile side needs edgeai-tflite[compile]")
pytest.importorskip("edgeai_datasets", reason="edgeai-datasets provides shapes-segmentation")

pytestmark = pytest.mark.slow

#: test mIoU the trained U-Net must reach (all background: about 0.23; measured 0.9899)
MIOU_BOUND = 0.85
#: largest |mIoU(int8 TFLite) - mIoU(float32 TFLite)| (measured 2e-4)
INT8_DELTA = 0.02
POSTPROCESS = {"kind": "segmentation", "output": 0, "layout": "NHWC"}
FAST = {"warmup": 2, "min_count": 5, "min_duration_s": 0.0}


@pytest.fixture(scope="module")
def session(
    tmp_path_factory: pytest.TempPathFactory,
    first_party_host: Callable[..., Any],
    component_builder: Callable[..., Any],
) -> dict[str, Any]:
    host = first_party_host("tflite", "datasets")
    make = component_builder(host, tmp_path_factory.mktemp("segmenter"))
    data = make("dataset", "shapes-segmentation", layout="NHWC")
    data.prepare()
    return {"host": host, "make": make, "data": data}


@pytest.fixture(scope="module")
def segmenter(session: dict[str, Any]) -> Any:
    return session["make"]("model", "shapes-segmenter-keras").prepare(session["data"])


def test_trained_segmenter(segmenter: Any) -> None:
    meta = segmenter.metadata
    assert segmenter.format == "keras" and segmenter.path.name == "model.keras"
    assert meta["test_miou"] >= MIOU_BOUND
    assert meta["test_accuracy"] >= 0.95 and meta["accuracy_kind"] == "pixel accuracy"
    assert meta["architecture"] == "shapes-segmenter" and meta["epochs"] == 10
    assert meta["params"] == {"channels": 3, "image_size": 64, "classes": 4, "width": 1.0}
    assert meta["parameter_count"] == 77_788  # 77,324 trainable, as edgeai-torch's shapes-segmenter
    assert meta["task"] == "segmentation" and meta["postprocess"] == POSTPROCESS
    assert [(t.name, t.shape, t.layout) for t in segmenter.io.inputs] == [
        ("input", (None, 64, 64, 3), "NHWC")
    ]
    assert [(t.name, t.shape) for t in segmenter.io.outputs] == [("logits", (None, 64, 64, 4))]


def test_checkpoint_declares_its_postprocess(segmenter: Any, session: dict[str, Any]) -> None:
    loaded = session["make"]("model", "shapes-segmenter-keras", checkpoint=str(segmenter.path)).prepare(None)
    assert loaded.metadata["postprocess"] == POSTPROCESS and loaded.metadata["task"] == "segmentation"
    assert loaded.metadata["test_miou"] == segmenter.metadata["test_miou"]


def test_odd_image_size_is_refused(session: dict[str, Any]) -> None:
    from edgeai_core.errors import UsageError

    with pytest.raises(UsageError, match=r"model.image_size: .* multiple of 4, got 62"):
        session["make"]("model", "shapes-segmenter-keras", image_size=62, epochs=1).prepare(session["data"])


def _run(session: dict[str, Any], out: Path, config: dict[str, Any], checkpoint: Path) -> dict[str, Any]:
    from edgeai_core.config import parse_config
    from edgeai_core.planner import plan_pipeline
    from edgeai_core.runner import LocalRunner

    config = {
        **config,
        "model": {**config["model"], "checkpoint": str(checkpoint)},
        "benchmark": FAST,
        "resources": {"enabled": False},
    }
    return LocalRunner(plan_pipeline(parse_config(config), session["host"]), out, host=session["host"]).run()


@pytest.fixture(scope="module")
def runs(segmenter: Any, session: dict[str, Any], tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """results.json of the trained U-Net through the demo's variants (float32 TFLite, full int8 TFLite), and
    full int8 with int8 inputs and outputs."""
    pytest.importorskip("edgeai_datasets.vision_metrics", reason="segmentation metrics of edgeai-datasets")
    from edgeai_tflite import plugin

    variants = {v.name: dict(v.config) for v in plugin.edgeai_register_demo_variants()}
    int8 = {"name": "tflite", "mode": "int8", "inference_input_type": "int8", "inference_output_type": "int8"}
    configs = {
        "float": variants["segmenter-tflite"],
        "int8": variants["segmenter-tflite-int8"],
        "int8-io": {**variants["segmenter-tflite-int8"], "steps": [int8]},
    }
    root = tmp_path_factory.mktemp("segmenter-runs")
    return {"root": root, **{k: _run(session, root / k, c, segmenter.path) for k, c in configs.items()}}


def test_tflite_float_and_int8_miou(segmenter: Any, runs: dict[str, Any]) -> None:
    import jsonschema

    from edgeai_core.measurement import load_schema

    validator = jsonschema.Draft202012Validator(load_schema(), format_checker=jsonschema.FormatChecker())
    for doc in (runs["float"], runs["int8"], runs["int8-io"]):
        assert doc["status"] == "complete"
        validator.validate(doc)
        quality = doc["quality"]
        assert quality["task"] == "segmentation" and quality["primary"] == "miou"
        assert quality["postprocess"] == POSTPROCESS and quality["num_images"] == 240
        step = next(s for s in doc["steps"] if s["name"] == "tflite")
        assert step["metadata"]["postprocess"] == POSTPROCESS  # carried by the compiler
    float_miou = runs["float"]["quality"]["miou"]
    assert float_miou >= MIOU_BOUND
    assert float_miou == pytest.approx(segmenter.metadata["test_miou"], abs=1e-3)
    assert abs(runs["int8"]["quality"]["miou"] - float_miou) <= INT8_DELTA
    # int8 outputs: the runtime dequantizes them before the argmax
    assert abs(runs["int8-io"]["quality"]["miou"] - float_miou) <= INT8_DELTA
    step = next(s for s in runs["int8-io"]["steps"] if s["name"] == "tflite")
    assert step["metadata"]["inference_output_type"] == "int8"
    assert step["io"]["outputs"][0]["dtype"] == "int8" and step["io"]["outputs"][0]["scale"] > 0


def test_the_converted_model_as_a_tflite_file(
    runs: dict[str, Any], session: dict[str, Any], tmp_path: Path
) -> None:
    """The float .tflite brought back as a user's own file, its NHWC logits declared: the same mIoU."""
    from edgeai_core.config import parse_config
    from edgeai_core.planner import plan_pipeline
    from edgeai_core.runner import LocalRunner
    from edgeai_core.tasks import PostprocessError

    step = next(s for s in runs["float"]["steps"] if s["name"] == "tflite")
    path = runs["root"] / "float" / step["artifact"]["path"]
    assert path.is_file()
    model = {"name": "tflite-file", "path": str(path), "task": "segmentation", "postprocess": POSTPROCESS}
    config = {
        "dataset": {"name": "shapes-segmentation", "layout": "NHWC"},
        "model": model,
        "runtime": {"name": "tflite", "threads": 1},
        "benchmark": FAST,
        "resources": {"enabled": False},
    }
    host = session["host"]
    doc = LocalRunner(plan_pipeline(parse_config(config), host), tmp_path / "file", host=host).run()
    assert doc["quality"]["miou"] == runs["float"]["quality"]["miou"]
    bad = session["make"]("model", "tflite-file", path=str(path), postprocess={**POSTPROCESS, "output": 3})
    with pytest.raises(PostprocessError) as caught:
        bad.prepare(None)
    assert str(caught.value) == f"{path}: postprocess.output = 3, but the model has 1 output(s): logits"


def test_the_keras_model_as_a_keras_file(segmenter: Any, session: dict[str, Any]) -> None:
    from edgeai_core.tasks import PostprocessError

    loaded = session["make"]("model", "keras-file", path=str(segmenter.path), postprocess=POSTPROCESS)
    artifact = loaded.prepare(None)
    assert artifact.metadata["task"] == "segmentation" and artifact.metadata["postprocess"] == POSTPROCESS
    boxes = {"kind": "boxes", "boxes": 0, "scores": 1, "labels": 2}
    wrong = session["make"](
        "model", "keras-file", path=str(segmenter.path), task="detection", postprocess=boxes
    )
    with pytest.raises(PostprocessError) as caught:
        wrong.prepare(None)
    assert (
        str(caught.value)
        == f"{segmenter.path}: postprocess.scores = 1, but the model has 1 output(s): logits"
    )
