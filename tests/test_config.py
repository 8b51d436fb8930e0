"""Config: RadioDiff YAML loads unchanged, floats in both spellings, round-trip, clear errors."""
from pathlib import Path

import pytest

from radiodiff_lib.config import (
    builtin_config_path, config_from_dict, config_warnings, dump_config, load_config, mixed_precision,
    read_yaml, replace,
)
from radiodiff_lib.errors import ConfigError

RADIODIFF_YAML = builtin_config_path("radiodiff")


def test_radiodiff_config_loads_with_reference_values():
    cfg = load_config(RADIODIFF_YAML)
    assert cfg.model.ddconfig.ch == 128
    assert cfg.model.ddconfig.ch_mult == [1, 2, 4]
    assert cfg.model.lossconfig.disc_start == 50001
    assert cfg.model.lossconfig.kl_weight == pytest.approx(1e-6)
    assert cfg.model.lossconfig.disc_weight == 0.5
    assert cfg.model.lossconfig.perceptual_weight == 1.0  # RadioDiff's default: LPIPS on
    assert cfg.model.lossconfig.disc_num_layers == 3
    assert cfg.trainer.lr == pytest.approx(5e-6)
    assert isinstance(cfg.trainer.lr, float)
    assert cfg.trainer.min_lr == pytest.approx(5e-7)
    assert cfg.data.name == "radio"
    assert cfg.model.ckpt_path is None


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
    assert "log_frq" in msg
    assert str(p) in msg
    assert "log_freq" in msg
    assert "Did you mean" in msg


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


@pytest.mark.parametrize("text,why", [
    ("model: &m {a: [*m]}\n", "a cycle"),
    ("\n".join(["a: &a [x, x, x, x, x, x, x, x, x]"] + [f"{chr(98 + i)}: &{chr(98 + i)} [" + ", ".join(
        [f"*{chr(97 + i)}"] * 9) + "]" for i in range(9)]), "every alias expanded"),
], ids=["cycle", "alias-bomb"])
def test_a_yaml_bomb_as_config_is_a_one_line_error(tmp_path: Path, text, why):
    path = tmp_path / "bomb.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=f"bomb.yaml: line [0-9]+: .*{why}.*a RadioDiff config is a few KB") as err:
        read_yaml(path)
    assert "\n" not in str(err.value)


def test_replace_and_mixed_precision():
    cfg = load_config(builtin_config_path("demo"))
    new = replace(cfg, **{"trainer.lr": "1e-3", "trainer.amp": True})
    assert new.trainer.lr == 1e-3
    assert cfg.trainer.lr != 1e-3
    assert mixed_precision(new) == "bf16"
    assert mixed_precision(cfg) == "no"
    with pytest.raises(ConfigError, match="unknown key"):
        replace(cfg, **{"trainer.nope": 1})


# --- values that used to crash at step 0 or pass without a word ---------------------------------

def test_nan_learning_rate_in_yaml_fails_at_load(tmp_path: Path):
    p = tmp_path / "c.yaml"
    p.write_text(RADIODIFF_YAML.read_text().replace("lr: 5e-6", "lr: .nan"))
    with pytest.raises(ConfigError, match=r"c.yaml: invalid config:\n  - trainer.lr must be positive"):
        load_config(p)


@pytest.mark.parametrize("section,key,value,expect", [
    ("trainer", "min_lr", float("inf"), "trainer.min_lr is inf: give a finite number"),
    ("lossconfig", "kl_weight", float("nan"), "model.lossconfig.kl_weight is nan: give a finite number"),
])
def test_non_finite_values_fail_at_load(section, key, value, expect):
    data = read_yaml(RADIODIFF_YAML)
    (data["model"]["lossconfig"] if section == "lossconfig" else data[section])[key] = value
    with pytest.raises(ConfigError, match=expect):
        config_from_dict(data, source="c.yaml")


def test_a_map_size_the_encoder_cannot_halve_fails_at_load():
    cfg = load_config(RADIODIFF_YAML)  # ch_mult [1, 2, 4]: two halvings, so a multiple of 4
    with pytest.raises(ConfigError, match=r"data.image_size 130 cannot be halved 2 times.*multiple of 4, e.g. 128"):
        replace(cfg, **{"data.image_size": 130})
    assert replace(cfg, **{"data.image_size": 132}).data.image_size == 132


def test_probable_mistakes_are_said_not_refused():
    cfg = replace(load_config(RADIODIFF_YAML), **{"model.ddconfig.attn_resolutions": [40],
                                                   "model.lossconfig.disc_start": 200000})
    said = " ".join(config_warnings(cfg))
    assert "resolution [320, 320] differs from data.image_size 256" in said
    assert "other levels" in said
    assert "disc_start 200000 is not below trainer.train_num_steps 150000" in said
    assert config_warnings(replace(cfg, **{"data.image_size": 320, "model.lossconfig.disc_start": 5})) == []


def test_a_folder_given_as_config_is_named_as_a_folder(tmp_path: Path):
    (tmp_path / "radio_vae.yaml").write_text(RADIODIFF_YAML.read_text())
    with pytest.raises(ConfigError, match=r"is a folder, not a config file \(it holds radio_vae.yaml\)"):
        load_config(tmp_path)
