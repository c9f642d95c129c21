"""Output folders of the commands that write results: a rerun never replaces earlier results silently.

``-o DIR`` naming a folder that already holds results (``results.json``, ``results.partial.jsonl``, a command's
own summary file, or those of a variant's sub-folder) is refused with one line and exit code 2, unless
``--force``: the run then writes over them (each file it writes is replaced; nothing else is deleted). The
folder a command used is remembered, so an interrupted command says where its partial results are.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

import click

from edgeai_core.errors import UsageError

F = TypeVar("F", bound=Callable[..., Any])

#: What a run leaves in its folder, finished or not.
RUN_FILES = ("results.json", "results.partial.jsonl")


def force_option(function: F) -> F:
    """``--force``: replace the results an earlier run left in the output folder."""
    return click.option(
        "--force",
        is_flag=True,
        help="Write over the results an earlier run left in the output folder (refused without it).",
    )(function)


def existing_results(folder: Path, names: Sequence[str] = RUN_FILES, *, nested: bool = False) -> Path | None:
    """The first results file in ``folder`` (or, with ``nested``, in a sub-folder of it), else None."""
    if not folder.is_dir():
        return None
    for name in names:
        if (folder / name).is_file():
            return folder / name
    if nested:
        for sub in sorted(p for p in folder.iterdir() if p.is_dir()):
            for name in RUN_FILES:
                if (sub / name).is_file():
                    return sub / name
    return None


def claim_output(
    folder: Path,
    *,
    force: bool,
    names: Sequence[str] = RUN_FILES,
    nested: bool = False,
    option: str = "-o",
    ctx: click.Context | None = None,
) -> None:
    """Refuse ``folder`` where it holds results and ``force`` is off (:class:`UsageError`, exit 2); remember
    it as the command's output for the interrupted message."""
    found = existing_results(folder, names, nested=nested)
    if found is not None and not force:
        raise UsageError(
            f"{option}: {folder} already holds results ({found.relative_to(folder)}); "
            "pass --force to replace them, or give another folder"
        )
    remember_output(folder, ctx)


def remember_output(folder: Path, ctx: click.Context | None = None) -> None:
    """Note ``folder`` as where this command writes (named when it is interrupted)."""
    ctx = ctx or click.get_current_context(silent=True)
    if ctx is not None:
        ctx.find_root().ensure_object(dict)["output"] = folder


def explicit_output(ctx: click.Context, name: str = "output") -> bool:
    """Whether the output folder was given (``-o``): a command's default folder is scratch space that each
    run replaces, as it always was."""
    from click.core import ParameterSource

    return ctx.get_parameter_source(name) not in (ParameterSource.DEFAULT, None)


def interrupted_message(exc: BaseException, ctx: click.Context) -> str:
    """``interrupted; partial results in X``: the run's results.json where the runner wrote one, else the
    command's output folder, else just ``interrupted``."""
    results = getattr(exc, "results", None)
    output = ctx.find_root().ensure_object(dict).get("output")
    if results is not None:
        message = f"interrupted; partial results in {results}"
        if output is not None and Path(output) not in Path(results).parents and Path(output) != Path(results):
            message += f" (the command's output: {output})"
        return message
    if output is not None:
        return f"interrupted; what was written so far is in {output}"
    return "interrupted"
