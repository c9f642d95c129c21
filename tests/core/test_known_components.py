"""Install hints for the first-party family come from the plugins themselves (``edgeai_known_components``).

For each first-party distribution, a host holding the core and every *other* first-party plugin must say, for
each component that distribution registers, which package to install. The registration modules are light, so
this runs wherever the packages are installed (the full test environment).
"""

from __future__ import annotations

import importlib

import pytest

import edgeai_core.plugin
from edgeai_core.errors import UnknownComponentError
from edgeai_core.plugins import PluginHost

FAMILY = {
    "edgeai-datasets": "edgeai_datasets.plugin",
    "edgeai-torch": "edgeai_torch.plugin",
    "edgeai-onnx": "edgeai_onnx.plugin",
    "edgeai-tflite": "edgeai_tflite.plugin",
    "edgeai-tvm": "edgeai_tvm.plugin",
}


def _host(distributions: list[str]) -> PluginHost:
    host = PluginHost(discover=False, strict=True, env={})
    host.register(edgeai_core.plugin, name="core", distribution="edgeai-core")
    for dist in distributions:
        module = pytest.importorskip(FAMILY[dist], exc_type=ImportError)
        host.register(module, name=dist, distribution=dist)
    return host


@pytest.mark.parametrize("missing", sorted(FAMILY))
def test_every_component_of_a_missing_sibling_names_its_package(missing: str) -> None:
    own = [r for r in _host([missing]).records() if r.provider == missing]
    assert own, f"{missing} registers components"
    siblings = _host([d for d in FAMILY if d != missing])
    for record in own:
        with pytest.raises(UnknownComponentError) as err:
            siblings.get(record.kind, record.name, where=f"{record.kind}.name")
        assert str(err.value).endswith(f"; it comes with {missing}: pip install {missing}"), (
            record.qualified_name
        )


def test_every_known_component_exists_in_the_package_named() -> None:
    host = _host(list(FAMILY))
    registered = {(r.kind, r.name, r.provider) for r in host.records()}
    named = []
    for dist, module_name in FAMILY.items():
        module = importlib.import_module(module_name)
        for entry in module.edgeai_known_components():
            assert entry.distribution != dist, f"{dist} names its own {entry.kind}:{entry.name}"
            named.append((entry.kind, entry.name, entry.distribution))
    assert named and set(named) <= registered
