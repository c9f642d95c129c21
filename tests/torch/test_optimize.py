"""torch-prune and torch-qat with real torch: channel surgery on residual and depthwise blocks, unstructured
sparsity targets, pruned checkpoints round-tripping, and QAT's QDQ export running in ONNX Runtime (and TVM)."""

from __future__ import annotations

import copy
import importlib.util
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import pytest

torch = pytest.importorskip("torch")
nn = torch.nn


class ResidualDepthwise(nn.Module):
    """conv-BN-ReLU stem, an inverted residual block (1x1 expand, depthwise 3x3, 1x1 project, skip add),
    a second residual add reusing the stem's channels, global pooling and a linear head."""

    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU())
        self.expand = nn.Sequential(nn.Conv2d(8, 16, 1, bias=False), nn.BatchNorm2d(16), nn.ReLU6())
        self.depthwise = nn.Sequential(
            nn.Conv2d(16, 16, 3, padding=1, groups=16), nn.BatchNorm2d(16), nn.ReLU6()
        )
        self.project = nn.Sequential(nn.Conv2d(16, 8, 1, bias=False), nn.BatchNorm2d(8))
        self.mix = nn.Conv2d(8, 8, 3, padding=1)
        self.head = nn.Sequential(
            nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, 12), nn.ReLU(), nn.Linear(12, 5)
        )

    def forward(self, x: Any) -> Any:
        x = self.stem(x)
        x = x + self.project(self.depthwise(self.expand(x)))
        x = x + self.mix(x)
        return self.head(x)


def _network() -> Any:
    torch.manual_seed(0)
    net = ResidualDepthwise().eval()
    with torch.no_grad():  # BatchNorm statistics that are not the identity
        for module in net.modules():
            if isinstance(module, nn.BatchNorm2d):
                module.running_mean.uniform_(-0.5, 0.5)
                module.running_var.uniform_(0.5, 2.0)
                module.weight.uniform_(0.5, 1.5)
                module.bias.uniform_(-0.2, 0.2)
    return net


def _l1(weight: Any) -> Any:
    return weight.detach().reshape(weight.shape[0], -1).abs().sum(1).double()


def test_structured_pruning_removes_the_lowest_norm_channels_and_matches_the_masked_network():
    from edgeai_torch.surgery import mask_structured, prune_structured

    net = _network()
    x = torch.randn(4, 3, 10, 10, generator=torch.Generator().manual_seed(1))
    original = copy.deepcopy(net)
    groups = prune_structured(net, x, 0.5, "l1")
    by_producers = {tuple(g.producers): g for g in groups if g.producers}

    # the residual group: stem, project and mix write the same 8 channels, ranked by their summed L1 norms
    residual = by_producers[("stem.0", "project.0", "mix")]
    assert sorted(residual.members) == ["project.1", "stem.1"]
    summed = _l1(original.stem[0].weight) + _l1(original.project[0].weight) + _l1(original.mix.weight)
    assert residual.pruned == sorted(torch.argsort(summed)[:4].tolist())
    # the expansion group carries its BatchNorm and the depthwise convolution (and its BatchNorm)
    expand = by_producers[("expand.0",)]
    assert sorted(expand.members) == ["depthwise.0", "depthwise.1", "expand.1"]
    assert expand.pruned == sorted(torch.argsort(_l1(original.expand[0].weight))[:8].tolist())
    hidden = by_producers[("head.2",)]
    assert hidden.pruned == sorted(torch.argsort(_l1(original.head[2].weight))[:6].tolist())
    assert by_producers[("head.4",)].frozen == "the model's output" and not by_producers[("head.4",)].pruned

    keep_res, keep_exp = residual.keep(), expand.keep()
    assert net.stem[0].weight.shape == (4, 3, 3, 3) and net.stem[1].num_features == 4
    assert net.expand[0].weight.shape == (8, 4, 1, 1)
    assert net.depthwise[0].weight.shape == (8, 1, 3, 3) and net.depthwise[0].groups == 8
    assert net.project[0].weight.shape == (4, 8, 1, 1)
    assert net.mix.weight.shape == (4, 4, 3, 3)
    assert net.head[2].weight.shape == (6, 4) and net.head[4].weight.shape == (5, 6)
    torch.testing.assert_close(net.stem[0].weight, original.stem[0].weight[keep_res], rtol=0, atol=0)
    torch.testing.assert_close(
        net.depthwise[1].running_var, original.depthwise[1].running_var[keep_exp], rtol=0, atol=0
    )
    torch.testing.assert_close(net.mix.weight, original.mix.weight[keep_res][:, keep_res], rtol=0, atol=0)

    # before any fine-tuning the pruned network computes what the original computes with its consumers
    # reading zeros on the pruned channels
    mask_structured(original, groups)
    with torch.no_grad():
        got, want = net(x), original(x)
    assert got.shape == (4, 5)
    assert float((got - want).abs().max()) <= 1e-5


def test_structured_pruning_of_mobilenetv2_round_trips_through_the_checkpoint(tmp_path: Path):
    from edgeai_torch.checkpoint import load_checkpoint, save_checkpoint
    from edgeai_torch.nets import build
    from edgeai_torch.surgery import prune_structured

    params = {"channels": 3, "image_size": 16, "classes": 4, "width": 0.25, "dropout": 0.0}
    torch.manual_seed(0)
    net = build("mobilenetv2", params).eval()
    before = sum(p.numel() for p in net.parameters())
    x = torch.randn(2, 3, 16, 16)
    prune_structured(net, x, 0.5)
    after = sum(p.numel() for p in net.parameters())
    assert after < before / 2
    save_checkpoint(tmp_path / "model.pt", "mobilenetv2", params, net, resized=True)
    loaded = load_checkpoint(tmp_path / "model.pt", "mobilenetv2")
    assert sum(p.numel() for p in loaded.module.parameters()) == after
    with torch.no_grad():
        torch.testing.assert_close(loaded.module(x), net(x), rtol=0, atol=0)


@pytest.mark.parametrize("scope", ["global", "layer"])
@pytest.mark.parametrize("amount", [0.5, 0.8])
def test_unstructured_pruning_reaches_the_target_sparsity(scope: str, amount: float):
    from edgeai_torch.optimize import sparsity
    from edgeai_torch.prune import finish_unstructured, prune_unstructured

    net = _network()
    prune_unstructured(net, amount, scope)
    finish_unstructured(net)
    total, per_layer = sparsity(net)
    assert abs(total - amount) <= 0.01
    assert set(per_layer) == {"stem.0", "expand.0", "depthwise.0", "project.0", "mix", "head.2", "head.4"}
    if scope == "layer":
        assert all(abs(s - amount) <= 0.05 for s in per_layer.values()), (
            per_layer
        )  # 40 weights: steps of 2.5%
    assert not any(name.endswith(("_orig", "_mask")) for name in net.state_dict())


def test_measurements_count_macs_and_compress_files(tmp_path: Path):
    from edgeai_torch.optimize import count_macs, file_sizes

    net = nn.Sequential(nn.Conv2d(2, 4, 3), nn.Flatten(), nn.Linear(4 * 3 * 3, 5))
    assert count_macs(net, torch.zeros(3, 2, 5, 5)) == 4 * 3 * 3 * (2 * 9) + 5 * 36
    path = tmp_path / "zeros.bin"
    path.write_bytes(bytes(10_000))
    sizes = file_sizes(path)
    assert sizes["file_bytes"] == 10_000 and sizes["deflate_bytes"] < 200


# -- on digits, through the compiler steps -----------------------------------------------------------------


@pytest.fixture(scope="module")
def tuned(
    trained_cnn: Any, tmp_path_factory: pytest.TempPathFactory, component_builder: Any, first_party_host: Any
):
    artifact, data = trained_cnn
    host = first_party_host("torch", optional=("datasets", "onnx", "tvm"))
    make = component_builder(host, tmp_path_factory.mktemp("optimize"))
    return artifact, data, make


def _ort_accuracy(path: Path, split: Any) -> float:
    import onnxruntime as ort

    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    (logits,) = session.run(None, {"input": split.input.astype(np.float32)})
    return float(np.mean(np.argmax(logits, axis=1) == split.targets))


def test_torch_prune_steps_record_what_they_did(tuned: Any):
    from edgeai_torch.checkpoint import load_checkpoint

    artifact, data, make = tuned
    structured = make("compiler", "torch-prune", method="structured", ratio=0.5, epochs=2).compile(
        artifact, data
    )
    info = structured.metadata["pruning"]
    assert structured.format == "torch"
    assert info["channels"] == {
        "features.0": {"before": 16, "removed": 8},
        "features.2": {"before": 32, "removed": 16},
        "classifier.1": {"before": 64, "removed": 32},
    }
    # 1->8 conv, 8->16 conv, 16*3*3->32 linear, 32->10 linear
    expected = (8 * 9 + 8) + (16 * 8 * 9 + 16) + (144 * 32 + 32) + (32 * 10 + 10)
    assert info["parameters_before"] == 23946 and info["parameters_after"] == expected
    assert info["macs_after"] < info["macs_before"] / 3
    assert info["sparsity"] == 0.0
    assert load_checkpoint(structured.path).module.classifier[3].in_features == 32
    # steps chain: unstructured pruning of the structurally pruned checkpoint keeps it loadable
    both = make("compiler", "torch-prune", method="unstructured", sparsity=0.5, epochs=0).compile(
        structured, data
    )
    assert both.metadata["pruning"]["parameters_before"] == expected
    assert abs(both.metadata["pruning"]["sparsity"] - 0.5) <= 0.01
    assert load_checkpoint(both.path).module.classifier[1].out_features == 32

    dense = make("compiler", "torch-prune", method="unstructured", sparsity=0.8, epochs=1).compile(
        artifact, data
    )
    info = dense.metadata["pruning"]
    assert abs(info["sparsity"] - 0.8) <= 0.01
    assert info["parameters_after"] == info["parameters_before"] == 23946
    assert info["macs_after"] == info["macs_before"]  # zeros still cost a MAC on a dense runtime
    assert info["deflate_bytes"] < info["file_bytes"] / 2
    assert info["test_accuracy"] >= info["float_test_accuracy"] - 0.05


def test_torch_qat_exports_qdq_onnx_that_onnxruntime_and_tvm_run(tuned: Any):
    pytest.importorskip("onnxruntime")
    import onnx

    artifact, data, make = tuned
    qat = make("compiler", "torch-qat", epochs=2).compile(artifact, data)
    assert qat.format == "onnx" and qat.metadata["precision"] == "int8"
    model = onnx.load(str(qat.path))
    ops = Counter(n.op_type for n in model.graph.node)
    assert ops["QuantizeLinear"] == 7 and ops["DequantizeLinear"] == 11  # 4 weights are int8 initializers
    weights = {
        i.name: i.data_type for i in model.graph.initializer if "weight_fake_quant/QuantizeLinear" in i.name
    }
    assert len(weights) == 4 and set(weights.values()) == {onnx.TensorProto.INT8}
    test = data.split("test")
    info = qat.metadata["qat"]
    float_accuracy = info["float_test_accuracy"]
    ort_accuracy = _ort_accuracy(qat.path, test)
    # the stated bound: QAT on digits stays within 2 points of the float model's test accuracy
    assert ort_accuracy >= float_accuracy - 0.02, (ort_accuracy, float_accuracy)
    assert (
        abs(ort_accuracy - info["qat_torch_test_accuracy"]) <= 0.01
    )  # ONNX Runtime computes what torch trained

    if importlib.util.find_spec("tvm") is None or importlib.util.find_spec("edgeai_tvm") is None:
        return
    compiled = make("compiler", "tvm", batch="dynamic").compile(qat, None)
    runtime = make("runtime", "tvm")
    runtime.load(compiled)
    try:
        logits = runtime.infer([test.input.astype(np.float32)])[0]
    finally:
        runtime.close()
    tvm_accuracy = float(np.mean(np.argmax(logits, axis=1) == test.targets))
    assert tvm_accuracy >= float_accuracy - 0.02, (tvm_accuracy, float_accuracy)


def test_optimization_demo_variants_plan_through_onnx(first_party_host: Any) -> None:
    pytest.importorskip("edgeai_datasets")
    pytest.importorskip("edgeai_onnx")
    from edgeai_core.config import parse_config
    from edgeai_core.planner import plan_pipeline

    host = first_party_host("torch", "onnx", optional=("datasets",))
    variants = {v.name: v for v in host.demo_variants()}
    expected = {
        "torch-pruned-structured": (["torch-prune", "torch-to-onnx"], {"method": "structured", "ratio": 0.5}),
        "torch-pruned-unstructured": (
            ["torch-prune", "torch-to-onnx"],
            {"method": "unstructured", "sparsity": 0.8},
        ),
        "torch-qat-int8": (["torch-qat"], {"activation_symmetric": False, "opset": 17}),
    }
    for name, (steps, params) in expected.items():
        plan = plan_pipeline(parse_config(dict(variants[name].config)), host)
        assert [s.record.name for s in plan.steps] == steps
        assert plan.runtime.record.name == "onnxruntime"
        assert params.items() <= plan.steps[0].params.items()
        assert plan.steps[0].record.needs_dataset is True


def test_qat_export_of_a_residual_depthwise_network_runs_in_onnxruntime(tmp_path: Path) -> None:
    ort = pytest.importorskip("onnxruntime")
    import onnx

    from edgeai_core.api import IOSpec, TensorSpec
    from edgeai_torch.qat import export_qdq, freeze_qat, prepare_qat

    x = torch.randn(16, 3, 10, 10, generator=torch.Generator().manual_seed(2))
    prepared = prepare_qat(_network(), x[:2])
    prepared.train()
    with torch.no_grad():
        for _ in range(3):  # the observers see the data
            prepared(x)
    freeze_qat(prepared)
    with torch.no_grad():
        want = prepared(x).numpy()
    io = IOSpec(
        inputs=(TensorSpec("input", (None, 3, 10, 10), "float32"),),
        outputs=(TensorSpec("logits", (None, 5), "float32"),),
    )
    path = tmp_path / "model.onnx"
    export_qdq(prepared, x[:2], path, io, 17)
    model = onnx.load(str(path))
    ops = Counter(n.op_type for n in model.graph.node)
    assert "BatchNormalization" not in ops  # folded into the convolutions before QAT
    int8 = [i for i in model.graph.initializer if i.data_type == onnx.TensorProto.INT8 and len(i.dims) > 1]
    assert len(int8) == 7  # stem, expand, depthwise, project, mix, two linear layers: int8 initializers
    assert ops["DequantizeLinear"] - ops["QuantizeLinear"] == 7
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    (got,) = session.run(None, {"input": x.numpy()})
    # torch's fake quantization and ONNX Runtime's QDQ kernels may round a value to the neighbouring step
    assert np.abs(got - want).max() <= 0.05 * np.abs(want).max()
    assert (got.argmax(1) == want.argmax(1)).mean() >= 0.9
