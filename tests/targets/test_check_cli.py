"""``edgeai check`` end to end on model files and configs, and the fit stage of ``edgeai run`` (``[target]
profile``, ``--force``, ``target_profile`` and ``fit`` in results.json), with the test analyzer of npz-mlp
artifacts (the ONNX analyzer's end-to-end tests are in test_check_e2e.py)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from click.testing import CliRunner

from edgeai_core.cli import cli


def invoke(host: Any, *args: str) -> Any:
    return CliRunner().invoke(cli, list(args), obj={"host": host})


def test_a_small_model_fits_a_board_and_a_microcontroller(targets_host: Any, mlp_file: Path) -> None:
    result = invoke(
        targets_host, "check", str(mlp_file), "--target", "raspberry-pi-4", "--target", "cortex-m4"
    )
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0] == (
        "mlp.npz: npz-mlp, 9.61 k params, 9.47 k MACs, weights 37.5 KiB (float32), peak activations 768 B "
        "[analyzer npz-mlp]"
    )
    assert lines[1].startswith("raspberry-pi-4  fits (RAM margin 4.0 GiB, 100.0%)")
    pi = next(i for i, line in enumerate(lines) if line.startswith("cortex-m4 "))
    assert lines[pi] == "cortex-m4       fits (RAM margin 255 KiB, 99.7%)"
    assert lines[pi + 1].strip() == (
        "ram: 768 B of 256 KiB RAM: activations 768 B; margin 255 KiB (99.7%); not counted (no figure): runtime"
    )
    size = mlp_file.stat().st_size
    assert lines[pi + 2].strip() == (
        f"storage: {(size + 16384) / 1024:.1f} KiB of 1 MiB storage: model file {size / 1024:.1f} KiB + runtime "
        f"tflite-micro 16 KiB; margin {(1024 * 1024 - size - 16384) / 1024:.0f} KiB "
        f"({100 * (1024 * 1024 - size - 16384) / 1024 / 1024:.1f}%)"
    )
    assert lines[pi + 3].strip() == (
        "note: weights stay in flash on this target (weights_in = flash): RAM holds the activations"
    )


def test_a_large_float_model_does_not_fit_the_microcontroller_nor_the_int8_only_board(
    targets_host: Any, tmp_path: Path, mlp_writer: Any
) -> None:
    big = mlp_writer(tmp_path / "big.npz", [1024, 512, 10])  # 2 MiB of float32 weights
    result = invoke(
        targets_host,
        "check",
        str(big),
        "--target",
        "cortex-m4",
        "--target",
        "coral-devboard",
        "--target",
        "host",
    )
    assert result.exit_code == 1, result.output
    verdicts = {
        line.split()[0]: line.split(None, 1)[1] for line in result.output.splitlines()[1:] if line[0] != " "
    }
    size = big.stat().st_size
    needed = size + 16 * 1024
    assert verdicts["cortex-m4"].startswith(
        f"does not fit: needs {needed / 1024 / 1024:.1f} MiB storage, has 1 MiB"
    )
    assert verdicts["coral-devboard"] == (
        "does not fit: computes in float32 (in 3 of 3 layers); the target computes in int8, uint8 only"
    )
    assert verdicts["host"].startswith("fits (RAM margin ")

    as_json = json.loads(invoke(targets_host, "check", str(big), "--target", "cortex-m4", "--json").output)
    assert as_json["fits"] is False
    assert as_json["model"]["params"] == 1024 * 512 + 512 + 512 * 10 + 10
    assert as_json["model"]["artifact_bytes"] == size
    (m4,) = as_json["targets"]
    assert m4["storage"]["needed_bytes"] == needed
    assert m4["storage"]["margin_bytes"] == 1024 * 1024 - needed
    assert m4["ram"]["needed_bytes"] == 4 * (1024 + 512)


def test_usage_errors_exit_2(targets_host: Any, mlp_file: Path, tmp_path: Path) -> None:
    none = invoke(targets_host, "check", str(mlp_file))
    assert none.exit_code == 2
    assert "--target: name at least one target profile" in none.output
    unknown = invoke(targets_host, "check", str(mlp_file), "--target", "cortex-m3")
    assert unknown.exit_code == 2
    assert "unknown target profile 'cortex-m3'" in unknown.output
    missing = invoke(targets_host, "check", str(tmp_path / "nope.onnx"), "--target", "host")
    assert missing.exit_code == 2
    assert "does not exist" in missing.output


def _config(tmp_path: Path, model: dict[str, Any], profile: str | None, steps: str = "") -> Path:
    table = f'\n[target]\nprofile = "{profile}"\n' if profile else ""
    path = tmp_path / "pipeline.toml"
    path.write_text(
        f'[model]\nname = "artifact-file"\npath = "{model["path"]}"\n{steps}\n[runtime]\nname = "numpy"\n'
        f"[benchmark]\nwarmup = 1\nmin_count = 3\nmin_duration_s = 0\n[fidelity]\nenabled = false\n{table}",
        encoding="utf-8",
    )
    return path


def test_check_reads_the_config_profile_and_its_model_file(
    targets_host: Any, mlp_file: Path, tmp_path: Path
) -> None:
    config = _config(tmp_path, {"path": mlp_file}, "cortex-m7")
    result = invoke(targets_host, "check", str(config))
    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[1].startswith("cortex-m7  fits (RAM margin ")
    with_steps = _config(tmp_path, {"path": mlp_file}, "cortex-m7", '[[steps]]\nname = "weight-int8"\n')
    refused = invoke(targets_host, "check", str(with_steps))
    assert refused.exit_code == 2
    assert "the pipeline has steps, so the fit check needs its final artifact" in refused.output


def test_run_refuses_in_planning_a_model_file_that_does_not_fit(
    targets_host: Any, tmp_path: Path, mlp_writer: Any
) -> None:
    big = mlp_writer(tmp_path / "big.npz", [1024, 512, 10])
    config = _config(tmp_path, {"path": big}, "coral-devboard")
    result = invoke(targets_host, "run", str(config), "-o", str(tmp_path / "out"))
    assert result.exit_code == 2, result.output
    assert "the model does not fit coral-devboard: computes in float32" in result.output
    assert "--force runs it anyway" in result.output
    doc = json.loads((tmp_path / "out" / "results.json").read_text())
    assert doc["status"] == "failed"
    assert doc["error"]["stage"] == "fit"
    assert doc["steps"] == []  # refused before the model was prepared
    assert doc["fit"]["fits"] is False and doc["fit"]["stage"] == "planning"
    assert doc["target_profile"]["name"] == "coral-devboard"
    assert doc["target_profile"]["origin"] == "named"

    forced = invoke(targets_host, "run", str(config), "-o", str(tmp_path / "forced"), "--force")
    assert forced.exit_code == 0, forced.output
    doc = json.loads((tmp_path / "forced" / "results.json").read_text())
    assert doc["status"] == "complete"
    assert doc["fit"]["verdict"].startswith("does not fit: computes in float32")
    import jsonschema

    from edgeai_core.measurement import load_schema

    jsonschema.validate(doc, load_schema())


def test_run_checks_the_final_artifact_after_the_steps(
    targets_host: Any, mlp_file: Path, tmp_path: Path
) -> None:
    config = _config(tmp_path, {"path": mlp_file}, "cortex-m4", '[[steps]]\nname = "weight-int8"\n')
    result = invoke(targets_host, "run", str(config), "-o", str(tmp_path / "out"))
    assert result.exit_code == 0, result.output
    doc = json.loads((tmp_path / "out" / "results.json").read_text())
    assert doc["fit"]["stage"] == "artifact"
    assert doc["fit"]["fits"] is True
    assert (
        doc["fit"]["model"]["weight_bytes"] == (64 * 128 + 128 * 10) + (128 + 10) * 4
    )  # int8 + float32 biases
    assert doc["plan"]["target_profile"] == "cortex-m4"


def test_a_run_without_a_profile_records_the_measured_host(
    targets_host: Any, mlp_file: Path, tmp_path: Path
) -> None:
    config = _config(tmp_path, {"path": mlp_file}, None)
    result = invoke(targets_host, "run", str(config), "-o", str(tmp_path / "out"))
    assert result.exit_code == 0, result.output
    doc = json.loads((tmp_path / "out" / "results.json").read_text())
    from edgeai_core.hostprofile import measure_host

    assert doc["target_profile"] == {
        "name": "host",
        "origin": "measured",
        "profile": measure_host().to_json(),
    }
    assert "fit" not in doc
    assert "target_profile" not in doc["plan"]


def test_a_config_targets_table_defines_the_profile(
    targets_host: Any, mlp_file: Path, tmp_path: Path
) -> None:
    config = _config(tmp_path, {"path": mlp_file}, "tiny")
    config.write_text(
        config.read_text()
        + '\n[targets.tiny]\nsummary = "tiny"\narch = "armv6-m"\ncores = 1\nram_bytes = 512\n'
    )
    result = invoke(targets_host, "run", str(config), "-o", str(tmp_path / "out"))
    assert result.exit_code == 2, result.output
    assert "the model does not fit tiny: needs 38.3 KiB RAM, has 512 B (-37.8 KiB)" in result.output
    bad = _config(tmp_path, {"path": mlp_file}, "tiny")
    bad.write_text(
        bad.read_text() + '\n[targets.tiny]\nsummary = "tiny"\narch = "armv6-m"\nram_bytes = 512\n'
    )
    result = invoke(targets_host, "run", str(bad), "-o", str(tmp_path / "bad"), "--dry-run")
    assert result.exit_code == 2
    assert (
        result.output.strip() == "error: config [targets]: targets.tiny.cores: is required (int): CPU cores"
    )


def test_dry_run_shows_the_planning_fit_and_refuses_like_the_run(
    targets_host: Any, tmp_path: Path, mlp_writer: Any, mlp_file: Path
) -> None:
    big = mlp_writer(tmp_path / "big.npz", [1024, 512, 10])
    config = _config(tmp_path, {"path": big}, "coral-devboard")
    result = invoke(targets_host, "run", str(config), "-o", str(tmp_path / "out"), "--dry-run")
    assert result.exit_code == 2, result.output
    lines = result.output.splitlines()
    assert "profile   coral-devboard (Coral Dev Board class: Edge TPU (int8 only, 4 TOPS)" in result.output
    assert lines[-2] == (
        "fit       does not fit: computes in float32 (in 3 of 3 layers); the target computes in int8, uint8 only"
    )
    assert lines[-1].startswith(
        "error: target.profile: the model does not fit coral-devboard: computes in float32"
    )
    assert not (tmp_path / "out").exists()
    forced = invoke(
        targets_host, "run", str(config), "-o", str(tmp_path / "out"), "--dry-run", "--force", "--json"
    )
    assert forced.exit_code == 0, forced.output
    plan = json.loads(forced.output)
    assert plan["target_profile"] == "coral-devboard"
    assert plan["fit"]["fits"] is False and plan["fit"]["stage"] == "planning"
    fits = invoke(
        targets_host, "run", str(_config(tmp_path, {"path": mlp_file}, "cortex-m4")), "-o", "x", "--dry-run"
    )
    assert fits.exit_code == 0, fits.output
    assert fits.output.splitlines()[-1] == "fit       fits (RAM margin 255 KiB, 99.7%)"


def test_check_a_run_folder_checks_its_final_artifact(
    targets_host: Any, mlp_file: Path, tmp_path: Path
) -> None:
    config = _config(tmp_path, {"path": mlp_file}, "cortex-m4", '[[steps]]\nname = "weight-int8"\n')
    assert invoke(targets_host, "run", str(config), "-o", str(tmp_path / "out")).exit_code == 0
    result = invoke(targets_host, "check", str(tmp_path / "out"))  # the run's profile, cortex-m4
    assert result.exit_code == 0, result.output
    first = result.output.splitlines()[0]
    assert first.startswith(
        "model-int8.npz: npz-mlp, 9.61 k params, 9.47 k MACs, weights 9.8 KiB (int8, float32)"
    )
    assert result.output.splitlines()[1].startswith("cortex-m4  fits (RAM margin ")
    coral = invoke(
        targets_host, "check", str(tmp_path / "out" / "results.json"), "--target", "coral-devboard"
    )
    assert coral.exit_code == 1
    assert "coral-devboard  does not fit: computes in float32" in coral.output
    empty = tmp_path / "empty"
    empty.mkdir()
    missing = invoke(targets_host, "check", str(empty), "--target", "host")
    assert missing.exit_code == 2
    assert f"{empty} is a folder without results.json" in missing.output
