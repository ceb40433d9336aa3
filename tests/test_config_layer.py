"""The one typed configuration layer: YAML and `--set` values converted by type, one-line errors,
one override parser for train, synth and microbe, and `yt8m config show`."""

import pytest
from typer.testing import CliRunner

from yt8m.cli import app
from yt8m.train.config import load_config


def test_yaml_and_set_numbers_in_exponent_form_are_numbers(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("model: {name: moe, num_mixtures: 4}\noptimizer: {lr: 1e-3}\nschedule: {decay_examples: 4e6}\n")
    config = load_config(path)
    assert config.optimizer.lr == 1e-3 and isinstance(config.optimizer.lr, float)
    assert config.schedule.decay_examples == 4_000_000 and isinstance(config.schedule.decay_examples, int)
    config = load_config(path, ["optimizer.lr=1e-4", "train.max_steps=1e2", "model.num_mixtures=3", "data.feature_names=rgb,audio"])
    assert config.optimizer.lr == 1e-4 and config.train.max_steps == 100 and config.model_options == {"num_mixtures": 3}
    assert config.data.feature_names == ("rgb", "audio")


@pytest.mark.parametrize("item, key, expected", [
    ("optimizer.lr=fast", "lr", "float"),
    ("train.epochs=2.5", "epochs", "int"),
    ("model.num_mixtures=many", "num_mixtures", "int"),
    ("data.pad_to=everything", "pad_to", "longest"),  # the dataclass's own check, still one line
])
def test_bad_values_are_one_line_errors_naming_key_type_and_value(item, key, expected):
    with pytest.raises(ValueError) as err:
        load_config(None, ["model.name=moe", item])
    message = str(err.value)
    assert "\n" not in message and key in message and expected in message and item.split("=")[1] in message


def test_one_override_parser_for_train_synth_and_microbe():
    from yt8m.synth.config import SynthConfig
    from yt8m.microbe import MicrobeConfig
    from yt8m.typed_config import parse_overrides

    synth = SynthConfig.from_preset("tiny", **parse_overrides(["sparse_features=[im, tm]", "zipf_exponent=1e-1", "num_classes=32"]))
    assert synth.sparse_features == ("im", "tm") and synth.zipf_exponent == 0.1 and synth.num_classes == 32
    assert SynthConfig.from_preset("tiny", **parse_overrides(["sparse_features=im,tm"])).sparse_features == ("im", "tm")
    microbe = MicrobeConfig.from_dict({"num_classes": 5, "features": {"sizes": [10, 10]}, **parse_overrides(["mining.examples=1e3", "calibration.lambdas=[1, 1e1]"])})
    assert microbe.mining.examples == 1000 and microbe.calibration.lambdas == (1.0, 10.0)
    with pytest.raises(ValueError, match="mining.*examples.*int"):
        MicrobeConfig.from_dict({"num_classes": 5, "features": {"sizes": [10, 10]}, **parse_overrides(["mining.examples=lots"])})


def test_config_show_prints_the_resolved_config(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("model: {name: moe}\ndata: {kind: video}\noptimizer: {lr: 1e-3}\n")
    result = CliRunner().invoke(app, ["config", "show", str(path), "--set", "optimizer.batch_size=64"])
    assert result.exit_code == 0, result.output
    import yaml

    shown = yaml.safe_load(result.output)
    assert shown["optimizer"]["lr"] == 0.001 and shown["optimizer"]["batch_size"] == 64 and shown["model"]["name"] == "moe"
    assert shown["data"]["feature_names"] == ["mean_rgb", "mean_audio"]
    result = CliRunner().invoke(app, ["config", "show", str(path), "--set", "optimizer.lr=fast"])
    assert result.exit_code != 0 and "lr" in result.output and "fast" in result.output and "Traceback" not in result.output
