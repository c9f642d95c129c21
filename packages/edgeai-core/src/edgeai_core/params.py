"""One declaration of a component's parameters, from which everything else is derived.

A plugin declares each parameter once, as a :class:`Param` in its registration record. From that
declaration edgeai derives config-file validation (:meth:`ParamSet.validate`), command-line options
(:meth:`ParamSet.click_options`), a JSON Schema (:meth:`ParamSet.json_schema`) and error messages that
name the offending field by its dotted path (``runtime.threads: must be an integer >= 1, got 'two'``).

Example::

    PARAMS = (
        Param("threads", "int", default=1, help="intra-op threads", minimum=1),
        Param("mode", "choice", default="static", choices=("static", "dynamic"), help="quantization mode"),
        Param("checkpoint", "path", default=None, help="load weights from this file instead of training"),
    )
"""

from __future__ import annotations

import contextlib
import copy
import json
import math
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edgeai_core.errors import ParameterError, closest
from edgeai_core.jsonvalues import jsonable

#: Marker for a parameter without a default: it must be given.
REQUIRED: Any = type("Required", (), {"__repr__": lambda self: "REQUIRED"})()

SCALAR_TYPES = ("int", "float", "str", "bool", "path", "choice")
LIST_TYPES = ("list[int]", "list[float]", "list[str]")
PARAM_TYPES = SCALAR_TYPES + LIST_TYPES + ("dict",)
_NAME = re.compile(r"^[a-z][a-z0-9_]*$")
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


@dataclass(frozen=True)
class Param:
    """One parameter of a component.

    ``type`` is one of ``int``, ``float``, ``str``, ``bool``, ``path``, ``choice`` (with ``choices``),
    ``list[int]``, ``list[float]``, ``list[str]`` or ``dict`` (a free-form table, e.g. a TVM target).
    A default of ``None`` makes the parameter optional with no value; :data:`REQUIRED` makes it mandatory.
    ``minimum``/``maximum`` bound numbers (and every element of numeric lists).

    ``host``: a runtime parameter that a host may set per model over the wire (IOSPEC ``runtime.params``).
    Everything else is the target operator's (``edgeai serve --runtime-NAME`` / ``--set runtime.NAME=``).
    Mark only parameters that cannot make the target load code or touch files: thread counts, optimization
    levels, execution modes. A ``path`` parameter can never be host-settable.
    """

    name: str
    type: str
    default: Any = REQUIRED
    help: str = ""
    choices: tuple[str, ...] = ()
    minimum: float | None = None
    maximum: float | None = None
    host: bool = False

    def __post_init__(self) -> None:
        if not _NAME.match(self.name):
            raise ValueError(f"parameter name {self.name!r} must be lowercase snake_case")
        if self.host and self.type == "path":
            raise ValueError(f"parameter {self.name!r}: a path parameter cannot be host-settable")
        if self.type not in PARAM_TYPES:
            raise ValueError(
                f"parameter {self.name!r}: type {self.type!r} is not one of {', '.join(PARAM_TYPES)}"
            )
        if self.type == "choice" and not self.choices:
            raise ValueError(f"parameter {self.name!r}: a choice needs choices")
        if not self.help:
            raise ValueError(f"parameter {self.name!r} needs a help text")
        if self.default is not REQUIRED and self.default is not None:
            default = self.coerce(self.default, self.name)
            # records are frozen and hashable: keep list defaults as tuples (validate hands out lists)
            object.__setattr__(self, "default", tuple(default) if isinstance(default, list) else default)

    @property
    def required(self) -> bool:
        return self.default is REQUIRED

    @property
    def option(self) -> str:
        """The command-line spelling: ``--batch-size`` for ``batch_size``."""
        return "--" + self.name.replace("_", "-")

    def describe_type(self) -> str:
        if self.type == "choice":
            return "one of " + ", ".join(self.choices)
        return self.type

    # -- validation -------------------------------------------------------------------------------

    def coerce(self, value: Any, field: str) -> Any:
        """Return ``value`` converted to this parameter's type, or raise :class:`ParameterError` naming ``field``.

        Strings are accepted for every type (they come from ``--set k=v`` and CLI options).
        """
        if value is None:
            if self.default is None:
                return None
            raise ParameterError(field, f"needs a value ({self.describe_type()})")
        if self.type in LIST_TYPES:
            item_type = self.type[5:-1]
            if isinstance(value, str):
                value = _split_list(value)
            if not isinstance(value, (list, tuple)):
                raise ParameterError(field, f"must be a list of {item_type}, got {value!r}")
            return [self._scalar(item_type, v, f"{field}[{i}]") for i, v in enumerate(value)]
        if self.type == "dict":
            if isinstance(value, str):
                try:
                    value = json.loads(value)
                except json.JSONDecodeError:
                    raise ParameterError(field, f"must be a table (JSON object), got {value!r}") from None
            if not isinstance(value, Mapping):
                raise ParameterError(field, f"must be a table (JSON object), got {value!r}")
            return dict(value)
        return self._scalar(self.type, value, field)

    def _scalar(self, kind: str, value: Any, field: str) -> Any:
        if kind == "bool":
            if isinstance(value, bool):
                return value
            if isinstance(value, str) and value.lower() in _TRUE | _FALSE:
                return value.lower() in _TRUE
            if isinstance(value, int) and value in (0, 1):
                return bool(value)
            raise ParameterError(field, f"must be true or false, got {value!r}")
        if kind == "int":
            if isinstance(value, bool):
                raise ParameterError(field, f"must be an integer, got {value!r}")
            if isinstance(value, float) and value.is_integer():
                value = int(value)
            if isinstance(value, str):
                text = value.strip()
                with contextlib.suppress(ValueError):  # decimal ("08" too), else 0x/0o/0b prefixes
                    value = int(text) if text.lstrip("+-").isdigit() else int(text, 0)
            if not isinstance(value, int):
                raise ParameterError(field, f"must be an integer{self._bounds()}, got {value!r}")
            return self._check_bounds(value, field, "an integer")
        if kind == "float":
            if isinstance(value, bool):
                raise ParameterError(field, f"must be a number, got {value!r}")
            if isinstance(value, str):
                with contextlib.suppress(ValueError):
                    value = float(value)
            if not isinstance(value, (int, float)):
                raise ParameterError(field, f"must be a number{self._bounds()}, got {value!r}")
            if not math.isfinite(value):  # NaN slips through bounds checks; JSON results cannot hold either
                raise ParameterError(field, f"must be a finite number{self._bounds()}, got {value!r}")
            return self._check_bounds(float(value), field, "a number")
        if kind == "choice":
            if not isinstance(value, str) or value not in self.choices:
                hint = closest(str(value), self.choices)
                suggestion = f"; did you mean '{hint}'?" if hint else ""
                raise ParameterError(
                    field, f"must be one of {', '.join(self.choices)}, got {value!r}{suggestion}"
                )
            return value
        if kind == "path":
            if isinstance(value, Path):
                return value
            if not isinstance(value, str) or not value:
                raise ParameterError(field, f"must be a file path, got {value!r}")
            return Path(value).expanduser()
        # str
        if not isinstance(value, (str, int, float)) or isinstance(value, bool):
            raise ParameterError(field, f"must be a string, got {value!r}")
        return str(value)

    def _bounds(self) -> str:
        parts = []
        if self.minimum is not None:
            parts.append(f">= {_num(self.minimum)}")
        if self.maximum is not None:
            parts.append(f"<= {_num(self.maximum)}")
        return (" " + " and ".join(parts)) if parts else ""

    def _check_bounds(self, value: float, field: str, what: str) -> Any:
        if (self.minimum is not None and value < self.minimum) or (
            self.maximum is not None and value > self.maximum
        ):
            raise ParameterError(field, f"must be {what}{self._bounds()}, got {_num(value)}")
        return value

    # -- derived forms ------------------------------------------------------------------------------

    def json_schema(self) -> dict[str, Any]:
        schema: dict[str, Any]
        scalar = {"int": "integer", "float": "number", "str": "string", "bool": "boolean", "path": "string"}
        if self.type in scalar:
            schema = {"type": scalar[self.type]}
        elif self.type == "choice":
            schema = {"type": "string", "enum": list(self.choices)}
        elif self.type == "dict":
            schema = {"type": "object"}
        else:
            schema = {"type": "array", "items": {"type": scalar[self.type[5:-1]]}}
        target = schema["items"] if self.type in LIST_TYPES else schema
        if self.minimum is not None:
            target["minimum"] = self.minimum
        if self.maximum is not None:
            target["maximum"] = self.maximum
        if self.default is None:
            schema = {"anyOf": [schema, {"type": "null"}]}
        schema["description"] = self.help
        if self.host:
            schema["x-edgeai-host-settable"] = True
        if not self.required:
            schema["default"] = jsonable(self.default)
        return schema


@dataclass(frozen=True)
class ParamSet:
    """The parameters of one component, in declaration order."""

    params: tuple[Param, ...] = field(default_factory=tuple)

    def __post_init__(self) -> None:
        names = [p.name for p in self.params]
        dupes = {n for n in names if names.count(n) > 1}
        if dupes:
            raise ValueError(f"duplicate parameter names: {', '.join(sorted(dupes))}")

    def __iter__(self) -> Iterator[Param]:
        return iter(self.params)

    def __len__(self) -> int:
        return len(self.params)

    def __getitem__(self, name: str) -> Param:
        for p in self.params:
            if p.name == name:
                return p
        raise KeyError(name)

    @property
    def names(self) -> list[str]:
        return [p.name for p in self.params]

    def defaults(self) -> dict[str, Any]:
        return {p.name: p.default for p in self.params if not p.required}

    def validate(self, values: Mapping[str, Any], where: str) -> dict[str, Any]:
        """Check ``values`` against the declaration and fill in defaults.

        ``where`` is the dotted path of the table holding them (``runtime``, ``steps[1]``): every error
        names the field as ``where.name`` and suggests the closest known name for a misspelled one.
        """
        known = {p.name: p for p in self.params}
        result: dict[str, Any] = {}
        for key, value in values.items():
            norm = key.replace("-", "_")
            param = known.get(norm)
            if param is None:
                hint = closest(norm, known)
                if hint:
                    message = f"unknown parameter; did you mean '{hint}'?"
                elif known:
                    message = f"unknown parameter (known: {', '.join(known)})"
                else:
                    message = "unknown parameter (this component takes none)"
                raise ParameterError(_join(where, key), message)
            result[norm] = param.coerce(value, _join(where, norm))
        for param in self.params:
            if param.name not in result:
                if param.required:
                    raise ParameterError(
                        _join(where, param.name), f"is required ({param.describe_type()}): {param.help}"
                    )
                default = param.default
                # a copy: a component mutating its params must not change the declared default
                result[param.name] = list(default) if isinstance(default, tuple) else copy.deepcopy(default)
        return result

    def json_schema(self, title: str = "", description: str = "") -> dict[str, Any]:
        schema: dict[str, Any] = {
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "type": "object",
            "properties": {p.name: p.json_schema() for p in self.params},
            "required": [p.name for p in self.params if p.required],
            "additionalProperties": False,
        }
        if title:
            schema["title"] = title
        if description:
            schema["description"] = description
        return schema

    def click_options(self, prefix: str = "") -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        """A decorator adding one click option per parameter.

        Option values stay unset (``None``) unless given, so they can be layered over a config file;
        the parameter values reach the command as keyword arguments named ``<prefix><name>``.
        Conversion and validation happen in :meth:`validate`, so errors read the same as for config files.
        """
        import click

        def decorate(func: Callable[..., Any]) -> Callable[..., Any]:
            for param in reversed(self.params):
                dest = (prefix + param.name).replace("-", "_")
                flag = "--" + (prefix + param.name).replace("_", "-")
                default = "required" if param.required else f"default: {_num(param.default)}"
                help_text = f"{param.help} [{param.describe_type()}; {default}]"
                if param.type == "bool":
                    no_flag = "--no-" + flag[2:]
                    func = click.option(f"{flag}/{no_flag}", dest, default=None, help=help_text)(func)
                elif param.type in LIST_TYPES:
                    func = click.option(flag, dest, default=None, metavar="A,B,...", help=help_text)(func)
                else:
                    metavar = "|".join(param.choices) if param.type == "choice" else param.type.upper()
                    func = click.option(flag, dest, default=None, metavar=metavar, help=help_text)(func)
            return func

        return decorate

    def from_click(self, kwargs: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
        """Collect the options :meth:`click_options` added that the user actually gave."""
        given = {}
        for param in self.params:
            value = kwargs.get((prefix + param.name).replace("-", "_"))
            if value is not None:
                given[param.name] = value
        return given


def _join(where: str, key: str) -> str:
    return f"{where}.{key}" if where else key


def _split_list(text: str) -> list[str]:
    text = text.strip()
    if text.startswith("["):
        try:
            loaded = json.loads(text)
        except json.JSONDecodeError:
            loaded = None
        if isinstance(loaded, list):
            return loaded
        text = text.strip("[]")
    return [part.strip() for part in text.split(",") if part.strip()]


def _num(value: Any) -> str:
    if isinstance(value, (list, tuple)):  # list defaults, spelled as the option takes them: 8,8
        return ",".join(_num(v) for v in value)
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, Path):
        return str(value)
    return str(value)


def as_paramset(params: Iterable[Param] | ParamSet) -> ParamSet:
    return params if isinstance(params, ParamSet) else ParamSet(tuple(params))
