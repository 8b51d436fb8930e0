"""The table of ``gpu_check.sh``: reads the JSON files it wrote and prints Markdown for docs/benchmarks.md.

    python -m radiodiff_lib.bench.gpu_report OUT_DIR

Imports nothing but the standard library: it must run wherever the check ran.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

TRAIN_RUNS = (("train_fp32.json", "fp32"), ("train_bf16.json", "bf16"),
              ("train_bf16_channels_last.json", "bf16 + channels_last"), ("train_bf16_compile.json", "bf16 + compile"),
              ("train_bf16_compile_nondet.json", "bf16 + compile, deterministic: false"))


def _train_rows(out: Path) -> list[str]:
    rows = ["| our trainer | phase | ours s/step | RadioDiff fp32 s/step | speedup | ours images/s | peak MB ours / RadioDiff "
            "| ETA 150k steps, h: ours / RadioDiff |", "|---|---|---|---|---|---|---|---|"]
    for name, label in TRAIN_RUNS:
        path = out / name
        if not path.is_file():
            rows.append(f"| {label} | (no result: not run, or see {name[:-5]}.log) | | | | | | |")
            continue
        data = json.loads(path.read_text())
        ran = data["hardware"]["precision"]
        if not label.startswith(ran):  # bf16 asked for on hardware without bf16 units: it ran fp32
            label = f"{label} (ran {ran}: no bf16 units)"
        eta = data["eta_hours_150k_steps"]
        for phase, title in (("pre_disc", "before disc_start"), ("gan", "GAN phase")):
            p = data["phases"][phase]
            ours, theirs = p["ours"], p["radiodiff_procedure"]
            rows.append(f"| {label} | {title} | {ours['seconds_per_step']:.3f} | {theirs['seconds_per_step']:.3f} | "
                        f"{p['speedup']:.2f}x | {ours['images_per_second']:.1f} | {ours['peak_memory_mb']:,.0f} / "
                        f"{theirs['peak_memory_mb']:,.0f} | {eta['ours']:.1f} / {eta['radiodiff_procedure']:.1f} |")
    return rows


def _attention_rows(out: Path) -> list[str]:
    path = out / "attention.json"
    if not path.is_file():
        return ["(attention.json missing: see attention.log)"]
    data = json.loads(path.read_text())
    vae = data["vae_forward_backward"]
    rows = [f"VAE forward + backward, {data['resolution']} x {data['resolution']}, ch {data['ch']}, batch {data['batch']}:",
            "", "| attention path | peak MB | seconds | largest batch |", "|---|---|---|---|"]
    for key, label in (("math_path", "math (the old transposed q/k/v)"), ("fused_path", "fused (contiguous q/k/v)")):
        largest = data.get("max_batch", {}).get(key, "-")
        rows.append(f"| {label} | {vae[key]['peak_mb']:,.0f} | {vae[key]['seconds']:.3f} | {largest} |")
    return rows


def _resume_rows(out: Path, gpus: int) -> list[str]:
    rows = []
    runs = (("resume_1gpu.json", "1 process"),) + ((("resume_2gpu.json", "2 processes on 2 GPUs (DDP)"),)
                                                    if gpus >= 2 else ())
    for name, label in runs:
        path = out / name
        if path.is_file():
            r = json.loads(path.read_text())
            verdict = "bitwise equal" if r["bitwise_equal"] else f"DIFFERENT ({', '.join(r['differences'][:5])})"
            precision = {"no": "fp32"}.get(r["runtime"]["precision"], r["runtime"]["precision"])
            where = r["hardware"]["gpu"] or r["hardware"]["cpu"]
            rows.append(f"- exact resume on {where}, {label}, stop at step {r['stopped_at']} of "
                        f"{r['steps']}, {precision}, deterministic {r['runtime']['deterministic']}: {verdict} "
                        f"({r['tensors_compared']} tensors)")
        else:
            rows.append(f"- exact resume, {label}: no result (it failed, or Accelerate is missing: "
                        f"see {name[:-5]}.log)")
    return rows


def report(out: str | Path) -> str:
    """The Markdown text for the results in ``out``."""
    out = Path(out)
    path = out / "machine.json"
    machine = (json.loads(path.read_text()) if path.is_file()
               else {"measured_on": "unknown (no machine.json)", "gpus": 0})
    return "\n".join([f"Measured on: {machine['measured_on']}", ""] + _train_rows(out) + [""] + _attention_rows(out)
                     + [""] + _resume_rows(out, machine["gpus"]))


if __name__ == "__main__":
    print(report(sys.argv[1] if len(sys.argv) > 1 else "runs/gpu_check"))
