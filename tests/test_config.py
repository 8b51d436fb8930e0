"""Config: RadioDiff YAML loads unchanged, floats in both spellings, round-trip, clear errors."""
from pathlib import Path

import pytest

from radiodiff_lib.config import (
    builtin_config_path, config_from_dict, dump_config, load_config, mixed_precision, replace,
)
from radiodiff_lib.errors import ConfigError

RADIODIFF_YAML = builtin_config_path("radiodiff")


def test_radiodiff_config_loads_with_reference_values():
    cfg = load_config(RADIODIFF_YAML)
    assert cfg.model.ddconfig.ch == 128 and cfg.model.ddconfig.ch_mult == [1, 2, 4]
    assert cfg.model.lossconfig.disc_start == 50001
    assert cfg.model.lossconfig.kl_weight == pytest.approx(1e-6)
    assert cfg.model.lossconfig.disc_weight == 0.5
    assert cfg.model.lossconfig.perceptual_weight == 1.0  # RadioDiff's default: LPIPS on
    assert cfg.model.lossconfig.disc_num_layers == 3
    assert cfg.trainer.lr == pytest.approx(5e-6) and isinstance(cfg.trainer.lr, float)
    assert cfg.trainer.min_lr == pytest.approx(5e-7)
    assert cfg.data.name == "radio" and cfg.model.ckpt_path is None


@pytest.mark.parametrize("spelling", ["5e-6", "!!float 5e-6", "0.000005", "'5e-6'"])
def test_lr_spellings_read_as_float(tmp_path: Path, spelling):
    text = RADIODIFF_YAML.read_text().replace("lr: 5e-6", f"lr: {spelling}")
    p = tmp_path / "c.yaml"
    p.write_text(text)
    assert load_config(p).trainer.lr == pytest.approx(5e-6)


def test_round_trip(tmp_path: Path):
    cfg = load_config(RADIODIFF_YAML)
    p = tmp_path / "back.yaml"
    p.write_text(dump_config(cfg))
    assert load_config(p) == cfg


def test_unknown_key_names_key_file_and_valid_keys(tmp_path: Path):
    p = tmp_path / "bad.yaml"
    p.write_text(RADIODIFF_YAML.read_text().replace("log_freq:", "log_frq:"))
    with pytest.raises(ConfigError) as exc:
        load_config(p)
    msg = str(exc.value)
    assert "log_frq" in msg and str(p) in msg and "log_freq" in msg and "Did you mean" in msg


def test_wrong_type_is_named(tmp_path: Path):
    p = tmp_path / "bad.yaml"
    p.write_text(RADIODIFF_YAML.read_text().replace("ch: 128", "ch: many"))
    with pytest.raises(ConfigError, match=r"model\.ddconfig\.ch"):
        load_config(p)


def test_impossible_values_are_rejected():
    with pytest.raises(ConfigError, match="multiple of 32"):
        config_from_dict({"model": {"ddconfig": {"ch": 40}}})
    with pytest.raises(ConfigError, match="disc_loss"):
        config_from_dict({"model": {"lossconfig": {"disc_loss": "wgan"}}})


def test_missing_file_is_clear(tmp_path: Path):
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "nope.yaml")


def test_replace_and_mixed_precision():
    cfg = load_config(builtin_config_path("demo"))
    new = replace(cfg, **{"trainer.lr": "1e-3", "trainer.amp": True})
    assert new.trainer.lr == 1e-3 and cfg.trainer.lr != 1e-3
    assert mixed_precision(new) == "bf16" and mixed_precision(cfg) == "no"
    with pytest.raises(ConfigError, match="unknown key"):
        replace(cfg, **{"trainer.nope": 1})
