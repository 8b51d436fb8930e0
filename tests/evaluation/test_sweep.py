"""``radiodiff sweep`` on a run whose checkpoints' quality is known (tests/helpers/sweep_runs.py)."""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
import yaml

from radiodiff_lib import cli
from radiodiff_lib.checkpoints import load_model_from_checkpoint, load_radiodiff_weights, torch_load_safely
from radiodiff_lib.data import SyntheticRadioMaps, TrainingMaps
from radiodiff_lib.errors import ConfigError, DataError
from radiodiff_lib.evaluation import scoring
from radiodiff_lib.evaluation import sweep as S
from radiodiff_lib.evaluation import sweep_result as R
from radiodiff_lib.model import build_model
from tests.helpers.sweep_runs import known_quality_run, train_base

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    """A tiny VAE trained 24 steps by the trainer: its last checkpoint."""
    torch.set_num_threads(1)
    return train_base(tmp_path_factory.mktemp("base"))


@pytest.fixture(scope="module")
def known(base, tmp_path_factory):
    """model-1 (= model-2's weights at an earlier step), model-2, model-3 and -4 (noise 5 % and 30 %), model-5 corrupt."""
    return known_quality_run(tmp_path_factory.mktemp("run") / "run", base)


@pytest.fixture(scope="module")
def swept(known):
    """The known run swept on its raw weights (EMA of a 24-step run is close to the start)."""
    result = S.sweep_checkpoints(known["base"].parent, weights="model", n_boot=1000)
    return known, result


def tree_digest(folder: Path, skip: tuple[str, ...]) -> dict[str, str]:
    """sha256 and mtime of every file under ``folder`` outside the subfolders ``skip``."""
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest() + f"@{p.stat().st_mtime_ns}"
            for p in sorted(folder.rglob("*")) if p.is_file() and p.relative_to(folder).parts[0] not in skip}


# --- the verdict against the truth ----------------------------------------------------------------

def test_chosen_checkpoint_and_indistinguishable_set_are_the_true_ones(swept):
    known, result = swept
    payload = result.to_json()
    assert set(payload["indistinguishable"]) == {str(known["tie"]), str(known["base"])}
    assert payload["best"] == str(known["tie"])  # identical weights: the tie goes to the earlier
    assert payload["earliest_indistinguishable"] == str(known["tie"])
    assert payload["chosen"] == payload["best"]
    rows = {Path(c["path"]).name: c for c in payload["checkpoints"]}
    # more noise, worse; both resolved from the best by their paired difference
    worse = [rows[p.name]["diff_to_best"] for p in known["worse"]]
    assert 0 < worse[0]["low"]
    assert worse[0]["high"] < worse[1]["low"]
    assert rows["model-2.pt"]["diff_to_best"] == {"mean": 0.0, "low": 0.0, "high": 0.0}


def test_corrupt_checkpoint_is_listed_with_its_reason_and_skipped(swept):
    known, result = swept
    entry = next(c for c in result.to_json()["checkpoints"] if c["path"] == str(known["corrupt"]))
    assert "corrupt" in entry["status"] or "truncated" in entry["status"]
    assert entry["nmse"] is None
    assert "\n" not in entry["status"]
    table = pd.read_csv(result.out / R.SWEEP_CSV)
    assert known["corrupt"].name not in set(table["checkpoint"])


def test_every_checkpoint_is_scored_on_the_same_items(swept):
    known, result = swept
    table = pd.read_csv(result.out / R.SWEEP_CSV)
    per = table.groupby("checkpoint")[["map", "tx", "item"]].apply(lambda d: tuple(map(tuple, d.to_numpy())))
    assert len(per) == 4
    assert len(set(per)) == 1
    assert len(table) == 4 * len(result.items)
    assert result.to_json()["maps"] == 20
    assert result.to_json()["transmitters"] == 20


def test_json_has_the_issue_schema(swept, tmp_path):
    _known, result = swept
    payload = json.loads(json.dumps(result.to_json(), allow_nan=False))
    for key in ("protocol", "split", "maps", "transmitters", "metric", "checkpoints", "best", "indistinguishable",
                "earliest_indistinguishable", "latent", "handoff", "stage2_warnings"):
        assert key in payload, key
    ok = next(c for c in payload["checkpoints"] if c["status"] == "ok")
    for key in ("path", "step", "weights", "status", "nmse", "ssim", "psnr", "diff_to_best"):
        assert key in ok, key
    assert set(ok["nmse"]) == {"mean", "low", "high"}
    assert ok["nmse"]["low"] <= ok["nmse"]["mean"] <= ok["nmse"]["high"]
    assert set(payload["latent"]["scale_factor"]) >= {"value", "low", "high"}
    assert len(payload["latent"]["channels"]) == 3


def test_chosen_checkpoint_is_confirmed_on_the_test_maps(swept, monkeypatch):
    _known, result = swept
    (conf,) = result.confirmation
    assert conf["label"] == "test maps"
    assert conf["maps"] == 20  # synthetic: test and val are disjoint
    assert conf["nmse"]["low"] <= conf["nmse"]["mean"] <= conf["nmse"]["high"]
    # read in chunks of 3 items instead of all at once: the same numbers
    model, _loss, _cfg, _info = scoring.load_candidate(result.candidates[result.chosen], None)
    model = scoring.prepare(model, torch.device("cpu"))
    sets, _notes = S.confirmation_sets(result.config, result.settings, result.protocol, TrainingMaps("unknown"))
    monkeypatch.setattr(S, "CONFIRM_CHUNK", 3)
    (chunked,) = S.confirm(model, sets, result.settings, torch.device("cpu"), "no")
    assert chunked == conf


def test_gallery_takes_the_swept_items_and_the_sweeps_own_numbers(swept, monkeypatch):
    _known, result = swept
    monkeypatch.setattr(S, "build_dataset", lambda *a, **k: pytest.fail("the items were read from the data again"))
    loaded: list[int] = []
    final = result.final()
    chosen, beside = S.gallery(result, result.chosen, final, lambda k: loaded.append(k) or S.candidate_model(result, k))
    assert loaded == [result.chosen, final]
    assert [e.label for e in chosen] == ["best", "median", "worst"]
    rows = [result.items.indices.index(e.index) for e in chosen]
    nmse = result.candidates[result.chosen].metrics["nmse"]
    assert [e.nmse for e in chosen] == [float(nmse[r]) for r in rows]  # the sweep's numbers, not recomputed
    assert chosen[0].nmse == nmse.min()
    assert chosen[-1].nmse == nmse.max()
    assert [e.nmse_street for e in beside] == [float(result.candidates[final].metrics["nmse_street"][r]) for r in rows]
    assert [e.index for e in beside] == [e.index for e in chosen]  # the final checkpoint on the same items
    np.testing.assert_array_equal(chosen[0].input, ((result.items.images[rows[0], 0] + 1) / 2).clamp(0, 1).numpy())


# --- cache, resume, reading once, the run left alone ------------------------------------------------

def test_a_second_sweep_reads_everything_from_the_cache(swept, monkeypatch):
    known, first = swept
    monkeypatch.setattr(scoring, "score_candidate", lambda *a, **k: pytest.fail("scored again despite the cache"))
    again = S.sweep_checkpoints(known["base"].parent, weights="model", n_boot=1000)
    assert all(c.cached for c in again.candidates)
    assert (first.out / R.SWEEP_CSV).read_bytes() == (again.out / R.SWEEP_CSV).read_bytes()


def test_the_handoff_work_is_cached_until_a_setting_it_depends_on_changes(known, tmp_path, monkeypatch):
    run, kw = known["base"].parent, dict(weights="model", maps=4, n_boot=200, latent_maps=2, out=tmp_path / "sw")
    first = S.sweep_checkpoints(run, **kw)
    assert not first.handoff_cached
    measured: list[str] = []
    for name in ("confirm", "measure_latents"):
        real = getattr(S, name)
        monkeypatch.setattr(S, name, lambda *a, _real=real, _name=name, **k: measured.append(_name) or _real(*a, **k))
    again = S.sweep_checkpoints(run, **kw)
    assert again.handoff_cached
    assert again.to_json()["handoff_cached"] is True
    assert measured == []  # neither the test confirmation nor the training split ran again
    assert again.confirmation == first.confirmation
    assert again.latent.to_json() == first.latent.to_json()
    np.testing.assert_array_equal(again.latent.samples, first.latent.samples)
    assert again.handoff.read_bytes() == first.handoff.read_bytes()
    other = S.sweep_checkpoints(run, **(kw | {"latent_maps": 3}))
    assert not other.handoff_cached
    assert measured == ["confirm", "measure_latents"]
    assert other.latent.n_maps == 3


def test_each_checkpoint_file_is_read_once_and_none_when_nothing_changed(known, tmp_path, monkeypatch):
    from radiodiff_lib.checkpoints import resume

    reads: Counter[str] = Counter()
    real = resume.torch_load_safely
    monkeypatch.setattr(resume, "torch_load_safely", lambda path, *a, **k: reads.update([Path(path).name]) or real(
        path, *a, **k))
    run, kw = known["base"].parent, dict(weights="both", maps=4, n_boot=200, latent_maps=2, out=tmp_path / "sw")
    first = S.sweep_checkpoints(run, **kw)
    files = [p.name for p in scoring.checkpoint_files(run)]
    chosen = first.candidates[first.chosen].path.name
    assert chosen == known["tie"].name
    # the newest readable file, read for the run's training maps, is scored first; both kinds of weights of a file
    # come from one read, the corrupt one is not read again; the chosen (not the last scored) once more to hand off
    assert reads == Counter(files) + Counter([chosen])
    reads.clear()
    again = S.sweep_checkpoints(run, **kw)
    assert reads == Counter()  # training maps, scores and hand-off all from the cache, the first-stage copy kept
    assert again.handoff.read_bytes() == first.handoff.read_bytes()
    assert again.first_stage.read_bytes() == first.first_stage.read_bytes()


def test_items_are_read_once_for_the_whole_sweep(known, tmp_path, monkeypatch):
    reads: dict[str, int] = {}
    original = SyntheticRadioMaps.__getitem__

    def counting(self, i):
        reads[self.split] = reads.get(self.split, 0) + 1
        return original(self, i)

    monkeypatch.setattr(SyntheticRadioMaps, "__getitem__", counting)
    result = S.sweep_checkpoints(known["base"].parent, weights="both", maps=6, out=tmp_path / "sw", n_boot=200, latent_maps=4)
    assert sum(c.ok for c in result.candidates) == 8  # 4 files x 2 kinds of weights
    assert reads["val"] == 6  # once, not once per candidate
    assert reads["train"] == 4  # the latent statistics: streamed once over the maps asked for


def test_the_run_folder_is_left_untouched(known, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(known["base"].parent, run, ignore=shutil.ignore_patterns("sweep"), copy_function=shutil.copy2)
    outs = ("sweep", "sweep-elsewhere")
    before = tree_digest(run, skip=outs)
    S.sweep_checkpoints(run, weights="ema", maps=5, n_boot=200, latent_maps=3)  # the default out folder, <run>/sweep
    S.sweep_checkpoints(run, weights="ema", maps=5, n_boot=200, latent_maps=3, out=run / "sweep-elsewhere")
    assert len(before) >= 8  # the checkpoints, config, logs: there was something to keep
    assert tree_digest(run, skip=outs) == before


def test_settings_that_change_numbers_change_the_cache_key(known, tmp_path):
    a = S.sweep_checkpoints(known["base"].parent, weights="ema", maps=4, out=tmp_path / "a", n_boot=200, latent_maps=2)
    b = S.sweep_checkpoints(known["base"].parent, weights="ema", maps=4, tx=1, out=tmp_path / "a", n_boot=200, latent_maps=2,
                seed=1)
    keys_a = {c.key for c in a.candidates}
    keys_b = {c.key for c in b.candidates}
    assert not keys_a & keys_b  # other maps: nothing reused
    assert not any(c.cached for c in b.candidates)


def _sweep_cmd(run: Path, out: Path) -> list[str]:
    return [sys.executable, "-m", "radiodiff_lib.cli", "sweep", str(run), "--weights", "both", "--out", str(out),
            "--bootstrap", "300", "--latent-maps", "2"]


def test_sigkill_halfway_then_rerun_gives_the_same_csv_byte_for_byte(known, tmp_path):
    run = known["base"].parent
    env = dict(os.environ, PYTHONPATH=str(REPO), OMP_NUM_THREADS="1")
    straight = subprocess.run(_sweep_cmd(run, tmp_path / "straight"), env=env, capture_output=True, text=True,
                              timeout=600)
    assert straight.returncode == 0, straight.stderr
    total = 10  # 5 files x 2 kinds of weights, the corrupt one included
    assert len(list((tmp_path / "straight" / R.CACHE_FOLDER).glob("*.json"))) == total

    cache = tmp_path / "killed" / R.CACHE_FOLDER
    proc = subprocess.Popen(_sweep_cmd(run, tmp_path / "killed"), env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    deadline = time.time() + 300
    while time.time() < deadline and len(list(cache.glob("*.json"))) < 3 and proc.poll() is None:
        time.sleep(0.005)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    done = len(list(cache.glob("*.json")))
    assert 3 <= done < total, f"the sweep was not stopped halfway ({done} of {total} done)"
    assert not (tmp_path / "killed" / R.SWEEP_CSV).exists()

    again = subprocess.run(_sweep_cmd(run, tmp_path / "killed"), env=env, capture_output=True, text=True, timeout=600)
    assert again.returncode == 0, again.stderr
    assert (tmp_path / "killed" / R.SWEEP_CSV).read_bytes() == (tmp_path / "straight" / R.SWEEP_CSV).read_bytes()
    assert (tmp_path / "killed" / R.CHECKPOINTS_CSV).read_bytes() == (
        tmp_path / "straight" / R.CHECKPOINTS_CSV).read_bytes()
    resumed = json.loads((tmp_path / "killed" / R.SWEEP_JSON).read_text())
    assert sum(c["cached"] for c in resumed["checkpoints"]) == done  # only what was missing was scored


# --- the hand-off --------------------------------------------------------------------------------

def test_handoff_yaml_reads_as_radiodiffs_second_stage_config(swept):
    from radiodiff_lib.analysis.configs import ldm_config_view

    _known, result = swept
    text = result.handoff.read_text()
    cfg = yaml.load(text, Loader=yaml.FullLoader)  # as train_cond_ldm.py's load_conf reads it
    known_keys, unknown = ldm_config_view(cfg)
    # every key is one the second stage reads (default_scale joined the schema table with issue 18)
    assert {k for k, _v in unknown} <= {"model.default_scale"}
    keys = {k for k, _v, _m in known_keys}
    assert {"model.first_stage.ckpt_path", "model.first_stage.embed_dim", "model.scale_factor",
            "model.scale_by_std", "model.first_stage.ddconfig.ch", "model.first_stage.lossconfig.disc_weight"} <= keys
    model = cfg["model"]
    assert model["scale_by_std"] is True
    assert model["default_scale"] is True
    assert model["scale_factor"] == pytest.approx(result.latent.scale_factor.mean, rel=1e-12)
    chosen = result.candidates[result.chosen]
    _m, _l, ckpt_cfg, _i = load_model_from_checkpoint(chosen.path)
    assert model["first_stage"]["ddconfig"]["ch"] == ckpt_cfg.model.ddconfig.ch
    assert model["first_stage"]["ddconfig"]["ch_mult"] == ckpt_cfg.model.ddconfig.ch_mult
    assert model["first_stage"]["embed_dim"] == ckpt_cfg.model.embed_dim
    assert "lpips_weights" not in model["first_stage"]["lossconfig"]  # RadioDiff's loss would refuse it


def test_first_stage_file_holds_the_chosen_weights_where_radiodiff_loads_them(swept):
    _known, result = swept
    cfg = yaml.safe_load(result.handoff.read_text())
    path = Path(cfg["model"]["first_stage"]["ckpt_path"])
    assert path.parent == result.out / R.FIRST_STAGE_FOLDER  # ours: a RadioDiff-layout copy in the out folder
    obj = torch_load_safely(path)
    chosen = result.candidates[result.chosen]
    want, _l, ckpt_cfg, _i = load_model_from_checkpoint(chosen.path, use_ema=chosen.weights == "ema")
    for use_ema in (True, False):  # RadioDiff's init_from_ckpt prefers 'ema'; both must be the chosen weights
        got = build_model(ckpt_cfg)
        load_radiodiff_weights(got, obj, use_ema=use_ema)
        for k, v in want.state_dict().items():
            assert torch.equal(got.state_dict()[k], v), k


RADIO_TRAIN = """model:
  model_type: const_sde
  scale_factor: 0.3
  scale_by_std: True
  default_scale: True
  eps: !!float 1e-4
  first_stage:
    embed_dim: 3
    lossconfig: {disc_start: 50001, kl_weight: 0.000001, disc_weight: 0.5, disc_in_channels: 1}
    ddconfig: {double_z: True, z_channels: 3, resolution: [320, 320], in_channels: 1, out_ch: 1, ch: 128,
               ch_mult: [1, 2, 4], num_res_blocks: 2, attn_resolutions: [], dropout: 0.0}
    ckpt_path: '/somewhere/model-29.pt'
  unet: {dim: 128, cond_net: swin}
data: {name: radio, batch_size: 66}
trainer: {lr: !!float 5e-5, train_num_steps: 50000}
"""


def test_stage2_config_with_a_far_scale_factor_gets_the_warnings(known, tmp_path):
    (tmp_path / "radio_train.yaml").write_text(RADIO_TRAIN)
    result = S.sweep_checkpoints(known["base"].parent, weights="model", maps=5, n_boot=200, latent_maps=4,
                     out=tmp_path / "sw", stage2_config=tmp_path / "radio_train.yaml")
    warnings = result.to_json()["stage2_warnings"]
    assert any("model.scale_factor 0.3 is" in w and "from the measured" in w for w in warnings)
    assert any("default_scale: True means the scale is never measured" in w for w in warnings)
    assert any("first_stage.ddconfig.ch is 128" in w for w in warnings)
    assert any("first_stage.ddconfig.ch_mult is [1, 2, 4]" in w for w in warnings)
    changed = {k for k, _a, _b in result.stage2.differences}
    assert {"model.scale_factor", "model.first_stage.ckpt_path", "model.first_stage.ddconfig.ch"} <= changed
    assert "model.unet.dim" not in changed
    assert "trainer.lr" not in changed
    merged = yaml.load(Path(result.stage2.written).read_text(), Loader=yaml.FullLoader)
    assert merged["model"]["scale_factor"] == pytest.approx(result.latent.scale_factor.mean)
    assert merged["model"]["unet"] == {"dim": 128, "cond_net": "swin"}  # the rest of the file kept
    assert merged["trainer"]["lr"] == pytest.approx(5e-5)  # a float RadioDiff's FullLoader reads as one
    assert Path(result.stage2.written).parent == tmp_path / "sw"


def test_stage2_config_measuring_on_its_first_batch_is_warned_about(known, tmp_path):
    text = RADIO_TRAIN.replace("default_scale: True", "default_scale: False")
    (tmp_path / "stage2.yaml").write_text(text)
    result = S.sweep_checkpoints(known["base"].parent, weights="model", maps=5, n_boot=200, latent_maps=4,
                     out=tmp_path / "sw", stage2_config=tmp_path / "stage2.yaml")
    assert any("first batch alone" in w and "asserts scale_factor == 1" in w for w in result.stage2.warnings)


# --- precision, processes, arguments ----------------------------------------------------------------

def test_bf16_on_a_cpu_without_bf16_units_runs_fp32_and_says_so(monkeypatch):
    from radiodiff_lib import hardware

    monkeypatch.setattr(hardware, "cpu_bf16_support", lambda: hardware.Bf16Support(False, "AVX2", "faked"))
    used, note = scoring.choose_precision("bf16", torch.device("cpu"))
    assert used == "no"
    assert "no bf16 units" in note
    assert "the sweep computes in fp32" in note
    assert "--precision bf16-emulated" in note
    assert scoring.choose_precision("bf16-emulated", torch.device("cpu")) == ("bf16", "")
    monkeypatch.setattr(hardware, "cpu_bf16_support", lambda: hardware.Bf16Support(True, "AVX512", "faked"))
    assert scoring.choose_precision("bf16", torch.device("cpu")) == ("bf16", "")
    with pytest.raises(ConfigError, match="needs a CUDA GPU"):
        scoring.choose_precision("fp16", torch.device("cpu"))


def test_bf16_sweep_is_its_own_cache_entry_and_close_to_fp32(known, tmp_path, monkeypatch):
    from radiodiff_lib import hardware

    monkeypatch.setattr(hardware, "cpu_bf16_support", lambda: hardware.Bf16Support(True, "AVX512", "faked"))
    kw = dict(weights="model", maps=5, n_boot=200, latent_maps=2, out=tmp_path / "sw")
    fp32 = S.sweep_checkpoints(known["base"].parent, **kw)
    bf16 = S.sweep_checkpoints(known["base"].parent, precision="bf16", **kw)
    assert bf16.precision == "bf16"
    assert not any(c.cached for c in bf16.candidates)
    a = fp32.candidates[0].metrics["nmse"]
    b = bf16.candidates[0].metrics["nmse"]
    assert not np.array_equal(a, b)  # really computed in bf16
    np.testing.assert_allclose(b, a, rtol=0.05)


def test_processes_divide_the_candidates_without_overlap():
    cands = list(range(11))
    shares = [scoring.shard(cands, r, 3) for r in range(3)]
    assert sorted(x for s in shares for x in s) == cands
    assert [len(s) for s in shares] == [4, 4, 3]


@pytest.mark.parametrize("kwargs, match", [
    ({"weights": "best"}, "--weights best"), ({"metric": "mse"}, "--metric mse"),
    ({"choose": "latest"}, "--choose latest"), ({"maps": 0}, "--maps 0"),
])
def test_bad_arguments_are_one_line_errors(known, tmp_path, kwargs, match):
    with pytest.raises((ConfigError, DataError), match=match):
        S.sweep_checkpoints(known["base"].parent, out=tmp_path / "sw", **kwargs)


def test_cli_sweep_of_a_folder_without_checkpoints(tmp_path, capsys):
    assert cli.main(["sweep", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("radiodiff sweep: error:")
    assert "holds no checkpoints" in err
    assert "\n" not in err


# --- RadioDiff's model-N.pt, several processes ------------------------------------------------------

@pytest.fixture(scope="module")
def radiodiff_run(base, tmp_path_factory):
    """The base weights written as RadioDiff's train_vae.py writes them (model-1.pt, model-2.pt), and a tiny config."""
    from radiodiff_lib.checkpoints import save_radiodiff_layout
    from radiodiff_lib.config import save_config

    folder = tmp_path_factory.mktemp("radiodiff") / "run"
    model, loss, cfg, _info = load_model_from_checkpoint(base)
    for k in (1, 2):
        with torch.no_grad():
            for p in model.parameters():
                p.add_(0.01 * torch.randn_like(p))
        save_radiodiff_layout(folder / f"model-{k}.pt", model, loss, step=12 * k, with_lpips_copies=False)
    config = save_config(cfg, folder.parent / "tiny.yaml")  # RadioDiff folders carry no config of ours
    return folder, config


def test_radiodiff_checkpoints_are_swept_and_their_ema_handed_off_as_they_are(radiodiff_run, tmp_path):
    folder, config = radiodiff_run
    result = S.sweep_checkpoints(folder, weights="ema", maps=5, latent_maps=3, n_boot=200, config=str(config),
                                 out=tmp_path / "sw")
    assert [c.format for c in result.candidates] == ["radiodiff", "radiodiff"]
    assert all(c.ok for c in result.candidates)
    assert [c.step for c in result.candidates] == [12, 24]
    ckpt_path = yaml.safe_load(result.handoff.read_text())["model"]["first_stage"]["ckpt_path"]
    assert ckpt_path == str(result.candidates[result.chosen].path.resolve())  # RadioDiff loads its 'ema' itself
    assert result.first_stage is None


def test_radiodiff_raw_weights_are_copied_where_the_second_stage_loads_them(radiodiff_run, tmp_path):
    folder, config = radiodiff_run
    result = S.sweep_checkpoints(folder, weights="model", maps=5, latent_maps=3, n_boot=200, config=str(config),
                                 out=tmp_path / "sw")
    assert result.first_stage is not None
    assert result.first_stage.parent == tmp_path / "sw" / R.FIRST_STAGE_FOLDER
    chosen = result.candidates[result.chosen]
    want, _l, cfg, _i = load_model_from_checkpoint(chosen.path, use_ema=False, config=cfg_of(config))
    got = build_model(cfg)
    load_radiodiff_weights(got, torch_load_safely(result.first_stage), use_ema=True)
    for k, v in want.state_dict().items():
        assert torch.equal(got.state_dict()[k], v), k


def cfg_of(path):
    from radiodiff_lib.config import load_config

    return load_config(path)


@pytest.mark.slow
def test_two_processes_divide_the_checkpoints_and_give_the_same_csv(known, tmp_path):
    run = known["base"].parent
    env = dict(os.environ, PYTHONPATH=str(REPO), OMP_NUM_THREADS="1")
    args = ["sweep", str(run), "--weights", "both", "--bootstrap", "300", "--latent-maps", "2", "--device", "cpu"]
    one = subprocess.run([sys.executable, "-m", "radiodiff_lib.cli", *args, "--out", str(tmp_path / "one")],
                         env=env, capture_output=True, text=True, timeout=600)
    assert one.returncode == 0, one.stderr
    two = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2",
                          "--master_port", "29517", "-m", "radiodiff_lib.cli", *args, "--out", str(tmp_path / "two")],
                         env=env, capture_output=True, text=True, timeout=600)
    assert two.returncode == 0, two.stderr
    assert (tmp_path / "two" / R.SWEEP_CSV).read_bytes() == (tmp_path / "one" / R.SWEEP_CSV).read_bytes()
    payload = json.loads((tmp_path / "two" / R.SWEEP_JSON).read_text())
    by_rank0 = [not c["cached"] for c in payload["checkpoints"]]
    assert by_rank0 == [k % 2 == 0 for k in range(10)]  # rank 0 scored every other candidate, rank 1 the rest


# --- the split protocols on a folder numbered like RadioMapSeer ------------------------------------------

@pytest.fixture(scope="module")
def numbered_folder(tmp_path_factory):
    """Maps 0..700 as the data set ships them, two 32 x 32 transmitters each."""
    from tests.helpers.radiomapseer import write_numbered_folder

    return write_numbered_folder(tmp_path_factory.mktemp("rms") / "RadioMapSeer", range(701), transmitters=2, size=32)


def test_radiodiff_run_is_swept_on_radiodiff_val_without_its_training_map(radiodiff_run, numbered_folder, tmp_path):
    from tests.helpers.radiomapseer import reference_maps_inds, reference_split

    folder, config = radiodiff_run
    result = S.sweep_checkpoints(folder, data=str(numbered_folder), weights="ema", latent_maps=3, n_boot=200,
                                 config=str(config), out=tmp_path / "sw")
    payload = result.to_json()
    ref = reference_split("radiodiff")
    shared = int(reference_maps_inds()[600]) + 1  # position 600: in RadioDiff's train, val and test splits
    assert payload["protocol"] == "radiodiff"
    assert payload["excluded_train_maps"] == [shared]
    assert "assumed" in payload["training_maps"]
    assert sorted(set(result.items.maps.tolist())) == sorted(set(ref["val"]) - {shared})
    assert payload["maps"] == 50
    assert payload["transmitters"] == 100  # two transmitters a map
    assert all(c["trained_on_scored_maps"] == [] for c in payload["checkpoints"])
    outside, own = payload["confirmation"]
    assert outside["label"] == "test maps outside val and train (49)"
    assert outside["maps"] == 49
    assert own["maps"] == 99
    assert "holds the 50 val maps the choice was made on" in own["label"]
    assert any("validation maps lie inside its test maps" in n for n in payload["notes"])


def test_our_run_is_swept_on_its_own_protocol_and_training_maps_are_never_scored_unnoticed(radiodiff_run,
                                                                                          numbered_folder, tmp_path):
    from radiodiff_lib import checkpoints as ckpt
    from radiodiff_lib.config import replace, save_config
    from tests.helpers.radiomapseer import reference_split
    from tests.helpers.sweep_runs import tiny_sweep_config

    cfg = replace(tiny_sweep_config(), **{"data.name": "radio", "data.root": str(numbered_folder),
                                          "data.split_protocol": "radiounet"})
    run = tmp_path / "run"
    assert cli.main(["train", "--config", str(save_config(cfg, tmp_path / "radiounet.yaml")), "--max-steps", "2",
                     "--results-folder", str(run), "--no-progress"]) == 0
    result = S.sweep_checkpoints(run, data=str(numbered_folder), weights="model", maps=6, latent_maps=2, n_boot=200,
                                 out=tmp_path / "sw")
    payload = result.to_json()
    assert payload["protocol"] == "radiounet"
    assert payload["excluded_train_maps"] == []
    assert set(result.items.maps.tolist()) <= set(reference_split("radiounet")["val"])
    (test,) = payload["confirmation"]  # radiounet's splits are disjoint: one test set
    assert test["label"] == "test maps"
    assert test["maps"] == 99
    # the same checkpoint swept on the radiodiff protocol: its val maps hold radiounet training maps, left out
    other = S.sweep_checkpoints(run, data=str(numbered_folder), protocol="radiodiff", weights="model", latent_maps=2,
                                n_boot=200, out=tmp_path / "sw2")
    excluded = set(reference_split("radiodiff")["val"]) & set(reference_split("radiounet")["train"])
    assert other.to_json()["excluded_train_maps"] == sorted(excluded)
    assert not set(other.items.maps.tolist()) & excluded
    # a RadioDiff model-N.pt beside it (assumed: RadioDiff's 601 train maps, which hold radiounet's val maps)
    shutil.copy2(radiodiff_run[0] / "model-1.pt", run / "model-0.pt")
    mixed = S.sweep_checkpoints(run, data=str(numbered_folder), weights="model", maps=6, latent_maps=2, n_boot=200,
                                out=tmp_path / "sw3")
    entries = {Path(c["path"]).name: c for c in mixed.to_json()["checkpoints"]}
    assert entries["model-0.pt"]["trained_on_scored_maps"] == sorted(set(mixed.items.maps.tolist()))
    assert entries[ckpt.list_checkpoints(run)[-1].name]["trained_on_scored_maps"] == []
    assert any("model-0.pt (model) trained on 6 of the 6 scored maps" in n for n in mixed.notes)


def test_cli_sweep_into_a_file_is_a_one_line_error(known, tmp_path, capsys):
    blocker = tmp_path / "taken"
    blocker.write_text("a file, not a folder")
    assert cli.main(["sweep", str(known["base"].parent), "--out", str(blocker)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("radiodiff sweep: error:")
    assert "is a file" in err
    assert "\n" not in err
