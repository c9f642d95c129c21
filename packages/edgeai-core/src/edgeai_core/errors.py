"""The exception hierarchy of edgeai.

Library code raises these; only the CLI turns them into one actionable line and an exit code
(2 for usage errors: a bad config, parameter or name; 1 for failures while running).
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable


class EdgeaiError(Exception):
    """Base of every error edgeai raises on purpose. ``exit_code`` is what the CLI exits with."""

    exit_code = 1


class UsageError(EdgeaiError):
    """The user asked for something that cannot work (bad config, name or parameter): exit code 2."""

    exit_code = 2


class ConfigError(UsageError):
    """A pipeline config file is unreadable or malformed."""


class ParameterError(UsageError):
    """A component parameter is unknown, missing or of the wrong type. ``field`` is its dotted path."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field


class UnknownComponentError(UsageError):
    """No installed plugin registers a component of that kind and name.

    ``distribution`` and ``install`` say where it comes from when an installed plugin knows (the plugin host
    fills them in from ``edgeai_known_components``): the message then says what to ``pip install``.
    """

    def __init__(
        self,
        kind: str,
        name: str,
        known: Iterable[str],
        where: str = "",
        *,
        distribution: str = "",
        install: str = "",
    ) -> None:
        known = sorted(known)
        self.kind, self.name, self.known = kind, name, known
        self.distribution, self.install = distribution, install or distribution
        prefix = f"{where}: " if where else ""
        message = f"{prefix}unknown {kind} '{name}'"
        close = difflib.get_close_matches(name, known, n=1, cutoff=0.5)
        if self.distribution:
            message += f"; it comes with {self.distribution}: pip install {self.install}"
        elif close:
            message += f"; did you mean '{close[0]}'?"
        elif known:
            message += f" (installed: {', '.join(known)})"
        else:
            message += f" (no {kind} is installed; `edgeai plugins` lists what is)"
        super().__init__(message)


class PlanError(UsageError):
    """The pipeline's formats do not chain (and no converter path bridges them)."""


class PluginError(EdgeaiError):
    """A plugin failed to load (raised only in strict mode; otherwise it is reported and skipped)."""


class DuplicateComponentError(PluginError):
    """Two plugins register a component of the same kind under the same name."""

    def __init__(self, kind: str, name: str, providers: Iterable[str]) -> None:
        providers = sorted(set(providers))
        super().__init__(
            f"{kind} '{name}' is registered by more than one plugin: {' and '.join(providers)}; "
            "uninstall one of them or disable it with EDGEAI_DISABLE_PLUGINS"
        )
        self.kind, self.name, self.providers = kind, name, providers


class MissingDependencyError(EdgeaiError):
    """A component needs a framework that is not installed. The message names what to pip install."""

    def __init__(self, component: str, missing: str, install: str) -> None:
        super().__init__(f"{component} needs '{missing}', which is not installed: pip install {install}")
        self.component, self.missing, self.install = component, missing, install


class ArtifactError(EdgeaiError):
    """An artifact file or its sidecar is missing, unreadable or of the wrong format."""


class DatasetError(EdgeaiError):
    """A dataset is absent, incomplete or corrupt."""


class RuntimeFailure(EdgeaiError):
    """A runtime failed to load a model or to run inference."""


def closest(name: str, candidates: Iterable[str]) -> str | None:
    """Return the candidate closest to ``name``, or None if nothing is close."""
    found = difflib.get_close_matches(name, list(candidates), n=1, cutoff=0.5)
    return found[0] if found else None
