"""Shell completion of component names and kinds (click's completion: ``_EDGEAI_COMPLETE=bash_source edgeai``).

The callbacks read registration records only (the plugins' ``plugin.py`` modules, never a framework), so a
TAB stays quick; any error while looking names up completes nothing rather than printing a traceback.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import click
from click.shell_completion import CompletionItem

Complete = Callable[[click.Context, click.Parameter, str], list[CompletionItem]]


def _items(pairs: Iterable[tuple[str, str]], incomplete: str) -> list[CompletionItem]:
    return [CompletionItem(name, help=help or None) for name, help in pairs if name.startswith(incomplete)]


def _host(ctx: click.Context) -> Any:
    from edgeai_core.cli import host_for

    return host_for(ctx)


def complete_component(*kinds: str) -> Complete:
    """Names of the installed components of ``kinds`` (every kind when none is given)."""

    def complete(ctx: click.Context, param: click.Parameter, incomplete: str) -> list[CompletionItem]:
        try:
            records = (
                [r for kind in kinds for r in _host(ctx).records(kind)] if kinds else _host(ctx).records()
            )
            return _items(((r.name, f"{r.kind}: {r.summary}") for r in records), incomplete)
        except Exception:
            return []

    return complete


def complete_kind(ctx: click.Context, param: click.Parameter, incomplete: str) -> list[CompletionItem]:
    """The component kinds (``dataset``, ``model``, ...), as ``edgeai list KIND`` takes them."""
    from edgeai_core.records import KINDS

    return _items(((kind, "") for kind in KINDS), incomplete)


def complete_describable(ctx: click.Context, param: click.Parameter, incomplete: str) -> list[CompletionItem]:
    """What ``edgeai describe`` explains: component names, ``KIND:NAME`` and the settings tables."""
    from edgeai_core.cli.info import SETTINGS

    items = complete_component()(ctx, param, incomplete)
    if ":" in incomplete:
        kind, _, short = incomplete.partition(":")
        qualified = complete_component(kind)(ctx, param, short) if kind else []
        items = [CompletionItem(f"{kind}:{i.value}", help=i.help) for i in qualified]
    return items + _items(((name, "settings table") for name in SETTINGS), incomplete)


def complete_demo_variant(
    ctx: click.Context, param: click.Parameter, incomplete: str
) -> list[CompletionItem]:
    """The demo variants the installed plugins contribute."""
    try:
        return _items(((v.name, v.summary) for v in _host(ctx).demo_variants()), incomplete)
    except Exception:
        return []
