"""The step engine: no host reads between log points, device-side skips, bad steps named exactly,
fused AdamW kept fused, precision and determinism settings (tiny CPU config, synthetic maps)."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from radiodiff_lib import checkpoints as ckpt
from radiodiff_lib.errors import ConfigError, TrainingError
from radiodiff_lib.training import StepHook, train
from radiodiff_lib.training.engine import optimizer_step
from radiodiff_lib.training.state import load_optimizer_state, make_adamw
from tests.helpers.configs import make_tiny_config
from tests.helpers.training import PoisonedData, assert_checkpoints_equal, current_steps, first_item_of_step


@pytest.fixture(scope="module")
def dataset():
    from radiodiff_lib.data import build_dataset

    return build_dataset(make_tiny_config(), "train")


class HostReads(StepHook):
    """Counts tensor reads on the host (item, tolist, bool, float, cpu, numpy) inside each step."""

    METHODS = ("item", "tolist", "__bool__", "__float__", "cpu", "numpy")

    def __init__(self, monkeypatch):
        self.inside, self.count, self.per_step = False, 0, {}
        for name in self.METHODS:
            monkeypatch.setattr(torch.Tensor, name, self._counting(getattr(torch.Tensor, name)))

    def _counting(self, method):
        def wrapper(tensor, *args, **kwargs):
            if self.inside:
                self.count += 1
            return method(tensor, *args, **kwargs)
        return wrapper

    def before_step(self, step: int) -> None:
        self.inside, self.count = True, 0

    def after_step(self, step: int) -> None:
        self.inside = False
        self.per_step[step] = self.count


def test_no_tensor_is_read_on_the_host_between_log_points(dataset, tmp_path: Path, monkeypatch):
    from radiodiff_lib.model import build_loss, build_model
    from radiodiff_lib.training import Trainer

    cfg = make_tiny_config(**{"trainer.log_freq": 4, "trainer.save_and_sample_every": 100})
    reads = HostReads(monkeypatch)
    trainer = Trainer(cfg, build_model(cfg), build_loss(cfg), dataset, results_folder=tmp_path, hooks=[reads],
                      progress=False)
    trainer.train()
    # steps 0 and 4 are log points (values and non-finite flags read back); the others, VAE and GAN
    # phase alike, never wait for the device
    assert {s: n for s, n in reads.per_step.items() if s % 4} == {1: 0, 2: 0, 3: 0, 5: 0, 6: 0, 7: 0}
    assert reads.per_step[0] > 0
    assert reads.per_step[4] > 0


def _adamw_state(opt, p):
    return [p.detach().clone()] + [v.clone() for v in opt.state[p].values()]


@pytest.mark.parametrize("scaled", [False, True])
def test_a_skipped_optimizer_step_changes_nothing(scaled: bool):
    torch.manual_seed(0)
    p = torch.nn.Parameter(torch.randn(6))
    opt = make_adamw([p], 0.1, fused=True)
    scaler = torch.amp.GradScaler("cpu", enabled=scaled)
    def step(grad, skip):
        scaler.scale(torch.zeros(()))  # as the loss's scale() does in a step: GradScaler starts there
        p.grad = grad
        return optimizer_step(opt, [p], scaler, 1.0, torch.tensor(skip))

    step(torch.randn(6), False)
    before = _adamw_state(opt, p)
    bad_norm = step(torch.randn(6), True)  # a finite gradient, but the step's loss was bad: skip on the device
    assert not bad_norm
    assert all(torch.equal(a, b) for a, b in zip(before, _adamw_state(opt, p)))
    bad_norm = step(torch.tensor([float("nan")] * 6), False)  # skipped, and flagged unless GradScaler handles it
    assert bool(bad_norm) is not scaled
    assert all(torch.equal(a, b) for a, b in zip(before, _adamw_state(opt, p)))
    step(torch.randn(6), False)
    assert not torch.equal(before[0], p)
    assert opt.state[p]["step"].item() == 2.0


def _stepped(fused: bool, size: float, clip_first: bool | None) -> list[torch.nn.Parameter]:
    """Two parameters after one AdamW step on gradients of ``size``: through ``optimizer_step`` (None), or
    plainly, after clip_grad_norm_ (True) or without clipping (False)."""
    torch.manual_seed(0)
    params = [torch.nn.Parameter(torch.randn(50, 40)), torch.nn.Parameter(torch.randn(40))]
    for p in params:
        p.grad = torch.randn_like(p) * size
    opt = make_adamw(params, 1e-2, fused)
    if clip_first is None:
        optimizer_step(opt, params, torch.amp.GradScaler("cpu", enabled=False), 1.0, torch.tensor(False))
        return params
    if clip_first:
        torch.nn.utils.clip_grad_norm_(params, 1.0)
    opt.step()
    return params


@pytest.mark.parametrize("fused", [True, False])
def test_the_step_clips_large_gradients_as_clip_grad_norm_does(fused: bool):
    """The fused kernel clips through its grad_scale: the same update as clip_grad_norm_ then AdamW, to rounding."""
    ours, clipped, unclipped = (_stepped(fused, 100.0, how) for how in (None, True, False))
    assert all(torch.allclose(a, b, rtol=0, atol=1e-7) for a, b in zip(ours, clipped))
    assert not all(torch.allclose(a, b, rtol=0, atol=1e-7) for a, b in zip(ours, unclipped))


@pytest.mark.parametrize("fused", [True, False])
def test_the_step_leaves_small_gradients_bitwise_unclipped(fused: bool):
    ours, plain = _stepped(fused, 1e-3, None), _stepped(fused, 1e-3, False)
    assert all(torch.equal(a, b) for a, b in zip(ours, plain))


def test_bad_step_stops_and_is_named_exactly_after_it(dataset, tmp_path: Path):
    """Step 5 draws a NaN map; the flags are read at the next log point (step 8 would be one, the end
    comes first): the error names step 5, and no parameter moved from step 5 on."""
    from radiodiff_lib.model import build_loss, build_model
    from radiodiff_lib.training import seed_everything

    cfg = make_tiny_config(**{"trainer.log_freq": 4, "trainer.save_and_sample_every": 100})
    poisoned = PoisonedData(dataset, [first_item_of_step(cfg, len(dataset), 5)])
    seed_everything(cfg.trainer.seed)  # the initial weights train() would build
    model, loss = build_model(cfg), build_loss(cfg)
    with pytest.raises(TrainingError, match=r"non-finite train/total_loss at step 5;"):
        train(cfg, results_folder=tmp_path / "bad", dataset=poisoned, model=model, loss=loss, progress=False)
    assert ckpt.list_checkpoints(tmp_path / "bad") == []  # no checkpoint past a bad step
    good = train(cfg, max_steps=5, results_folder=tmp_path / "good", dataset=dataset, progress=False)
    saved = ckpt.load_checkpoint(good.last_checkpoint)["model"]
    live = ckpt.model_state(model, loss)
    trained = [k for k in live if "running_" not in k and "num_batches" not in k]  # BatchNorm statistics aside
    assert all(torch.equal(live[k], saved[k]) for k in trained)


def test_skip_names_each_bad_step_and_keeps_batchnorm_statistics(dataset, tmp_path: Path):
    cfg = make_tiny_config(**{"trainer.on_nonfinite": "skip", "trainer.log_freq": 3})
    bad_steps = [2, 5]  # one before disc_start (4), one in the GAN phase
    poisoned = PoisonedData(dataset, [first_item_of_step(cfg, len(dataset), s) for s in bad_steps])
    stats = {}

    class BatchNormStats(StepHook):
        def after_step(self, step):
            stats[step] = trainer_loss.discriminator.main[3].running_mean.clone()

    from radiodiff_lib.model import build_loss, build_model
    from radiodiff_lib.training import Trainer

    trainer_loss = build_loss(cfg)
    trainer = Trainer(cfg, build_model(cfg), trainer_loss, poisoned, results_folder=tmp_path, progress=False,
                      hooks=[BatchNormStats()])
    result = trainer.train()
    assert result.step == 8
    log = (tmp_path / "train.log").read_text()
    assert "[Skip] non-finite train/total_loss at step 2: step (no parameter update) skipped" in log
    assert "[Skip] non-finite train/total_loss at step 5: step (no parameter update) skipped" in log
    assert log.count("[Skip]") == 2
    assert torch.equal(stats[5], stats[4])
    assert not torch.equal(stats[6], stats[5])  # the bad GAN step left them
    assert all(torch.isfinite(v).all() for v in stats.values())
    rows = current_steps(tmp_path)
    assert rows[6]["train/total_loss"] == rows[6]["train/total_loss"]  # finite again after the skip


def test_fused_adamw_stays_fused_after_an_older_checkpoint(dataset, tmp_path: Path):
    straight = train(make_tiny_config(), results_folder=tmp_path / "straight", dataset=dataset, progress=False)
    first = train(make_tiny_config(), max_steps=3, results_folder=tmp_path / "run", dataset=dataset, progress=False)
    obj = ckpt.load_checkpoint(first.last_checkpoint)
    for name in ("opt_ae", "opt_disc"):  # as an older workbench wrote it: no kernel choice recorded
        for group in obj[name]["param_groups"]:
            group["fused"], group["foreach"] = None, None
    ckpt.save_checkpoint(first.last_checkpoint, obj)
    train(make_tiny_config(), resume="latest", results_folder=tmp_path / "run", dataset=dataset, progress=False)
    assert_checkpoints_equal(straight.last_checkpoint, tmp_path / "run" / straight.last_checkpoint.name,
                             ignore=("/opt_ae/param_groups", "/opt_disc/param_groups"))
    final = ckpt.load_checkpoint(tmp_path / "run" / straight.last_checkpoint.name)
    assert final["opt_ae"]["param_groups"][0]["fused"] is True
    assert final["runtime"]["optimizer"] == "fused"
    p = torch.nn.Parameter(torch.zeros(3))
    opt = make_adamw([p], 1e-3, fused=True)
    load_optimizer_state(opt, {"state": {}, "param_groups": [{**opt.param_groups[0], "params": [0], "fused": None}]})
    assert opt.param_groups[0]["fused"] is True


@pytest.mark.parametrize("setting", [{"trainer.channels_last": True}, {"trainer.deterministic": False}])
def test_other_settings_resume_bitwise_on_cpu(dataset, tmp_path: Path, setting: dict):
    cfg = make_tiny_config(**setting)
    straight = train(cfg, results_folder=tmp_path / "straight", dataset=dataset, progress=False)
    train(cfg, max_steps=5, results_folder=tmp_path / "run", dataset=dataset, progress=False)
    train(cfg, resume="latest", results_folder=tmp_path / "run", dataset=dataset, progress=False)
    assert assert_checkpoints_equal(straight.last_checkpoint, tmp_path / "run" / straight.last_checkpoint.name) > 100


def test_bf16_on_cpu_resumes_bitwise_and_tracks_fp32(dataset, tmp_path: Path):
    bf16 = make_tiny_config(**{"trainer.mixed_precision": "bf16-emulated"})  # bf16 on any CPU
    straight = train(bf16, results_folder=tmp_path / "straight", dataset=dataset, progress=False)
    train(bf16, max_steps=5, results_folder=tmp_path / "run", dataset=dataset, progress=False)
    train(bf16, resume="latest", results_folder=tmp_path / "run", dataset=dataset, progress=False)
    assert assert_checkpoints_equal(straight.last_checkpoint, tmp_path / "run" / straight.last_checkpoint.name) > 100
    fp32 = train(make_tiny_config(), max_steps=1, results_folder=tmp_path / "fp32", dataset=dataset, progress=False)
    a, b = current_steps(tmp_path / "straight")[0], current_steps(fp32.results_folder)[0]
    assert a["train/nll_loss"] != b["train/nll_loss"]  # autocast did run in bf16 ...
    assert a["train/nll_loss"] == pytest.approx(b["train/nll_loss"], rel=2e-2)  # ... with fp32 sums
    assert ckpt.load_checkpoint(straight.last_checkpoint)["runtime"]["precision"] == "bf16"


def test_fp16_off_cuda_is_a_config_error(dataset, tmp_path: Path):
    with pytest.raises(ConfigError, match=r"fp16.*needs a CUDA GPU.*bf16"):
        train(make_tiny_config(**{"trainer.mixed_precision": "fp16"}), results_folder=tmp_path, dataset=dataset,
              progress=False)


def test_deterministic_mode_while_training_only(dataset, tmp_path: Path):
    seen = []

    class Probe(StepHook):
        def before_step(self, step):
            seen.append(torch.are_deterministic_algorithms_enabled())

    from radiodiff_lib.model import build_loss, build_model
    from radiodiff_lib.training import Trainer

    for deterministic in (True, False):
        cfg = make_tiny_config(**{"trainer.deterministic": deterministic})
        Trainer(cfg, build_model(cfg), build_loss(cfg), dataset, results_folder=tmp_path / str(deterministic),
                hooks=[Probe()], progress=False).train(max_steps=1)
    assert seen == [True, False]
    assert not torch.are_deterministic_algorithms_enabled()


def test_runtime_is_recorded_and_a_changed_one_is_noted_on_resume(dataset, tmp_path: Path):
    first = train(make_tiny_config(), max_steps=2, results_folder=tmp_path, dataset=dataset, progress=False)
    runtime = ckpt.load_checkpoint(first.last_checkpoint)["runtime"]
    assert runtime["device"] == "cpu"
    assert runtime["threads"] == torch.get_num_threads() == 1
    assert (runtime["precision"], runtime["deterministic"], runtime["compile"], runtime["world"]) == ("no", True, False, 1)
    same = train(make_tiny_config(), max_steps=3, resume="latest", results_folder=tmp_path, dataset=dataset,
                 progress=False)
    assert not any("computational settings" in n for n in same.notes)
    changed = {"trainer.mixed_precision": "bf16-emulated", "trainer.deterministic": False}  # bf16 on any CPU
    other = train(make_tiny_config(**changed), max_steps=4,
                  resume="latest", results_folder=tmp_path, dataset=dataset, progress=False)
    note = next(n for n in other.notes if "computational settings" in n)
    assert "precision 'no' -> 'bf16'" in note
    assert "deterministic True -> False" in note
    assert "not bitwise" in note
    assert note in (tmp_path / "train.log").read_text()
    launch = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()][-2]
    assert launch["kind"] == "launch"
    assert note in launch["notes"]
    older = ckpt.load_checkpoint(ckpt.list_checkpoints(tmp_path)[-1])
    del older["runtime"]  # as an older workbench wrote it
    ckpt.save_checkpoint(ckpt.list_checkpoints(tmp_path)[-1], older)
    unknown = train(make_tiny_config(), max_steps=5, resume="latest", results_folder=tmp_path, dataset=dataset,
                    progress=False)
    assert any("does not record how it was computed" in n for n in unknown.notes)


@pytest.mark.slow
def test_compiled_run_resumes_bitwise(dataset, tmp_path: Path):
    """trainer.compile on CPU (inductor; ~1.5 min to compile here): a compiled run stopped and resumed ends
    bitwise equal to a compiled run that never stopped, and its checkpoint says it was compiled."""
    cfg = make_tiny_config(**{"trainer.compile": True})
    straight = train(cfg, results_folder=tmp_path / "straight", dataset=dataset, progress=False)
    train(cfg, max_steps=5, results_folder=tmp_path / "run", dataset=dataset, progress=False)
    train(cfg, resume="latest", results_folder=tmp_path / "run", dataset=dataset, progress=False)
    assert assert_checkpoints_equal(straight.last_checkpoint, tmp_path / "run" / straight.last_checkpoint.name) > 100
    assert ckpt.load_checkpoint(straight.last_checkpoint)["runtime"]["compile"] is True
    eager = train(make_tiny_config(), results_folder=tmp_path / "eager", dataset=dataset, progress=False)
    compiled_rows, eager_rows = current_steps(tmp_path / "straight"), current_steps(eager.results_folder)
    for step in (0, 7):  # the same math, up to float rounding of the compiled kernels
        assert compiled_rows[step]["train/nll_loss"] == pytest.approx(eager_rows[step]["train/nll_loss"], rel=1e-3)
