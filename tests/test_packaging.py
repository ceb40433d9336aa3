"""Packaging: the wheel carries the configs and the LICENSE, dependency floors hold, the CLI has
--version and -h, shipped configs are listed, copied and found by name, and they ship the
settings that train in our measurements (loader shuffling and workers, classifier bias, ...)."""

from __future__ import annotations

import subprocess
import sys

import zipfile
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

import yt8m

tomllib = pytest.importorskip("tomllib")  # Python >= 3.11
from yt8m.cli import app
from yt8m.shipped_configs import list_configs, resolve_config, shipped_config
from yt8m.train.config import load_config

ROOT = Path(__file__).resolve().parent.parent
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
runner = CliRunner()


def test_license_is_the_apache_license_pyproject_names():
    assert PYPROJECT["project"]["license"] == "Apache-2.0" and "LICENSE" in PYPROJECT["project"]["license-files"]
    text = (ROOT / "LICENSE").read_text()
    assert "Apache License" in text and "Version 2.0, January 2004" in text and "END OF TERMS AND CONDITIONS" in text


def test_protobuf_floor_has_the_api_the_codec_calls():
    """io/example_pb.py calls message_factory.GetMessageClass, which protobuf first ships in 4.22.0."""
    assert "GetMessageClass" in (ROOT / "src/yt8m/io/example_pb.py").read_text()
    floor = next(d for d in PYPROJECT["project"]["dependencies"] if d.startswith("protobuf"))
    version = tuple(int(x) for x in floor.split(">=")[1].split(",")[0].split("."))
    assert version >= (4, 22)


def test_version_and_short_help():
    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0 and result.output.strip() == f"yt8m {yt8m.__version__}"
    for command in ([], ["train"], ["microbe", "run"], ["configs", "copy"]):
        long, short = runner.invoke(app, [*command, "--help"]), runner.invoke(app, [*command, "-h"])
        assert short.exit_code == 0 and short.output == long.output and "Usage" in short.output, command


def test_configs_lists_and_copies_the_shipped_configs(tmp_path):
    names = sorted(p.stem for p in (ROOT / "configs").glob("*.yaml"))
    assert list_configs() == names
    result = runner.invoke(app, ["configs"])
    assert result.exit_code == 0 and [line.split()[0] for line in result.output.splitlines()] == names
    result = runner.invoke(app, ["configs", "copy", "frame_dbof", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "frame_dbof.yaml").read_text() == (ROOT / "configs" / "frame_dbof.yaml").read_text()
    again = runner.invoke(app, ["configs", "copy", "frame_dbof", str(tmp_path)])
    assert again.exit_code == 2 and "--force" in again.output
    unknown = runner.invoke(app, ["configs", "copy", "frame_nothing", str(tmp_path)])
    assert unknown.exit_code == 2 and "frame_dbof" in unknown.output


def test_a_config_name_or_checkout_path_resolves_anywhere(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # no configs/ folder here
    for given in ("frame_dbof", "frame_dbof.yaml", "configs/frame_dbof.yaml"):
        assert resolve_config(given).read_text() == shipped_config("frame_dbof").read_text()
    (tmp_path / "frame_dbof").write_text("model: {name: logistic}\n")  # an existing file wins over a name
    assert resolve_config("frame_dbof") == Path("frame_dbof")
    with pytest.raises(FileNotFoundError, match="yt8m configs"):
        resolve_config("configs/nothing.yaml")


def test_wheel_holds_the_configs_and_the_license(tmp_path):
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", str(ROOT), "-w", str(tmp_path)],
                   check=True, capture_output=True)
    (wheel,) = tmp_path.glob("yt8m-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert {f"yt8m/configs/{p.name}" for p in (ROOT / "configs").glob("*.yaml")} <= set(names)
    assert any(n.endswith(".dist-info/licenses/LICENSE") for n in names)
    assert f"yt8m-{yt8m.__version__}.dist-info/METADATA" in names


TRAINING_CONFIGS = sorted(p.stem for p in (ROOT / "configs").glob("*.yaml") if p.stem.startswith(("frame_", "video_")))


@pytest.mark.parametrize("name", TRAINING_CONFIGS)
def test_shipped_configs_shuffle_and_use_loader_workers(name):
    config = load_config(ROOT / "configs" / f"{name}.yaml")
    assert config.data.shuffle_buffer > 0 and config.data.num_workers > 0


PUBLISHED_RUNS = ("_willow", "_paper")  # configs that are exactly a published run keep its settings, zero bias included


@pytest.mark.parametrize("name", [n for n in TRAINING_CONFIGS if n.startswith("frame_") and not n.endswith(PUBLISHED_RUNS)])
def test_frame_configs_start_the_classifier_at_the_label_prior(name):
    """The official zero bias (p = 0.5 for 3862 classes) does not train in our runs (BENCHMARKS.md)."""
    config = load_config(ROOT / "configs" / f"{name}.yaml")
    assert config.train.output_bias is not None and config.train.output_bias < -4


def test_frame_configs_ship_the_settings_that_train():
    raw = {n: yaml.safe_load((ROOT / "configs" / f"{n}.yaml").read_text()) for n in TRAINING_CONFIGS}
    assert raw["frame_dbof"]["model"]["activation"] != "sigmoid"  # sigmoid under max pooling does not train
    for recurrent in ("frame_lstm", "frame_gru"):
        assert raw[recurrent]["model"]["input_bn"] is True
    for recurrent in ("frame_lstm", "frame_gru", "frame_lstm_moe"):  # 512-1200 cells: Adam 0.01 was not shown to learn in the config check, 0.001 learns
        assert raw[recurrent]["optimizer"]["name"] == "adam" and raw[recurrent]["optimizer"]["lr"] <= 0.001, recurrent
