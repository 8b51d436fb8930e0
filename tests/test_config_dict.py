"""Config dicts: dotted access that tolerates anything a log holds, flat keys, and one rule for when two
configs differ, shared by the run comparison, the launch boundaries and a resume's notes."""
import math

from radiodiff_lib.config import builtin_config_path, config_to_dict, load_config, replace
from radiodiff_lib.config_dict import cfg_float, cfg_get, config_changes, config_diff, flatten_config, same_value

RADIODIFF_YAML = builtin_config_path("radiodiff")


def test_config_changes_are_flattened_keys():
    old = config_to_dict(load_config(RADIODIFF_YAML))
    new = config_to_dict(replace(load_config(RADIODIFF_YAML), **{"trainer.lr": 1e-5, "data.batch_size": 4}))
    assert config_changes(old, new) == [("data.batch_size", 2, 4), ("trainer.lr", 5e-6, 1e-5)]


def test_cfg_get_tolerates_missing_levels_and_none():
    cfg = {"model": {"lossconfig": {"disc_start": 5, "kl_weight": None}, "embed_dim": 3}}
    assert cfg_get(cfg, "model.lossconfig.disc_start") == 5
    assert cfg_get(cfg, "model.lossconfig.kl_weight", 1.0) == 1.0
    assert cfg_get(cfg, "model.embed_dim.x") is None
    assert cfg_get(None, "model") is None


def test_cfg_float_counts_what_is_not_a_finite_number_as_absent():
    cfg = {"t": {"lr": "5e-6", "nan": math.nan, "big": 10 ** 400, "flag": True, "text": "fast"}}
    assert cfg_float(cfg, "t.lr") == 5e-6
    for key in ("t.nan", "t.big", "t.flag", "t.text", "t.missing"):
        assert cfg_float(cfg, key) is None, key


def test_flatten_config_keeps_lists_and_empty_dicts_as_values():
    assert flatten_config({"a": {"b": [1, 2], "c": {}}, "d": 1}) == {"a.b": [1, 2], "a.c": {}, "d": 1}


def test_one_rule_for_the_same_value():
    assert same_value("5e-6", 5e-6)
    assert same_value(1, 1.0)
    assert not same_value(True, 1)
    assert not same_value("fast", "slow")


def test_diff_and_changes_apply_the_same_rule():
    old = {"trainer": {"lr": "5e-6", "steps": 1, "amp": True}}
    new = {"trainer": {"lr": 5e-6, "steps": 1.0, "amp": 1}}
    assert [d["key"] for d in config_diff([old, new])] == ["trainer.amp"]
    assert config_changes(old, new) == [("trainer.amp", True, 1)]


def test_diff_names_a_key_only_some_configs_have():
    diff = config_diff([{"a": 1}, {"a": 1, "b": 2}, None])
    assert diff == [{"key": "a", "values": [1, 1, None], "only_in": [0, 1]},
                    {"key": "b", "values": [None, 2, None], "only_in": [1]}]
