"""The detector and the segmenter without training: shapes, IO specs, training targets, the quick metrics,
and the multi-output export to ONNX (seeded random weights)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from edgeai_core.api import BoxTargets, Detections
from edgeai_torch.checkpoint import io_spec, save_checkpoint
from edgeai_torch.nets import build
from edgeai_torch.vision import average_precision_50, detector_targets, focal_loss, mean_iou

DETECTOR = {"channels": 3, "image_size": 64, "classes": 3, "width": 1.0}
SEGMENTER = {"channels": 3, "image_size": 64, "classes": 4, "width": 1.0}


def test_detector_outputs_three_maps_on_the_stride_4_grid_with_the_sigmoid_inside() -> None:
    torch.manual_seed(0)
    net = build("shapes-detector", DETECTOR).eval()
    with torch.no_grad():
        heat, size, offset = net(torch.rand(2, 3, 64, 64))
        logits, _, _ = net.raw(torch.rand(2, 3, 64, 64))
    assert (tuple(heat.shape), tuple(size.shape), tuple(offset.shape)) == (
        (2, 3, 16, 16),
        (2, 2, 16, 16),
        (2, 2, 16, 16),
    )
    assert float(heat.min()) >= 0.0 and float(heat.max()) <= 1.0
    assert float(logits.min()) < 0.0  # raw logits start near the prior's bias (-2.19)
    spec = io_spec(DETECTOR, "shapes-detector")
    assert [(o.name, o.shape) for o in spec.outputs] == [
        ("heatmap", (None, 3, 16, 16)),
        ("size", (None, 2, 16, 16)),
        ("offset", (None, 2, 16, 16)),
    ]


def test_segmenter_gives_per_pixel_logits() -> None:
    torch.manual_seed(0)
    net = build("shapes-segmenter", SEGMENTER).eval()
    with torch.no_grad():
        out = net(torch.rand(2, 3, 64, 64))
    assert tuple(out.shape) == (2, 4, 64, 64)
    assert [(o.name, o.shape) for o in io_spec(SEGMENTER, "shapes-segmenter").outputs] == [
        ("logits", (None, 4, 64, 64))
    ]


def test_the_detector_refuses_an_image_size_off_its_stride() -> None:
    from edgeai_core.api import ArtifactError

    with pytest.raises(ArtifactError, match="divisible by 4, got 62"):
        build("shapes-detector", {**DETECTOR, "image_size": 62})


def test_detector_targets_put_a_peak_size_and_offset_at_each_centre_cell() -> None:
    # a 10x20 box centred at (25, 14): cell (6, 3) on the stride-4 grid, offset (0.25, 0.5)
    item = BoxTargets(np.array([[20.0, 4.0, 30.0, 24.0]]), np.array([2]), (64, 64))
    t = detector_targets([item], classes=3, image_size=64, stride=4)
    assert t["heat"].shape == (1, 3, 16, 16)
    assert t["heat"][0, 2, 3, 6] == 1.0 and t["heat"][0, :2].max() == 0.0
    assert np.count_nonzero(t["heat"][0, 2] == 1.0) == 1
    assert 0.0 < t["heat"][0, 2, 3, 7] < 1.0  # the Gaussian around the peak
    assert t["size"][0, :, 3, 6].tolist() == [10.0, 20.0]
    assert t["offset"][0, :, 3, 6].tolist() == [0.25, 0.5]
    assert t["mask"].sum() == 1.0


def test_focal_loss_is_lower_for_the_right_peak() -> None:
    target = torch.zeros(1, 1, 4, 4)
    target[0, 0, 1, 2] = 1.0
    right = torch.full((1, 1, 4, 4), -6.0)
    right[0, 0, 1, 2] = 6.0
    wrong = torch.full((1, 1, 4, 4), -6.0)
    wrong[0, 0, 3, 0] = 6.0
    assert float(focal_loss(right, target)) < 0.01 < float(focal_loss(wrong, target))


def test_quick_ap50_and_miou_on_hand_checkable_cases() -> None:
    truth = [
        BoxTargets(np.array([[0.0, 0.0, 10.0, 10.0], [20.0, 20.0, 30.0, 30.0]]), np.array([0, 0]), (32, 32))
    ]
    # one hit (IoU 0.81) ranked first, then a miss: precision 1 at recall 0.5, so AP = 0.5
    found = [
        Detections(
            np.array([[0.0, 0.0, 9.0, 9.0], [0.0, 20.0, 5.0, 25.0]]), np.array([0.9, 0.8]), np.array([0, 0])
        )
    ]
    assert average_precision_50(found, truth, classes=1) == pytest.approx(0.5)
    predicted = np.array([[[0, 1], [1, 1]]])
    target = np.array([[[0, 1], [0, 255]]])
    # class 0: 1 / 2 pixels; class 1: 1 / 2 (the ignored pixel counts nowhere)
    assert mean_iou(predicted, target, 2) == pytest.approx(0.5)


@pytest.mark.parametrize(
    ("architecture", "params"), [("shapes-detector", DETECTOR), ("shapes-segmenter", SEGMENTER)]
)
def test_torch_to_onnx_exports_every_output_and_verifies_them(
    architecture: str, params: dict[str, Any], tmp_path: Path, make: Callable[..., Any]
) -> None:
    pytest.importorskip("onnx")
    pytest.importorskip("onnxruntime")
    from edgeai_core.artifacts import Artifact

    torch.manual_seed(0)
    path = tmp_path / "ckpt" / "model.pt"
    save_checkpoint(path, architecture, params, build(architecture, params))
    postprocess = {"kind": "segmentation", "output": 0}
    source = Artifact(
        path,
        "torch",
        io_spec(params, architecture),
        producer=f"model:{architecture}",
        metadata={"postprocess": postprocess},
    ).save()
    onnx_artifact = make("converter", "torch-to-onnx").convert(source)
    names = [o.name for o in io_spec(params, architecture).outputs]
    assert [o.name for o in onnx_artifact.io.outputs] == names
    assert all(o.shape[0] is None for o in onnx_artifact.io.outputs)  # a dynamic batch on every output
    assert onnx_artifact.metadata["verified"] is True
    assert onnx_artifact.metadata["postprocess"] == postprocess  # carried from the model's artifact
    import onnx

    graph = onnx.load(str(onnx_artifact.path)).graph
    assert [o.name for o in graph.output] == names


@pytest.mark.parametrize("step", ["torch-prune", "torch-qat"])
def test_fine_tuning_steps_refuse_a_detection_dataset(
    step: str, tmp_path: Path, make: Callable[..., Any], needs_datasets: None
) -> None:
    from edgeai_core.api import UsageError
    from edgeai_core.artifacts import Artifact

    path = tmp_path / "ckpt" / "model.pt"
    save_checkpoint(path, "shapes-detector", DETECTOR, build("shapes-detector", DETECTOR))
    source = Artifact(
        path, "torch", io_spec(DETECTOR, "shapes-detector"), producer="model:shapes-detector"
    ).save()
    shapes = make("dataset", "shapes", samples=12)
    shapes.prepare()
    with pytest.raises(UsageError) as caught:
        make("compiler", step).compile(source, shapes)
    assert str(caught.value) == (
        f"compiler {step} fine-tunes classifiers (cross-entropy on class labels); dataset shapes is a detection "
        "dataset: use onnx-quantize for a detector or segmenter"
    )
