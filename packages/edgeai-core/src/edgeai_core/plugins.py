"""The plugin host: discovers plugins through entry points and collects their registration records.

Every plugin, the core's own built-ins included, is announced by an entry point in the ``edgeai`` group,
so there is a single discovery path. A plugin that fails to import, or whose hooks raise or return
something other than records, is *broken*: it is logged, shown by ``edgeai plugins`` and skipped, unless
strict mode (``EDGEAI_STRICT_PLUGINS=1`` or ``edgeai --strict-plugins``) turns that into an error. So is a
plugin with a hook pluggy would silently never call: an ``edgeai_*`` function marked ``@hookimpl`` that no
hookspec declares (checked with pluggy's ``check_pending()`` once discovery is done; the error names the
closest real hook), or a module-level ``edgeai_*`` function not marked ``@hookimpl``.

Every hook is called through pluggy, one plugin at a time (:meth:`PluginHost.call_each`), so hook wrappers,
``pm.add_hookcall_monitoring`` and tracing see every call while a plugin that raises is isolated.

Environment switches:

``EDGEAI_LOAD_PLUGINS``
    Comma-separated plugin (entry point) or distribution names: load only these. Set but empty: load no
    plugin besides the core's built-ins.
``EDGEAI_DISABLE_PLUGINS``
    Comma-separated names never to load (``core`` disables the built-ins too).
``EDGEAI_STRICT_PLUGINS``
    ``1`` to raise on a broken plugin instead of skipping it.
``EDGEAI_TRACE_PLUGINS``
    ``1`` to print every hook call, its arguments and what it returned to stderr (pluggy's tracing).
"""

from __future__ import annotations

import dataclasses
import inspect
import logging
import os
import sys
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from types import ModuleType
from typing import TYPE_CHECKING, Any, TypeVar

import pluggy

from edgeai_core import hookspecs
from edgeai_core._discovery import entry_points
from edgeai_core.errors import DuplicateComponentError, PluginError, UnknownComponentError, closest
from edgeai_core.jsonvalues import attributes
from edgeai_core.records import KINDS, DemoVariant, KnownComponent, Registration

if TYPE_CHECKING:
    import click

log = logging.getLogger(__name__)

R = TypeVar("R")

ENTRY_POINT_GROUP = "edgeai"
CORE_PLUGIN = "core"
_TRUE = {"1", "true", "yes", "on"}
_HOOK_PREFIX = "edgeai_"
_KNOWN_HOOK = "edgeai_known_components"
_ADD_HOOKSPECS = "edgeai_add_hookspecs"
_TRACE_WIDTH = 240


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
            **attributes(self, ("name", "distribution", "version", "module", "status", "error")),
            "components": [
                {"kind": r.kind, "name": r.name, "summary": r.summary, **r.facts()} for r in self.components
            ],
        }


def _names(value: str | None) -> set[str] | None:
    if value is None:
        return None
    return {part.strip() for part in value.split(",") if part.strip()}


class _HashablePlugin:
    """Stands in for a plugin object that cannot be hashed (a ``SimpleNamespace``): pluggy's
    ``subset_hook_caller``, which calls one plugin at a time, keeps plugins in a set. Holds the object's
    public attributes (pluggy looks hooks up statically, so they are copied, not forwarded)."""

    def __init__(self, target: object) -> None:
        for name in dir(target):
            if not name.startswith("__"):
                setattr(self, name, getattr(target, name))


def _stderr_writer(text: str) -> None:
    """Trace lines to the *current* stderr (which tests and embedding programs swap), each cut to a screen
    width or so: a returned list of records would otherwise fill pages."""
    lines = [
        line if len(line) <= _TRACE_WIDTH else line[: _TRACE_WIDTH - 3] + "..." for line in text.splitlines()
    ]
    sys.stderr.write("".join(f"{line}\n" for line in lines))


def _list_of(hook: str, returned: Any, record_type: type[R]) -> list[R]:
    """``returned`` as a list of ``record_type``; a TypeError naming the hook otherwise."""
    if returned is None:
        return []
    if isinstance(returned, (Mapping, str, bytes)) or not isinstance(returned, Iterable):
        raise TypeError(f"{hook} returned {type(returned).__name__}, not a list of {record_type.__name__}")
    records = list(returned)
    bad = [r for r in records if not isinstance(r, record_type)]
    if bad:
        raise TypeError(f"{hook} returned {type(bad[0]).__name__}, not {record_type.__name__}")
    return records


class PluginHost:
    """Loads plugins and answers questions about the components they register.

    ``PluginHost()`` discovers installed plugins through entry points. ``PluginHost(discover=False)``
    starts empty, for tests and embedding; add plugins with :meth:`register` (a plugin that adds hookspecs
    through ``edgeai_add_hookspecs`` before the plugins that implement them).
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
        if env.get("EDGEAI_TRACE_PLUGINS", "").lower() in _TRUE:
            self._enable_tracing()
        self.plugins: dict[str, PluginInfo] = {}
        self._records: dict[str, dict[str, list[Registration]]] | None = None
        self._known: dict[tuple[str, str], KnownComponent] = {}
        if discover:
            self.discover()

    def _enable_tracing(self) -> None:
        """pluggy's hook tracing to stderr, plus the plugin each call reaches (the host calls one at a time)."""
        trace = self.pm.trace.root.get("hook")

        def before(hook: str, impls: Sequence[pluggy.HookImpl], kwargs: Mapping[str, object]) -> None:
            trace("plugin", ", ".join(i.plugin_name for i in impls) or "(none)")

        self.pm.trace.root.setwriter(_stderr_writer)
        self.pm.add_hookcall_monitoring(before, lambda *args: None)
        self.pm.enable_tracing()

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
        self._check_pending()

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
        if getattr(type(plugin), "__hash__", None) is None:
            plugin = _HashablePlugin(plugin)
        self._add(plugin, info)
        self._check_pending()
        return info

    def unregister(self, name: str) -> None:
        info = self.plugins.pop(name)
        if self.pm.get_plugin(name) is not None:
            self.pm.unregister(name=name)
        self._records = None
        del info

    def _add(self, plugin: object, info: PluginInfo) -> None:
        unmarked = self._unmarked_hooks(plugin)
        if unmarked:
            self._broken(info, unmarked)
            return
        try:
            self.pm.register(plugin, name=info.name)
        except Exception as exc:  # pluggy validates hook implementations here
            self._broken(info, f"invalid hooks: {exc}", exc)
            return
        self._records = None
        if any(i.name == info.name for i in self.implementers(_ADD_HOOKSPECS)):  # before check_pending()
            try:
                self.call_plugin(_ADD_HOOKSPECS, info.name, pm=self.pm)
            except Exception as exc:
                self._broken(info, f"{_ADD_HOOKSPECS} failed: {type(exc).__name__}: {exc}", exc)

    def _unmarked_hooks(self, plugin: object) -> str | None:
        """The error for a plugin module's ``edgeai_*`` functions that lack ``@hookimpl`` (pluggy ignores them)."""
        if not isinstance(plugin, ModuleType):
            return None
        unmarked = sorted(
            name
            for name, value in vars(plugin).items()
            if name.startswith(_HOOK_PREFIX)
            and inspect.isfunction(value)
            and value.__module__ == plugin.__name__
            and self.pm.parse_hookimpl_opts(plugin, name) is None
        )
        if not unmarked:
            return None
        names = ", ".join(f"{name}()" for name in unmarked)
        one = len(unmarked) == 1
        return (
            f"{names} {'is' if one else 'are'} named like a hook but not marked @hookimpl, so edgeai would never "
            f"call {'it' if one else 'them'}: mark {'it' if one else 'them'} with @hookimpl "
            "(from edgeai_core.api import hookimpl)"
        )

    def _closest_hook(self, name: str) -> str | None:
        """The declared hook closest to ``name``, compared without the shared ``edgeai_`` prefix."""
        specs = sorted(name for name, caller in vars(self.pm.hook).items() if caller.has_spec())
        short = {spec.removeprefix(_HOOK_PREFIX): spec for spec in specs}
        close = closest(name.removeprefix(_HOOK_PREFIX), short)
        return short[close] if close else None

    def _check_pending(self) -> None:
        """pluggy's ``check_pending()``: a hook implementation no hookspec declares marks its plugin broken."""
        while True:
            try:
                self.pm.check_pending()
                return
            except pluggy.PluginValidationError as exc:
                name = self.pm.get_name(exc.plugin)
                if name is None or name not in self.plugins:
                    raise
                unknown = sorted(
                    caller.name
                    for caller in vars(self.pm.hook).values()
                    if not caller.has_spec()
                    and any(i.plugin is exc.plugin and not i.optionalhook for i in caller.get_hookimpls())
                )
                reasons = []
                for hook in unknown:
                    close = self._closest_hook(hook)
                    hint = f"did you mean '{close}'?" if close else "see edgeai_core.hookspecs for the hooks"
                    reasons.append(f"unknown hook '{hook}' (no edgeai hookspec declares it; {hint})")
                self._broken(self.plugins[name], "; ".join(reasons) or str(exc), exc)

    def _broken(self, info: PluginInfo, reason: str, exc: BaseException | None = None) -> None:
        info.status, info.error = "broken", reason
        if self.pm.get_plugin(info.name) is not None:
            self.pm.unregister(name=info.name)
        if self.strict:
            raise PluginError(f"{info.label} is broken: {reason}") from exc
        log.warning("%s is broken and was skipped: %s", info.label, reason)

    # -- calling hooks ------------------------------------------------------------------------------

    def implementers(self, hook: str) -> list[PluginInfo]:
        """The loaded plugins implementing ``hook`` (wrappers aside), in registration order."""
        caller = getattr(self.pm.hook, hook, None)
        if caller is None:  # neither declared nor implemented (a plugin that adds it is not installed)
            return []
        found = []
        for impl in caller.get_hookimpls():
            info = self.plugins.get(impl.plugin_name)
            if info is not None and info.status == "ok" and not (impl.wrapper or impl.hookwrapper):
                found.append(info)
        return found

    def call_plugin(self, hook: str, plugin: str, **kwargs: Any) -> Any:
        """Call one plugin's implementation of ``hook`` through pluggy and return what it returned.

        Other plugins' wrappers of the hook, ``pm.add_hookcall_monitoring`` and tracing apply; an exception
        the implementation raises propagates.
        """
        caller = getattr(self.pm.hook, hook)
        this = self.pm.get_plugin(plugin)
        others = [
            i.plugin
            for i in caller.get_hookimpls()
            if i.plugin is not this and not (i.wrapper or i.hookwrapper)
        ]
        result = self.pm.subset_hook_caller(hook, remove_plugins=others)(**kwargs)
        if caller.spec is not None and caller.spec.opts.get("firstresult"):
            return result
        return result[0] if result else None

    def call_each(
        self, hook: str, validate: Callable[[Any], Any] | None = None, **kwargs: Any
    ) -> list[tuple[PluginInfo, Any]]:
        """Call ``hook`` through pluggy once per loaded plugin implementing it: ``[(plugin, result), ...]``.

        ``validate`` turns a result into what the caller wants, raising on a wrong one. A plugin whose hook
        raises, or whose result ``validate`` rejects, is marked broken (and skipped, or raised in strict mode).
        """
        results: list[tuple[PluginInfo, Any]] = []
        for info in self.implementers(hook):
            try:
                returned = self.call_plugin(hook, info.name, **kwargs)
                results.append((info, validate(returned) if validate else returned))
            except Exception as exc:
                self._broken(info, f"{hook} failed: {type(exc).__name__}: {exc}", exc)
        return results

    def _records_of(self, hook: str, record_type: type[R]) -> list[tuple[PluginInfo, list[R]]]:
        return self.call_each(hook, lambda returned: _list_of(hook, returned, record_type))

    # -- records ------------------------------------------------------------------------------------

    def _collect(self) -> dict[str, dict[str, list[Registration]]]:
        if self._records is not None:
            return self._records
        by_plugin: dict[str, list[Registration]] = {}
        for kind in KINDS.values():
            for info, records in self._records_of(kind.hook, kind.record_type):
                provider = info.distribution or info.name
                by_plugin.setdefault(info.name, []).extend(r.with_provider(provider) for r in records)
        known: dict[tuple[str, str], KnownComponent] = {}
        for info, entries in self._records_of(_KNOWN_HOOK, KnownComponent):
            for entry in entries:
                provider = info.distribution or info.name
                known.setdefault((entry.kind, entry.name), dataclasses.replace(entry, provider=provider))
        merged: dict[str, dict[str, list[Registration]]] = {kind: {} for kind in KINDS}
        for name, info in self.plugins.items():
            info.components = by_plugin.get(name, []) if info.status == "ok" else []
            for record in info.components:
                merged[record.kind].setdefault(record.name, []).append(record)
        self._records, self._known = merged, known
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
            raise self.unknown_component(kind, name, self._collect()[kind], where)
        return self._unique(kind, name, found)

    def known_component(self, name: str, kinds: Iterable[str] | None = None) -> KnownComponent | None:
        """What a plugin said provides the component ``name`` (of one of ``kinds``) that is not installed."""
        collected = self._collect()
        for kind in kinds or KINDS:
            entry = self._known.get((kind, name))
            if entry is not None and name not in collected[kind]:
                return entry
        return None

    def unknown_component(
        self,
        label: str,
        name: str,
        known: Iterable[str],
        where: str = "",
        *,
        kinds: Iterable[str] | None = None,
    ) -> UnknownComponentError:
        """The error for an unknown component ``name``, saying what to install where a plugin knows it.

        ``label`` names what was asked for (``runtime``, ``compiler or converter``); ``kinds`` are the kinds
        it may be (default: ``label`` when that is a kind, else every kind).
        """
        if kinds is None:
            kinds = [label] if label in KINDS else list(KINDS)
        entry = self.known_component(name, kinds)
        if entry is None:
            return UnknownComponentError(label, name, known, where)
        return UnknownComponentError(
            label, name, known, where, distribution=entry.distribution, install=entry.requirement
        )

    def find(self, name: str) -> list[Registration]:
        """Records of any kind named ``name`` (a name may be both a compiler and a runtime)."""
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
        return sorted(
            self.extra_records("edgeai_register_demo_variants", DemoVariant, kind="demo variant"),
            key=lambda v: (v.order, v.name),
        )

    def extra_records(self, hook: str, record_type: type[R], *, kind: str | None = None) -> list[R]:
        """Records from a collector hook outside the component kinds (``edgeai_register_grid_suites``,
        ``edgeai_register_onnx_backends``, a hook a plugin added), sorted by name, with ``provider`` filled in.
        ``record_type`` is a dataclass with ``name`` and ``provider`` fields. A plugin whose hook raises or
        returns something else is marked broken and skipped; a name registered twice raises."""
        self._collect()
        found: dict[str, Any] = {}
        for info, records in self._records_of(hook, record_type):
            provider = info.distribution or info.name
            record: Any
            for record in records:
                if record.name in found:
                    label = kind or str(getattr(record, "kind", hook))
                    raise DuplicateComponentError(label, record.name, [found[record.name].provider, provider])
                found[record.name] = dataclasses.replace(record, provider=provider)
        return [found[name] for name in sorted(found)]

    def add_commands(self, cli: click.Group) -> None:
        """Let plugins add CLI commands; a plugin whose hook raises is marked broken."""
        self.call_each("edgeai_register_commands", cli=cli)


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
