"""Structured channel pruning: find the channels that can go, choose them by filter norm, cut them out.

The surgery is written against :mod:`torch.fx` rather than adding a dependency: torch-pruning 1.6.1 resolves
from the registry but is not among edgeai-torch's dependencies and was not tried with torch 2.13 here. The
network is traced once and every tensor with channels (dimension 1) gets a *channel space*:

* a ``Conv2d`` with ``groups == 1`` or a ``Linear`` starts a new, prunable space (its output channels);
* ``BatchNorm``, activations, pooling, dropout and depthwise convolutions keep their input's space (a
  depthwise convolution's channels are its input's, so it is sliced along with them);
* an elementwise ``add``/``mul`` of two tensors (a residual connection) merges the spaces of both operands:
  their producers must drop the same channels;
* ``flatten`` followed by a ``Linear`` maps channel ``c`` to the ``Linear``'s inputs ``c*k .. c*k+k-1``;
* anything else (the model's inputs and outputs, concatenation, reshapes, unknown functions) freezes the space.

A *group* is a merged set of spaces; a group without a frozen member is pruned: its channel importance is the
sum over its producers of the L1 or L2 norm of each output filter, and the ``floor(ratio * C)`` least important
channels go. Producers lose output channels, BatchNorm/depthwise layers lose channels, consumers (convolutions
and linear layers reading the group) lose the matching input channels.

:func:`mask_structured` builds the reference the tests compare with: the unpruned network whose consumers read
zeros on the pruned channels; the pruned network computes exactly that function.
"""

from __future__ import annotations

import logging
import operator
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import fx, nn
from torch.fx.passes.shape_prop import ShapeProp

from edgeai_core.api import EdgeaiError

log = logging.getLogger(__name__)

#: Modules that keep their input's channels one to one.
_PASS_MODULES = (
    nn.ReLU,
    nn.ReLU6,
    nn.LeakyReLU,
    nn.SiLU,
    nn.GELU,
    nn.Sigmoid,
    nn.Tanh,
    nn.Hardswish,
    nn.Hardsigmoid,
    nn.Identity,
    nn.Dropout,
    nn.MaxPool2d,
    nn.AvgPool2d,
    nn.AdaptiveAvgPool2d,
    nn.AdaptiveMaxPool2d,
)
_PASS_FUNCTIONS = {
    torch.relu,
    torch.nn.functional.relu,
    torch.nn.functional.relu6,
    torch.sigmoid,
    torch.tanh,
    torch.nn.functional.silu,
    torch.nn.functional.adaptive_avg_pool2d,
    torch.nn.functional.max_pool2d,
    torch.nn.functional.avg_pool2d,
    torch.nn.functional.dropout,
}
_MERGE_FUNCTIONS = {operator.add, operator.mul, torch.add, torch.mul, operator.iadd}


def _is_depthwise(module: nn.Module) -> bool:
    return (
        isinstance(module, nn.Conv2d)
        and module.groups > 1
        and module.groups == module.in_channels == module.out_channels
    )


def _is_producer(module: nn.Module) -> bool:
    return isinstance(module, nn.Linear) or (isinstance(module, nn.Conv2d) and module.groups == 1)


@dataclass
class Group:
    """Channels that must be pruned together: producers write them, members keep them, consumers read them."""

    channels: int
    producers: list[str] = field(default_factory=list)
    members: list[str] = field(default_factory=list)  # BatchNorm and depthwise convolutions
    consumers: list[tuple[str, int]] = field(default_factory=list)  # (module, features per channel)
    frozen: str = ""  # why the group cannot be pruned
    pruned: list[int] = field(default_factory=list)

    def keep(self) -> list[int]:
        gone = set(self.pruned)
        return [c for c in range(self.channels) if c not in gone]


class _Spaces:
    """Union-find over channel spaces."""

    def __init__(self) -> None:
        self.parent: list[int] = []
        self.channels: list[int] = []
        self.frozen: dict[int, str] = {}

    def new(self, channels: int) -> int:
        self.parent.append(len(self.parent))
        self.channels.append(channels)
        return len(self.parent) - 1

    def find(self, space: int) -> int:
        while self.parent[space] != space:
            self.parent[space] = self.parent[self.parent[space]]
            space = self.parent[space]
        return space

    def union(self, a: int, b: int) -> int:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            self.parent[rb] = ra
            if self.channels[ra] != self.channels[rb]:
                self.freeze(ra, "operands with different channel counts")
        return ra

    def freeze(self, space: int, why: str) -> None:
        self.frozen.setdefault(self.find(space), why)


def channel_groups(module: nn.Module, example: torch.Tensor) -> list[Group]:
    """Trace ``module`` and return its channel groups (frozen ones included, with the reason)."""
    graph = fx.symbolic_trace(module)
    ShapeProp(graph).propagate(example)
    modules = dict(graph.named_modules())
    spaces = _Spaces()
    # node -> (space, features per channel); None for values without channels (shapes, constants)
    space_of: dict[fx.Node, tuple[int, int]] = {}
    producers: dict[int, list[str]] = {}
    members: dict[int, list[str]] = {}
    consumers: dict[int, list[tuple[str, int]]] = {}

    def channels_of(node: fx.Node) -> int | None:
        meta = node.meta.get("tensor_meta")
        shape = getattr(meta, "shape", None)
        return int(shape[1]) if shape is not None and len(shape) >= 2 else None

    def tensor_args(node: fx.Node) -> Iterator[fx.Node]:
        for arg in node.all_input_nodes:
            if arg in space_of:
                yield arg

    for node in graph.graph.nodes:
        count = channels_of(node) if node.op != "output" else None
        if node.op == "placeholder":
            if count is not None:
                space = spaces.new(count)
                spaces.freeze(space, "the model's input")
                space_of[node] = (space, 1)
            continue
        if node.op == "output":
            for arg in tensor_args(node):
                spaces.freeze(space_of[arg][0], "the model's output")
            continue
        inputs = list(tensor_args(node))
        if node.op == "call_module":
            sub = modules[str(node.target)]
            name = str(node.target)
            source = space_of.get(node.args[0]) if node.args and isinstance(node.args[0], fx.Node) else None
            if _is_producer(sub):
                if source is not None:
                    consumers.setdefault(source[0], []).append((name, source[1]))
                    if isinstance(sub, nn.Linear) and channels_of(node.args[0]) != sub.in_features:
                        spaces.freeze(source[0], f"{name} reads a reshaped tensor")
                space = spaces.new(count or 0)
                producers.setdefault(space, []).append(name)
                space_of[node] = (space, 1)
                continue
            if source is not None and (
                isinstance(sub, (nn.BatchNorm1d, nn.BatchNorm2d)) or _is_depthwise(sub)
            ):
                members.setdefault(source[0], []).append(name)
                space_of[node] = (source[0], 1)
                continue
            if source is not None and isinstance(sub, _PASS_MODULES) and source[1] == 1:
                space_of[node] = source
                continue
            if source is not None and isinstance(sub, nn.Flatten) and source[1] == 1:
                shape = node.args[0].meta["tensor_meta"].shape
                per = 1
                for dim in shape[2:]:
                    per *= int(dim)
                if sub.start_dim == 1 and sub.end_dim == -1:
                    space_of[node] = (source[0], per)
                    continue
        elif node.op == "call_function" and inputs:
            source = space_of[inputs[0]]
            if node.target in _PASS_FUNCTIONS and source[1] == 1:
                space_of[node] = source
                continue
            aligned = all(space_of[a][1] == 1 and channels_of(a) == count for a in inputs)
            if node.target in _MERGE_FUNCTIONS and aligned:
                for other in inputs[1:]:
                    spaces.union(space_of[inputs[0]][0], space_of[other][0])
                space_of[node] = (spaces.find(space_of[inputs[0]][0]), 1)
                continue
            if node.target is torch.flatten and source[1] == 1 and node.args[1:] in ((1,), ()):
                shape = inputs[0].meta["tensor_meta"].shape
                per = 1
                for dim in shape[2:]:
                    per *= int(dim)
                space_of[node] = (source[0], per)
                continue
        elif node.op == "get_attr":
            continue
        # anything else: the channels of its tensor inputs are frozen; its output starts a frozen space
        for arg in inputs:
            spaces.freeze(space_of[arg][0], f"read by {node.op} {node.target}")
        if count is not None:
            space = spaces.new(count)
            spaces.freeze(space, f"written by {node.op} {node.target}")
            space_of[node] = (space, 1)

    groups: dict[int, Group] = {}
    for space in range(len(spaces.parent)):
        root = spaces.find(space)
        group = groups.setdefault(root, Group(spaces.channels[root]))
        group.producers += producers.get(space, [])
        group.members += members.get(space, [])
        group.consumers += consumers.get(space, [])
        if space in spaces.frozen:
            group.frozen = group.frozen or spaces.frozen[space]
    for root, why in spaces.frozen.items():
        groups[spaces.find(root)].frozen = groups[spaces.find(root)].frozen or why
    found = [g for g in groups.values() if g.producers or g.frozen]
    for group in found:
        if not group.producers and not group.frozen:
            group.frozen = "no producer"
    return found


def _filter_norms(weight: torch.Tensor, norm: str) -> torch.Tensor:
    flat = weight.detach().reshape(weight.shape[0], -1)
    return flat.abs().sum(dim=1) if norm == "l1" else flat.pow(2).sum(dim=1).sqrt()


def choose_channels(module: nn.Module, groups: list[Group], ratio: float, norm: str = "l1") -> None:
    """Fill each unfrozen group's ``pruned``: the ``floor(ratio * C)`` channels of least summed filter norm
    (ties to the lower index), leaving at least one channel."""
    modules = dict(module.named_modules())
    for group in groups:
        if group.frozen:
            continue
        importance = torch.zeros(group.channels, dtype=torch.float64)
        for name in group.producers:
            importance += _filter_norms(modules[name].weight, norm).double()
        count = min(int(ratio * group.channels), group.channels - 1)
        order = sorted(range(group.channels), key=lambda c: (float(importance[c]), c))
        group.pruned = sorted(order[:count])


def _set(module: nn.Module, name: str, value: nn.Module) -> None:
    parent_name, _, leaf = name.rpartition(".")
    parent = module.get_submodule(parent_name) if parent_name else module
    setattr(parent, leaf, value)


def _param(tensor: torch.Tensor) -> nn.Parameter:
    return nn.Parameter(tensor.detach().clone().contiguous())


def _expand(keep: list[int], per: int) -> list[int]:
    return [c * per + i for c in keep for i in range(per)]


def apply_pruning(module: nn.Module, groups: list[Group]) -> None:
    """Cut the chosen channels out of ``module`` in place (its layers are replaced by smaller ones)."""
    for group in groups:
        if group.frozen or not group.pruned:
            continue
        keep = group.keep()
        index = torch.tensor(keep, dtype=torch.long)
        for name in group.producers:
            layer = module.get_submodule(name)
            layer.weight = _param(layer.weight[index])
            if layer.bias is not None:
                layer.bias = _param(layer.bias[index])
            if isinstance(layer, nn.Linear):
                layer.out_features = len(keep)
            else:
                layer.out_channels = len(keep)
        for name in group.members:
            layer = module.get_submodule(name)
            if isinstance(layer, nn.Conv2d):  # depthwise
                layer.weight = _param(layer.weight[index])
                if layer.bias is not None:
                    layer.bias = _param(layer.bias[index])
                layer.in_channels = layer.out_channels = layer.groups = len(keep)
            else:
                assert isinstance(layer, (nn.BatchNorm1d, nn.BatchNorm2d))
                if layer.affine:
                    layer.weight = _param(layer.weight[index])
                    layer.bias = _param(layer.bias[index])
                if layer.running_mean is not None and layer.running_var is not None:
                    layer.running_mean = layer.running_mean[index].clone()
                    layer.running_var = layer.running_var[index].clone()
                layer.num_features = len(keep)
        for name, per in group.consumers:
            layer = module.get_submodule(name)
            columns = torch.tensor(_expand(keep, per), dtype=torch.long)
            layer.weight = _param(layer.weight[:, columns])
            if isinstance(layer, nn.Linear):
                layer.in_features = len(columns)
            else:
                layer.in_channels = len(keep)


def mask_structured(module: nn.Module, groups: list[Group]) -> None:
    """The reference of :func:`apply_pruning`: in place, every consumer of a group reads zero weights on its
    pruned channels (the network keeps its shapes)."""
    with torch.no_grad():
        for group in groups:
            if group.frozen or not group.pruned:
                continue
            for name, per in group.consumers:
                layer = module.get_submodule(name)
                layer.weight[:, _expand(group.pruned, per)] = 0.0


def prune_structured(module: nn.Module, example: torch.Tensor, ratio: float, norm: str = "l1") -> list[Group]:
    """Prune ``ratio`` of the channels of every prunable group of ``module`` (in place); returns the groups."""
    if not 0.0 <= ratio < 1.0:
        raise EdgeaiError(f"structured pruning ratio must be in [0, 1), got {ratio}")
    was_training = module.training
    module.eval()
    try:
        groups = channel_groups(module, example)
    except Exception as exc:  # tracing: data-dependent control flow and the like
        raise EdgeaiError(f"structured pruning cannot trace the network with torch.fx: {exc}") from exc
    choose_channels(module, groups, ratio, norm)
    apply_pruning(module, groups)
    module.train(was_training)
    for group in groups:
        if group.frozen and group.producers:
            log.info("channels of %s are kept: %s", ", ".join(group.producers), group.frozen)
    return groups


def fit_to_state_dict(module: nn.Module, state: dict[str, Any]) -> None:
    """Resize ``module``'s Conv2d, BatchNorm and Linear layers to the weight shapes in ``state`` (a pruned
    checkpoint of the same architecture), so that ``load_state_dict`` fits."""
    for name, layer in list(module.named_modules()):
        weight = state.get(f"{name}.weight" if name else "weight")
        if weight is None or tuple(weight.shape) == tuple(getattr(layer, "weight", torch.empty(0)).shape):
            continue
        bias = f"{name}.bias" in state
        if isinstance(layer, nn.Conv2d):
            out_channels = int(weight.shape[0])
            depthwise = _is_depthwise(layer)
            groups = out_channels if depthwise else layer.groups
            in_channels = out_channels if depthwise else int(weight.shape[1]) * groups
            new: nn.Module = nn.Conv2d(
                in_channels,
                out_channels,
                layer.kernel_size,
                layer.stride,
                layer.padding,
                layer.dilation,
                groups,
                bias,
                layer.padding_mode,
            )
        elif isinstance(layer, nn.Linear):
            new = nn.Linear(int(weight.shape[1]), int(weight.shape[0]), bias)
        elif isinstance(layer, (nn.BatchNorm1d, nn.BatchNorm2d)):
            new = type(layer)(int(weight.shape[0]), layer.eps, layer.momentum, layer.affine)
        else:
            continue
        _set(module, name, new)
