"""The ``make report`` story: train the demo VAE, stop part-way, resume to the end, evaluate, render the report.

The training runs in this process (not in a notebook kernel): one interpreter start less, and the
progress bar shows in the terminal. Only the analysis report runs as a notebook.
"""
from __future__ import annotations

import shutil
import sys
import time
from pathlib import Path

import torch
from PIL import Image

from ..config import Config, resolve_config
from ..errors import NotebookError
from ..training import resume, train
from .runner import ReportPaths, render_notebook

DEMO_FOLDER = Path("runs/demo-report")
EVAL_MAPS = 16


def stop_step(train_num_steps: int, save_every: int) -> int:
    """Where the first launch stops: about 5/8 of the way, never on a checkpoint milestone."""
    k = max(1, (train_num_steps * 5) // 8)
    k = k + 1 if k % save_every == 0 else k
    return min(k, max(1, train_num_steps - 1))


def train_demo(folder: Path = DEMO_FOLDER, progress: bool = True, say=print,
               config: str | Config = "demo") -> tuple[Path, list[str]]:
    """Train ``config`` (the built-in demo) in ``folder``, fresh: stop part-way, resume to the end;
    returns (last checkpoint, the story lines)."""
    threads = torch.get_num_threads()
    # One thread: at this model size two threads were 2x slower on a 2-core machine (sync overhead)
    torch.set_num_threads(1)
    try:
        return _train_story(resolve_config(config), folder, progress, say)
    finally:
        torch.set_num_threads(threads)


def _train_story(cfg: Config, folder: Path, progress: bool, say) -> tuple[Path, list[str]]:
    """Launch 1 to the stop step, launch 2 resumed to the end; say what happened."""
    tr, disc_start = cfg.trainer, cfg.model.lossconfig.disc_start
    if folder.exists():
        shutil.rmtree(folder)  # a fresh run each time: the trainer refuses a folder with old checkpoints
    k = stop_step(tr.train_num_steps, tr.save_and_sample_every)
    story = []
    t0 = time.perf_counter()
    first = train(cfg, max_steps=k, results_folder=folder, progress=progress)
    story.append(f"launch 1: trained steps 0..{first.step} of {tr.train_num_steps} and stopped part-way "
                 f"(as an interruption would) in {time.perf_counter() - t0:.0f} s")
    say(story[-1])
    t1 = time.perf_counter()
    second = resume(folder, checkpoint="latest", progress=progress)
    story.append(f"launch 2: resumed from {Path(str(second.resumed_from)).name if second.resumed_from else 'latest'} "
                 f"to step {second.step} in {time.perf_counter() - t1:.0f} s (the discriminator starts at step "
                 f"{disc_start})")
    say(story[-1])
    if second.last_checkpoint is None:
        raise NotebookError(f"The demo training in {folder} left no checkpoint to evaluate.")
    return Path(second.last_checkpoint), story


def demo_report(out_dir: str | Path = "reports", log: str | Path | None = None,
                config: str | Config = "demo", example: bool = False) -> ReportPaths:
    """Train + resume ``config`` (the built-in demo) and render analyze.ipynb over it; with ``log``, only
    render that run's analysis. ``example``: keep only the Markdown and its figures, made small (the
    repository's committed example report)."""
    started = time.perf_counter()
    if log is not None:
        if not Path(log).exists():
            raise NotebookError(f"LOG={log}: no such file or folder. Give a RadioDiff results folder, a *.log "
                                "file, a workbench results folder or TensorBoard events.")
        paths = render_notebook("analyze", {"log_paths": [str(log)]}, out_dir=out_dir)
    else:
        # a progress bar in a terminal; in a CI log its carriage-return updates would be one long line
        checkpoint, _story = train_demo(progress=sys.stderr.isatty(), say=lambda line: print(line, flush=True),
                                        config=config)
        print("rendering the analysis report ...", flush=True)
        paths = render_notebook("analyze", {"log_paths": [str(DEMO_FOLDER)], "checkpoint": str(checkpoint),
                                            "eval_n": EVAL_MAPS}, out_dir=out_dir)
    paths.seconds = time.perf_counter() - started
    if example:
        keep_markdown_only(paths)
    return paths


def keep_markdown_only(paths: ReportPaths, colors: int = 128) -> None:
    """Delete the HTML and the executed notebook of a render and store its figures with a palette of
    ``colors`` (a quarter of the bytes; the curves and maps look the same)."""
    paths.html.unlink(missing_ok=True)
    paths.ipynb.unlink(missing_ok=True)
    for png in sorted(paths.md.with_name(f"{paths.md.stem}_files").glob("*.png")):
        image = Image.open(png).convert("RGB")
        image.quantize(colors=colors, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE).save(
            png, "PNG", optimize=True)
