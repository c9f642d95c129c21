"""The plugin host: discovers plugins through entry points and collects their registration records.

Every plugin, the core's own built-ins included, is announced by an entry point in the ``edgeai`` group,
so there is a single discovery path. A plugin that fails to import, or whose hooks raise or return
something other than records, is *broken*: it is logged, shown by ``edgeai plugins`` and skipped, unless
strict mode (``EDGEAI_STRICT_PLUGINS=1`` or ``edgeai --strict-plugins``) turns that into an error.

Environment switches:

``EDGEAI_LOAD_PLUGINS``
    Comma-separated plugin (entry point) or distribution names: load only these. Set but empty: load no
    plugin besides the core's built-ins.
``EDGEAI_DISABLE_PLUGINS``
    Comma-separated names never to load (``core`` disables the built-ins too).
``EDGEAI_STRICT_PLUGINS``
    ``1`` to raise on a broken plugin instead of skipping it.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

import pluggy

from edgeai_core import hookspecs
from edgeai_core._discovery import entry_points
from edgeai_core.errors import DuplicateComponentError, PluginError, UnknownComponentError
from edgeai_core.records import KINDS, RECORD_TYPES, DemoVariant, Registration

if TYPE_CHECKING:
    import click

log = logging.getLogger(__name__)

R = TypeVar("R", bound=Registration)

ENTRY_POINT_GROUP = "edgeai"
CORE_PLUGIN = "core"
_TRUE = {"1", "true", "yes", "on"}


@dataclass
class PluginInfo:
    """What ``edgeai plugins`` shows about one plugin."""

    name: str
    module: str
    distribution: str | None = None
    version: str | None = None
    status: str = "ok"  # ok | broken | disabled
    error: str | None = None
    components: list[Registration] = field(default_factory=list)

    @property
    def label(self) -> str:
        if self.distribution:
            return f"{self.distribution} {self.version or ''}".strip() + f" (plugin '{self.name}')"
        return f"plugin '{self.name}'"

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "distribution": self.distribution,
            "version": self.version,
            "module": self.module,
            "status": self.status,
            "error": self.error,
            "components": [
                {"kind": r.kind, "name": r.name, "summary": r.summary, **r.facts()} for r in self.components
            ],
        }


def _names(value: str | None) -> set[str] | None:
    if value is None:
        return None
    return {part.strip() for part in value.split(",") if part.strip()}


class PluginHost:
    """Loads plugins and answers questions about the components they register.

    ``PluginHost()`` discovers installed plugins through entry points. ``PluginHost(discover=False)``
    starts empty, for tests and embedding; add plugins with :meth:`register`.
    """

    def __init__(
        self,
        *,
        discover: bool = True,
        strict: bool | None = None,
        env: Mapping[str, str] | None = None,
    ) -> None:
        env = os.environ if env is None else env
        self.strict = strict if strict is not None else env.get("EDGEAI_STRICT_PLUGINS", "").lower() in _TRUE
        self.only = _names(env.get("EDGEAI_LOAD_PLUGINS"))
        self.disabled = _names(env.get("EDGEAI_DISABLE_PLUGINS")) or set()
        self.pm = pluggy.PluginManager(hookspecs.PROJECT)
        self.pm.add_hookspecs(hookspecs)
        self.plugins: dict[str, PluginInfo] = {}
        self._records: dict[str, dict[str, list[Registration]]] | None = None
        if discover:
            self.discover()

    # -- loading ------------------------------------------------------------------------------------

    def _wanted(self, name: str, distribution: str | None) -> bool:
        names = {name} | ({distribution} if distribution else set())
        if names & self.disabled:
            return False
        if self.only is None or name == CORE_PLUGIN:
            return True
        return bool(names & self.only)

    def discover(self) -> None:
        """Load every plugin announced in the ``edgeai`` entry point group."""
        seen: set[tuple[str, str]] = set()
        for ep in sorted(entry_points(ENTRY_POINT_GROUP), key=lambda e: e.name != CORE_PLUGIN):
            dist_name, version = ep.distribution, ep.version
            if (ep.name, ep.value) in seen:  # the same distribution found twice on sys.path
                continue
            seen.add((ep.name, ep.value))
            info = PluginInfo(name=ep.name, module=ep.value, distribution=dist_name, version=version)
            if ep.name in self.plugins:
                other = self.plugins[ep.name]
                self._broken(info, f"plugin name '{ep.name}' is already used by {other.label}")
                self.plugins[f"{ep.name}@{dist_name}"] = info
                continue
            self.plugins[ep.name] = info
            if not self._wanted(ep.name, dist_name):
                info.status = "disabled"
                continue
            try:
                module = ep.load()
            except Exception as exc:  # a broken plugin must not take edgeai down
                self._broken(info, f"import failed: {type(exc).__name__}: {exc}", exc)
                continue
            self._add(module, info)

    def register(
        self,
        plugin: object,
        name: str | None = None,
        *,
        distribution: str | None = None,
        version: str | None = None,
    ) -> PluginInfo:
        """Register a plugin object or module in-process (tests, embedding, notebooks)."""
        name = name or getattr(plugin, "__name__", None) or type(plugin).__name__
        if name in self.plugins:
            raise PluginError(f"a plugin named '{name}' is already registered ({self.plugins[name].label})")
        info = PluginInfo(
            name=name,
            module=getattr(plugin, "__name__", type(plugin).__qualname__),
            distribution=distribution,
            version=version,
        )
        self.plugins[name] = info
        self._add(plugin, info)
        return info

    def unregister(self, name: str) -> None:
        info = self.plugins.pop(name)
        if self.pm.get_plugin(name) is not None:
            self.pm.unregister(name=name)
        self._records = None
        del info

    def _add(self, plugin: object, info: PluginInfo) -> None:
        try:
            self.pm.register(plugin, name=info.name)
        except Exception as exc:  # pluggy validates hook implementations here
            self._broken(info, f"invalid hooks: {exc}", exc)
            return
        self._records = None

    def _broken(self, info: PluginInfo, reason: str, exc: BaseException | None = None) -> None:
        info.status, info.error = "broken", reason
        if self.pm.get_plugin(info.name) is not None:
            self.pm.unregister(name=info.name)
        if self.strict:
            raise PluginError(f"{info.label} is broken: {reason}") from exc
        log.warning("%s is broken and was skipped: %s", info.label, reason)

    # -- records ------------------------------------------------------------------------------------

    def _collect(self) -> dict[str, dict[str, list[Registration]]]:
        if self._records is not None:
            return self._records
        by_plugin: dict[str, list[Registration]] = {}
        for kind in KINDS:
            hook = getattr(self.pm.hook, hookspecs.COLLECTORS[kind])
            expected = RECORD_TYPES[kind]
            for impl in hook.get_hookimpls():
                info = self.plugins.get(impl.plugin_name)
                if info is None or info.status != "ok":
                    continue
                try:
                    result = impl.function()
                    records = list(result or [])
                    bad = [r for r in records if not isinstance(r, expected)]
                    if bad:
                        raise TypeError(
                            f"{hookspecs.COLLECTORS[kind]} returned {type(bad[0]).__name__}, "
                            f"not {expected.__name__}"
                        )
                except Exception as exc:
                    self._broken(
                        info, f"{hookspecs.COLLECTORS[kind]} failed: {type(exc).__name__}: {exc}", exc
                    )
                    by_plugin.pop(info.name, None)
                    continue
                provider = info.distribution or info.name
                by_plugin.setdefault(info.name, []).extend(r.with_provider(provider) for r in records)
        merged: dict[str, dict[str, list[Registration]]] = {kind: {} for kind in KINDS}
        for name, info in self.plugins.items():
            info.components = by_plugin.get(name, []) if info.status == "ok" else []
            for record in info.components:
                merged[record.kind].setdefault(record.name, []).append(record)
        self._records = merged
        return merged

    def conflicts(self) -> list[DuplicateComponentError]:
        """Every name registered by more than one plugin."""
        return [
            DuplicateComponentError(kind, name, [r.provider for r in recs])
            for kind, names in self._collect().items()
            for name, recs in sorted(names.items())
            if len(recs) > 1
        ]

    def _unique(self, kind: str, name: str, records: list[Registration]) -> Registration:
        if len(records) > 1:
            raise DuplicateComponentError(kind, name, [r.provider for r in records])
        return records[0]

    def records(self, kind: str | None = None) -> list[Registration]:
        """All records (of one kind), sorted by kind then name. A duplicated name raises."""
        kinds = [kind] if kind else list(KINDS)
        for k in kinds:
            if k not in KINDS:
                raise UnknownComponentError("component kind", k, KINDS)
        collected = self._collect()
        return [self._unique(k, name, recs) for k in kinds for name, recs in sorted(collected[k].items())]

    def get(self, kind: str, name: str, *, where: str = "") -> Registration:
        """The record of ``kind`` named ``name``; an error naming the closest name when there is none."""
        if kind not in KINDS:
            raise UnknownComponentError("component kind", kind, KINDS, where)
        found = self._collect()[kind].get(name)
        if not found:
            raise UnknownComponentError(kind, name, self._collect()[kind], where)
        return self._unique(kind, name, found)

    def find(self, name: str) -> list[Registration]:
        """Records of any kind named ``name`` (``tflite`` may be a compiler and a runtime)."""
        collected = self._collect()
        return [self._unique(k, name, collected[k][name]) for k in KINDS if name in collected[k]]

    def names(self) -> dict[str, list[str]]:
        collected = self._collect()
        return {kind: sorted(collected[kind]) for kind in KINDS}

    def plugin_infos(self, *, include_disabled: bool = False) -> list[PluginInfo]:
        self._collect()
        return [i for i in self.plugins.values() if include_disabled or i.status != "disabled"]

    def provider_versions(self, records: Iterable[Registration]) -> dict[str, str | None]:
        """``{distribution: version}`` of the plugins that provided ``records``, for provenance."""
        out: dict[str, str | None] = {}
        for record in records:
            for info in self.plugins.values():
                if record in info.components:
                    out[info.distribution or info.name] = info.version
        return out

    def demo_variants(self) -> list[DemoVariant]:
        """Every plugin's ``edgeai demo`` rows, sorted by order then name. A duplicated name raises."""
        self._collect()
        variants: dict[str, DemoVariant] = {}
        for impl in self.pm.hook.edgeai_register_demo_variants.get_hookimpls():
            info = self.plugins.get(impl.plugin_name)
            if info is None or info.status != "ok":
                continue
            try:
                returned: Any = impl.function()
                result = list(returned or [])
                bad = [v for v in result if not isinstance(v, DemoVariant)]
                if bad:
                    raise TypeError(f"returned {type(bad[0]).__name__}, not DemoVariant")
            except Exception as exc:
                self._broken(info, f"edgeai_register_demo_variants failed: {type(exc).__name__}: {exc}", exc)
                continue
            provider = info.distribution or info.name
            for variant in result:
                if variant.name in variants:
                    raise DuplicateComponentError(
                        "demo variant", variant.name, [variants[variant.name].provider, provider]
                    )
                variants[variant.name] = dataclasses.replace(variant, provider=provider)
        return sorted(variants.values(), key=lambda v: (v.order, v.name))

    def extra_records(self, hook: str, record_type: type[R]) -> list[R]:
        """Records from a collector hook outside the component kinds (``edgeai_register_grid_suites``,
        ``edgeai_register_onnx_backends``), sorted by name, with ``provider`` filled in. A plugin whose hook
        raises or returns something else is marked broken and skipped; a name registered twice raises."""
        self._collect()
        found: dict[str, R] = {}
        for impl in getattr(self.pm.hook, hook).get_hookimpls():
            info = self.plugins.get(impl.plugin_name)
            if info is None or info.status != "ok":
                continue
            try:
                returned: Any = impl.function()
                result = list(returned or [])
                bad = [r for r in result if not isinstance(r, record_type)]
                if bad:
                    raise TypeError(f"returned {type(bad[0]).__name__}, not {record_type.__name__}")
            except Exception as exc:
                self._broken(info, f"{hook} failed: {type(exc).__name__}: {exc}", exc)
                continue
            provider = info.distribution or info.name
            for record in result:
                if record.name in found:
                    raise DuplicateComponentError(
                        record.kind, record.name, [found[record.name].provider, provider]
                    )
                found[record.name] = dataclasses.replace(record, provider=provider)
        return [found[name] for name in sorted(found)]

    def add_commands(self, cli: click.Group) -> None:
        """Let plugins add CLI commands; a plugin whose hook raises is marked broken."""
        for impl in self.pm.hook.edgeai_register_commands.get_hookimpls():
            info = self.plugins.get(impl.plugin_name)
            if info is None or info.status != "ok":
                continue
            try:
                impl.function(cli=cli)
            except Exception as exc:
                self._broken(info, f"edgeai_register_commands failed: {type(exc).__name__}: {exc}", exc)


_default: PluginHost | None = None


def default_host() -> PluginHost:
    """The process-wide host, discovered on first use."""
    global _default
    if _default is None:
        _default = PluginHost()
    return _default


def reset_default_host() -> None:
    global _default
    _default = None


def heavy_modules_loaded() -> list[str]:
    """Heavy frameworks imported in this process (for tests of the lazy-import promise)."""
    heavy = ("torch", "tensorflow", "tvm", "onnxruntime", "keras", "jax")
    return sorted(m for m in heavy if m in sys.modules)
