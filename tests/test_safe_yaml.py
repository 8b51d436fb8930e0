"""The one bounded YAML loader: aliases, depth and size capped while composing, cycles refused,
ordinary YAML (aliases and merge keys of a real config too) unchanged."""
from __future__ import annotations

import pytest
import yaml

from radiodiff_lib.safe_yaml import MAX_CHARS, MAX_DEPTH, MAX_NODES, YamlLimitError, load_yaml

# ten lines: 9**9 nodes once every alias is expanded
BOMB = "\n".join(["a: &a [x, x, x, x, x, x, x, x, x]"] + [
    f"{chr(98 + i)}: &{chr(98 + i)} [" + ", ".join([f"*{chr(97 + i)}"] * 9) + "]" for i in range(9)])


def test_an_alias_bomb_is_refused_naming_its_line():
    with pytest.raises(YamlLimitError, match=f"line [0-9]+: more than {MAX_NODES:,} values with every alias expanded"):
        load_yaml(BOMB)


def test_an_alias_inside_the_node_it_names_is_refused():
    with pytest.raises(YamlLimitError, match=r"line 2: the alias \*s is inside the node it names \(a cycle\)"):
        load_yaml("self: &s\n  me: *s\n")


def test_nesting_past_the_depth_limit_is_refused():
    with pytest.raises(YamlLimitError, match=f"nested deeper than {MAX_DEPTH} levels"):
        load_yaml("[" * (MAX_DEPTH + 1) + "]" * (MAX_DEPTH + 1))
    assert load_yaml("[" * (MAX_DEPTH - 1) + "]" * (MAX_DEPTH - 1)) is not None


def test_a_text_past_the_size_limit_is_refused_before_parsing():
    with pytest.raises(YamlLimitError, match="characters, more than the"):
        load_yaml("a: " + "b" * MAX_CHARS)


def test_ordinary_aliases_and_merge_keys_load_as_before():
    text = "base: &base {lr: 5.0e-06, steps: 10}\nrun:\n  <<: *base\n  steps: 20\nagain: *base\nlist: [1, 2]\n"
    assert load_yaml(text) == yaml.safe_load(text)


def test_python_tags_never_build_objects():
    with pytest.raises(yaml.YAMLError):
        load_yaml("x: !!python/object/apply:os.system ['true']\n")
