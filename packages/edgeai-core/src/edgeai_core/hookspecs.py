"""Hook specifications: the plugin author's manual.

An edgeai plugin is a Python module that implements some of the hooks below, marked with
``edgeai_core.hookimpl``, and is announced to edgeai through an entry point in the ``edgeai`` group::

    # pyproject.toml of your distribution
    [project.entry-points.edgeai]
    mybackend = "mybackend.plugin"

``pip install`` your distribution and ``edgeai plugins`` shows it; nothing in edgeai has to change.

Rules for the plugin module (``mybackend/plugin.py``):

* It must be cheap to import: never import a heavy framework (torch, tensorflow, tvm, onnxruntime)
  at module level. Records name their implementation lazily (``factory="mybackend.runtime:MyRuntime"``);
  edgeai imports it only when the component is actually built.
* Collector hooks return a list of records (or an empty list). Each record's ``name`` must be unique
  within its kind across all installed plugins; a clash is an error naming both distributions.
* A module that raises on import, or a hook that raises, marks the plugin *broken*: it is reported by
  ``edgeai plugins`` and skipped (or, with ``EDGEAI_STRICT_PLUGINS=1``, raised).
* So does a function named like a hook that pluggy would silently never call: an ``edgeai_*`` function marked
  ``@hookimpl`` whose name matches no hook below (the error names the closest hook), or a module-level
  ``edgeai_*`` function without ``@hookimpl``.

Every component class is built as ``Factory(record=record, params=validated_params, **context)``; the
base classes in :mod:`edgeai_core.components` accept exactly that.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pluggy

from edgeai_core.records import KINDS as _KINDS

if TYPE_CHECKING:
    from pathlib import Path

    import click

    from edgeai_core.records import (
        AnalyzerRecord,
        CompilerRecord,
        ConverterRecord,
        DatasetRecord,
        DemoVariant,
        ExecutorRecord,
        GridSuiteRecord,
        KnownComponent,
        ModelRecord,
        OnnxBackendRecord,
        ProbeRecord,
        ProtocolRecord,
        RuntimeRecord,
    )
    from edgeai_core.targetprofiles import TargetProfile

PROJECT = "edgeai"
hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


@hookspec
def edgeai_register_datasets() -> list[DatasetRecord]:
    """Register datasets.

    Receives nothing. Returns a list of :class:`~edgeai_core.records.DatasetRecord`; each ``factory``
    names a subclass of :class:`~edgeai_core.components.Dataset`. ``task`` tells the planner which
    models fit and how predictions are evaluated.

    Example::

        from edgeai_core import DatasetRecord, Param, hookimpl

        @hookimpl
        def edgeai_register_datasets():
            return [DatasetRecord(
                name="my-images",
                summary="My labelled product photos",
                factory="mypkg.data:ProductPhotos",
                task="classification",
                params=(Param("root", "path", help="folder with one subfolder per class"),),
            )]
    """


@hookspec
def edgeai_register_models() -> list[ModelRecord]:
    """Register models.

    Receives nothing. Returns a list of :class:`~edgeai_core.records.ModelRecord`; each ``factory`` names
    a subclass of :class:`~edgeai_core.components.Model`. ``format`` is the artifact format the model
    produces (``torch``, ``keras``, ``onnx``, ...): the planner chains steps from it. ``tasks`` lists the
    dataset tasks it serves; ``trainable=False`` for load-only models (a user's ``.onnx`` file).
    ``loads`` lists the file extensions such a model loads from its ``path`` parameter
    (``loads=(".onnx",)``), so that ``edgeai bench model.onnx`` finds it.

    Example::

        @hookimpl
        def edgeai_register_models():
            return [ModelRecord(
                name="tiny-cnn", summary="A small CNN", factory="mypkg.models:TinyCnn",
                format="torch", tasks=("classification",),
                params=(Param("epochs", "int", default=10, help="training epochs", minimum=1),),
            )]
    """


@hookspec
def edgeai_register_compilers() -> list[CompilerRecord]:
    """Register compilers and optimizers (quantizers, pruners, code generators).

    Receives nothing. Returns a list of :class:`~edgeai_core.records.CompilerRecord`; each ``factory``
    names a subclass of :class:`~edgeai_core.components.Compiler`. ``input_formats`` are the artifact
    formats it accepts, ``output_format`` the one it produces; set ``needs_dataset=True`` when it calibrates
    on the dataset's calibration subset.

    Example::

        @hookimpl
        def edgeai_register_compilers():
            return [CompilerRecord(
                name="my-quantizer", summary="int8 post-training quantization",
                factory="mypkg.quant:MyQuantizer", input_formats=("onnx",), output_format="onnx",
                needs_dataset=True,
            )]
    """


@hookspec
def edgeai_register_runtimes() -> list[RuntimeRecord]:
    """Register inference runtimes.

    Receives nothing. Returns a list of :class:`~edgeai_core.records.RuntimeRecord`; each ``factory``
    names a subclass of :class:`~edgeai_core.components.Runtime`. ``formats`` lists the artifact formats
    it loads; ``edgeai serve --runtime NAME`` accepts only those.

    Example::

        @hookimpl
        def edgeai_register_runtimes():
            return [RuntimeRecord(
                name="my-npu", summary="Vendor NPU runtime", factory="mypkg.npu:NpuRuntime",
                formats=("my-npu-blob",), install="mypkg[npu]",
                params=(Param("device", "str", default="/dev/npu0", help="device node"),),
            )]
    """


@hookspec
def edgeai_register_protocols() -> list[ProtocolRecord]:
    """Register host<->target transports for the edgeai wire protocol.

    Receives nothing. Returns a list of :class:`~edgeai_core.records.ProtocolRecord`; each ``factory``
    names a subclass of :class:`~edgeai_core.components.Protocol`, which opens byte streams to and from
    a target. Message framing is the core's; a transport moves bytes.

    Example::

        @hookimpl
        def edgeai_register_protocols():
            return [ProtocolRecord(
                name="usb-bulk", summary="USB bulk endpoints", factory="mypkg.usb:UsbBulk",
                params=(Param("vid", "int", help="USB vendor id"),),
            )]
    """


@hookspec
def edgeai_register_converters() -> list[ConverterRecord]:
    """Register format converters.

    Receives nothing. Returns a list of :class:`~edgeai_core.records.ConverterRecord`; each ``factory``
    names a subclass of :class:`~edgeai_core.components.Converter` turning ``input_format`` into
    ``output_format``. The planner inserts converters where a pipeline's formats do not chain, and the
    ONNX support grid exports every model a converter lists.

    Example::

        @hookimpl
        def edgeai_register_converters():
            return [ConverterRecord(
                name="jax-to-onnx", summary="JAX function to ONNX", factory="mypkg.conv:JaxToOnnx",
                input_format="jax", output_format="onnx",
            )]
    """


@hookspec
def edgeai_register_probes() -> list[ProbeRecord]:
    """Register resource probes sampled during benchmarks next to CPU and RSS.

    Receives nothing. Returns a list of :class:`~edgeai_core.records.ProbeRecord`; each ``factory``
    names a subclass of :class:`~edgeai_core.components.ResourceProbe` whose ``sample()`` returns a dict of
    numbers (``{"gpu_percent": 37.0, "gpu_memory_bytes": 1.2e9}``). A probe that cannot work on this
    machine (no GPU) raises from its constructor and is left out of the run, with a note in the results.

    Example::

        @hookimpl
        def edgeai_register_probes():
            return [ProbeRecord(name="nvidia-gpu", summary="GPU load via NVML", factory="mypkg.gpu:NvmlProbe")]
    """


@hookspec
def edgeai_register_analyzers() -> list[AnalyzerRecord]:
    """Register model analyzers: components that compute an artifact's complexity without running it.

    Receives nothing. Returns a list of :class:`~edgeai_core.records.AnalyzerRecord`; each ``factory`` names a
    subclass of :class:`~edgeai_core.components.ModelAnalyzer` whose ``analyze(artifact)`` returns a
    :class:`~edgeai_core.complexity.ModelComplexity` (per layer: operator, shapes, parameters, weight bytes,
    MACs, FLOPs; totals and peak activation memory). ``formats`` names the artifact formats it reads. Fit
    checks against target profiles and the report use whichever analyzer reads the artifact's format.

    Example::

        @hookimpl
        def edgeai_register_analyzers():
            return [AnalyzerRecord(
                name="tflite-analyzer", summary="Complexity of a TFLite flatbuffer",
                factory="mypkg.analyze:TfliteAnalyzer", formats=("tflite",),
            )]
    """


@hookspec
def edgeai_register_targets() -> list[TargetProfile]:
    """Register target profiles: device classes with their figures, for fit checks and results.

    Receives nothing. Returns a list of :class:`~edgeai_core.targetprofiles.TargetProfile`: data, no factory
    (name, summary, CPU architecture and LLVM triple, cores, clock, RAM, storage or flash, runtimes, formats,
    the element types it computes in, optional operator allow-lists per runtime, a TVM target string, a
    TFLite delegate, how to reach it, runtime overheads where known, and ``source``: where the figures come
    from). ``edgeai list target`` lists them, ``edgeai check MODEL --target NAME`` checks a model against one,
    and a pipeline config's ``[target] profile = "NAME"`` says whose numbers a run's are. Keep the figures in
    data files and read them here (see edgeai-targets); users add their own in a TOML file with the same
    fields (``--targets FILE``), which replace a plugin's profile of the same name.

    Example::

        from edgeai_core.api import TargetProfile, hookimpl

        @hookimpl
        def edgeai_register_targets():
            return [TargetProfile(
                name="my-board", summary="My Cortex-A53 board, 512 MiB", arch="aarch64",
                triple="aarch64-unknown-linux-gnu", cores=4, clock_mhz=1200, ram_bytes=512 << 20,
                runtimes=("tflite",), dtypes=("float32", "int8", "uint8"), source="vendor datasheet rev 3",
            )]
    """


@hookspec
def edgeai_register_executors() -> list[ExecutorRecord]:
    """Register sweep executors: where and when the jobs of ``edgeai sweep`` run.

    Receives nothing. Returns a list of :class:`~edgeai_core.records.ExecutorRecord`; each ``factory`` names a
    subclass of :class:`~edgeai_core.executors.Executor` whose ``execute(execution)`` carries out the sweep's
    compile jobs (one per chain) and run jobs (one per point), keeping the rules in
    :mod:`edgeai_core.executors`: compiles before the runs of their chain, one run at a time per device, a
    failed job never stops the others, nothing new once ``execution.stopping`` is set. Each job is done by
    ``python -m edgeai_core.executors JOB.json`` on the machine that holds the device. ``edgeai sweep
    --executor NAME --set-executor KEY=VALUE`` picks one and sets its parameters; the core has ``local``.

    Example::

        @hookimpl
        def edgeai_register_executors():
            return [ExecutorRecord(
                name="slurm", summary="Jobs as Slurm batch steps", factory="mypkg.slurm:SlurmExecutor",
                params=(Param("partition", "str", default="edge", help="the partition whose nodes hold devices"),),
            )]
    """


@hookspec
def edgeai_sweep_finished(output_dir: Path, results: list[Path], title: str) -> list[Path]:
    """Render what a sweep measured, once it ended (a report plugin implements it).

    Receives the sweep folder, the ``results.json`` of every run that wrote one and a title. Returns the files
    to show the user (an HTML report); the CLI prints them. Like :func:`edgeai_demo_finished`, for sweeps.

    Example::

        @hookimpl
        def edgeai_sweep_finished(output_dir, results, title):
            return [render(results, output_dir / "report", title)]
    """


@hookspec
def edgeai_register_demo_variants() -> list[DemoVariant]:
    """Add rows to ``edgeai demo``, the end-to-end run on bundled data that a newcomer runs first.

    Receives nothing. Returns a list of :class:`~edgeai_core.records.DemoVariant`: a name, a one-line summary
    and a pipeline config naming ``dataset``, ``model``, optional ``steps`` and ``runtime``. The demo trains
    each distinct dataset+model pair once, hands the checkpoint to every variant as ``model.checkpoint``, runs
    the variants in ``order`` and prints one table. A variant whose components are not installed is skipped
    with the reason.

    Example::

        @hookimpl
        def edgeai_register_demo_variants():
            return [DemoVariant(
                name="my-npu-int8", summary="tiny CNN, int8, on my NPU runtime", order=60,
                config={"dataset": {"name": "my-images"}, "model": {"name": "tiny-cnn"},
                        "steps": [{"name": "my-quantizer"}], "runtime": {"name": "my-npu"}},
            )]
    """


@hookspec
def edgeai_register_commands(cli: click.Group) -> None:
    """Add commands to the ``edgeai`` CLI.

    Receives the root :class:`click.Group`. Returns nothing; call ``cli.add_command(...)``. Import heavy
    frameworks inside the command's function, never at module level, so ``edgeai --help`` stays fast.
    Raise :class:`edgeai_core.errors.EdgeaiError` subclasses for failures: the CLI prints them as one line.

    Example::

        import click

        @hookimpl
        def edgeai_register_commands(cli):
            @cli.command()
            @click.argument("results", nargs=-1)
            def summarize(results):
                "Print a one-line summary of each results file."
                ...
    """


@hookspec
def edgeai_demo_finished(output_dir: Path, results: list[Path]) -> list[Path]:
    """Act on the results of ``edgeai demo`` once every variant has run (a report plugin renders a comparison).

    Receives the demo's output folder and the ``results.json`` of every variant that wrote one (failed
    variants included; skipped ones have none). Returns a list of the files the plugin wrote for the user
    to open (or an empty list); the demo prints them and lists them under ``reports`` in ``summary.json``.
    Write inside ``output_dir``. A hook that raises is reported as a warning and does not fail the demo,
    whose measurements are already saved.

    Example::

        @hookimpl
        def edgeai_demo_finished(output_dir, results):
            page = output_dir / "leaderboard.html"
            page.write_text(render_leaderboard(results))
            return [page]
    """


@hookspec
def edgeai_register_grid_suites() -> list[GridSuiteRecord]:
    """Add a framework to the ONNX support grid (``edgeai grid``): its models and its way to and from ONNX.

    Receives nothing. Returns a list of :class:`~edgeai_core.records.GridSuiteRecord`; each ``factory`` names
    a subclass of :class:`edgeai_core.api.GridSuite`, which lists the models (the plugin's own plus standard
    layers and blocks), builds one with seeded weights and inputs, runs it natively, exports it to ONNX like the
    plugin's converter does, and imports ONNX back where the framework can (else it raises
    :class:`edgeai_core.api.ImportUnsupported` with the reason). The grid (``edgeai grid``, contributed by
    the plugin that provides the compatibility commands; the suite needs nothing from it) runs each suite in
    a worker process, compares the exported model in an ONNX runtime with the native outputs, and records
    every cell's failure.
    ``params`` become ``edgeai grid --set SUITE.PARAM=VALUE`` options.

    Example::

        from edgeai_core import GridSuiteRecord, Param, hookimpl

        @hookimpl
        def edgeai_register_grid_suites():
            return [GridSuiteRecord(
                name="jax", summary="JAX layers exported with jax2onnx", factory="mypkg.grid:JaxSuite",
                framework="jax", converter="jax-to-onnx", install="mypkg[onnx]",
                params=(Param("opset", "int", default=17, minimum=7, help="ONNX opset to export"),),
            )]
    """


@hookspec
def edgeai_register_onnx_backends() -> list[OnnxBackendRecord]:
    """Add an ONNX-consuming backend to ``edgeai onnx-backend-tests`` (ONNX's own backend test data).

    Receives nothing. Returns a list of :class:`~edgeai_core.records.OnnxBackendRecord`; each ``factory``
    names a subclass of :class:`edgeai_core.api.OnnxBackend`, whose ``prepare(path, inputs)`` loads or
    compiles an ONNX file for those inputs (raising if it cannot: the case "failed to compile") and returns a
    :class:`edgeai_core.api.BackendSession` that runs it. The command comes from the plugin that
    provides the compatibility commands; the backend needs nothing from it. Compile through your plugin's own
    components so the suite tests what a pipeline would run. ``uses`` names those components for the report.

    Example::

        @hookimpl
        def edgeai_register_onnx_backends():
            return [OnnxBackendRecord(
                name="my-npu", summary="ONNX -> NPU blob, run on the NPU simulator",
                factory="mypkg.onnx_suite:NpuBackend", uses=("compiler:my-npu", "runtime:my-npu"),
                install="mypkg[compile]",
            )]
    """


@hookspec
def edgeai_known_components() -> list[KnownComponent]:
    """Name components that exist elsewhere, so a config naming one that is not installed says what to install.

    Receives nothing. Returns a list of :class:`~edgeai_core.records.KnownComponent`: a kind, a name and the
    distribution that provides it (``install`` when the pip requirement differs, e.g. an extra). Name the
    components of other distributions that your pipelines reach (the runtimes that load what your converter
    writes, the datasets your models train on), or your own that need an extra this environment lacks. They are
    never built or listed: only an unknown name that matches one gets "it comes with DIST: pip install REQ".
    Names that are installed win; when plugins disagree, the first loaded wins.

    Example::

        from edgeai_core.api import KnownComponent, hookimpl

        @hookimpl
        def edgeai_known_components():
            return KnownComponent.catalog({"npu-tools": ["compiler:npu-compile", "runtime:npu"]})
    """


@hookspec
def edgeai_add_hookspecs(pm: pluggy.PluginManager) -> None:
    """Add hook specifications of your own, so a feature package can grow hooks without changing edgeai-core.

    Receives the :class:`pluggy.PluginManager` of the plugin host. Returns nothing; call
    ``pm.add_hookspecs(your_hookspecs_module)``. Called once for your plugin, as soon as it is registered
    (like pytest's ``pytest_addhooks``) and before unknown hooks are checked, so other plugins may implement
    the new hooks. Prefix the hook names with ``edgeai_`` and your package's name, declare them with
    ``edgeai_core.api.hookspec``, and collect their results with ``PluginHost.extra_records`` (records) or
    ``PluginHost.call_each`` (anything else): both call every plugin through pluggy and isolate one that raises.

    Example::

        # mypkg/hookspecs.py
        from edgeai_core.api import hookspec

        @hookspec
        def edgeai_mypkg_register_boards():
            "Return a list of BoardRecord."

        # mypkg/plugin.py
        from edgeai_core.api import hookimpl
        from mypkg import hookspecs

        @hookimpl
        def edgeai_add_hookspecs(pm):
            pm.add_hookspecs(hookspecs)
    """


#: ``{kind: collector hook name}``, derived from :data:`edgeai_core.records.KINDS`.
COLLECTORS: dict[str, str] = {name: kind.hook for name, kind in _KINDS.items()}
