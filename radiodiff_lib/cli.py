"""The ``radiodiff`` command: argument parsing only; every command is one library call.

radiodiff train | resume | analyze | compare | evaluate | splits | sweep | inspect | report | demo-report | bench
"""
from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
import warnings
from typing import Any, Callable, Iterator

from .errors import RadiodiffError
from .formatting import PrintableWriter, to_jsonable
from .outputs import check_output_file, check_output_folder, write_text_atomic
from .vocabulary import PRECISIONS, SOURCE_CHOICES, SPLIT_PROTOCOLS


class OutputFile(str):
    """An option's value that names a file the command writes (``--json``): checked before the command runs."""


class OutputFolder(str):
    """An option's value that names a folder the command writes (``--out``, ``--figures``): checked first."""


def _write_json(path: str | None, payload: Any) -> None:
    if path:
        write_text_atomic(path, json.dumps(to_jsonable(payload), indent=2, allow_nan=False) + "\n")
        print(f"wrote {path}")


def _parse_resume(value: str | None) -> str | int | None:
    if value is None:
        return None
    return int(value) if value.isdigit() else value


# Each command imports what it needs when it runs: `radiodiff analyze` must not pay for torch, nor
# `radiodiff --help` for anything (the lazy imports below are for that reason alone).

def cmd_train(args: argparse.Namespace) -> int:
    from .config import replace, resolve_config  # lazy: yaml and the config schema
    from .training import train  # lazy: torch

    config = args.config
    if args.protocol:  # --protocol overrides data.split_protocol of the config
        config = replace(resolve_config(config), **{"data.split_protocol": args.protocol})
    result = train(config, max_steps=args.max_steps, resume=_parse_resume(args.resume),
                   results_folder=args.results_folder, progress=not args.no_progress)
    print(result.summary())
    return 0


def cmd_resume(args: argparse.Namespace) -> int:
    from .training import resume  # lazy: torch

    result = resume(args.folder, checkpoint=_parse_resume(args.checkpoint), max_steps=args.max_steps,
                    progress=not args.no_progress)
    print(result.summary())
    return 0


def cmd_analyze(args: argparse.Namespace) -> int:
    from .analysis import analyze, summary_text, to_json  # lazy: pandas and scipy
    from .logs import read_run  # lazy: pandas

    run = read_run(args.paths, source=args.source)
    result = analyze(run, total_steps=args.total_steps)
    print(summary_text(result))
    _write_json(args.json, to_json(result))
    return 0


def cmd_compare(args: argparse.Namespace) -> int:
    from .analysis import compare_paths, comparison_json, comparison_text  # lazy: pandas and scipy

    runs = [r.split(os.pathsep) if os.pathsep in r else r for r in args.runs]
    labels = [x.strip() for x in args.labels.split(",")] if args.labels else None
    result = compare_paths(runs, labels, source=args.source)
    print(comparison_text(result))
    _write_json(args.json, comparison_json(result))
    for err in result.errors:
        print(f"radiodiff compare: error: run {err['label']} ({', '.join(err['paths'])}) was not read: "
              f"{err['error']}", file=sys.stderr)
    return 2 if result.errors else 0


def cmd_evaluate(args: argparse.Namespace) -> int:
    from .evaluation import evaluate_checkpoint  # lazy: torch
    from .plots import write_evaluation_figures  # lazy: matplotlib

    result = evaluate_checkpoint(args.checkpoint, data=args.data, split=args.split, n=args.n, use_ema=args.ema,
                                 config=args.config, seed=args.seed, protocol=args.protocol,
                                 include_train_maps=args.include_train_maps)
    if args.figures:
        write_evaluation_figures(result, args.figures)
    print(result.summary_text())
    _write_json(args.json, result.to_json())
    return 0


def cmd_splits(args: argparse.Namespace) -> int:
    from .data.radiomapseer import gain_folder, plan_folder  # lazy: torch (the data package's loaders)

    plan = plan_folder(args.root, args.protocol, simulation=args.simulation, cars=args.cars)
    gain = gain_folder(args.root, args.simulation, args.cars)  # the folder the plan read
    print(f"RadioMapSeer folder {args.root} (gain/{gain.name}): {plan.summary_text()}")
    _write_json(args.json, plan.to_json())
    return 0


def cmd_sweep(args: argparse.Namespace) -> int:
    from .evaluation import sweep_checkpoints  # lazy: torch

    result = sweep_checkpoints(args.run, data=args.data, split=args.split, protocol=args.protocol, maps=args.maps,
                               tx=args.tx, weights=args.weights, metric=args.metric, out=args.out,
                               stage2_config=args.stage2_config, choose=args.choose, seed=args.seed,
                               n_boot=args.bootstrap, batch_size=args.batch_size, precision=args.precision,
                               device=args.device, config=args.config, latent_maps=args.latent_maps,
                               progress=None if args.quiet else lambda line: print(line, flush=True))
    if result is None:  # a process other than rank 0 of a multi-process sweep: rank 0 reports
        return 0
    print(result.summary_text())
    _write_json(args.json, result.to_json())
    return 0


def cmd_inspect(args: argparse.Namespace) -> int:
    from .checkpoints import inspect_checkpoints, inspect_table_text  # lazy: torch

    table = inspect_checkpoints(args.path)
    print(inspect_table_text(table))
    _write_json(args.json, table.to_dict(orient="records"))
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    from .report import join_values, render_notebook  # lazy: nbconvert and papermill

    params = {values[0]: join_values(values[0], values[1:]) for values in (args.param or [])}
    paths = render_notebook(args.notebook, params, out_dir=args.out, with_code=args.with_code,
                            raw_params=True)
    print(paths.summary())
    return 0


def cmd_demo_report(args: argparse.Namespace) -> int:
    from .report.demo import demo_report  # lazy: torch, nbconvert and papermill

    paths = demo_report(out_dir=args.out, log=args.log, example=args.example)
    print(paths.summary())
    return 0


# The benchmarks of ``radiodiff bench``, each a bench/ module with a ``run`` function; "all" runs them in this order.
BENCHES = ("data", "parse", "train", "attention", "evaluate", "sweep")


def cmd_bench(args: argparse.Namespace) -> int:
    import importlib

    names = list(BENCHES) if args.what == "all" else [args.what]
    options = {"train": {"config": args.config, "device": args.device, "precision": args.precision,
                         "compile": args.compile, "deterministic": not args.no_deterministic, "steps": args.steps,
                         "channels_last": args.channels_last},
               "attention": {"config": args.config, "device": args.device, "max_batch": args.max_batch}}
    results = {}
    for name in names:
        module = importlib.import_module(f".bench.{name}", __package__)
        results[name] = module.run(**options.get(name, {}))
        print(f"radiodiff bench {name}, measured on: {results[name]['hardware']['measured_on']}")
        print(json.dumps(to_jsonable({name: results[name]}), indent=2))
    _write_json(args.json, results if args.what == "all" else results[args.what])
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``radiodiff`` command."""
    p = argparse.ArgumentParser(prog="radiodiff", description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="command", required=True)

    t = sub.add_parser("train", help="train the VAE from a config (RadioDiff YAML or built-in name)")
    t.add_argument("--config", required=True, help="YAML file, or a built-in: demo, radiodiff, bench")
    t.add_argument("--max-steps", type=int, help="stop after this global step (a checkpoint is written)")
    t.add_argument("--resume", help="latest, a checkpoint path, or a milestone number")
    t.add_argument("--results-folder", help="override trainer.results_folder")
    t.add_argument("--no-progress", action="store_true", help="no progress bar")
    t.add_argument("--protocol", choices=SPLIT_PROTOCOLS,
                   help="RadioMapSeer split protocol to train on (overrides data.split_protocol)")
    t.set_defaults(func=cmd_train)

    r = sub.add_parser("resume", help="resume a results folder from its newest good checkpoint")
    r.add_argument("folder")
    r.add_argument("--checkpoint", help="latest (default), a path or a milestone number")
    r.add_argument("--max-steps", type=int)
    r.add_argument("--no-progress", action="store_true")
    r.set_defaults(func=cmd_resume)

    a = sub.add_parser("analyze", help="read training logs (files or folders) and analyse the run")
    a.add_argument("paths", nargs="+")
    a.add_argument("--total-steps", type=int, help="train_num_steps when the log does not say")
    a.add_argument("--json", type=OutputFile, help="write the whole analysis as JSON here")
    a.add_argument("--source", default="all", choices=SOURCE_CHOICES,
                   help="which files to read: all (merged, default), text (*.log), tensorboard, metrics")
    a.set_defaults(func=cmd_analyze)

    c = sub.add_parser("compare", help="2 to 8 runs side by side: curves, statistics, config diff, verdicts")
    c.add_argument("runs", nargs="+", metavar="RUN",
                   help=f"a results folder or log file per run (several files of one run: join them with {os.pathsep!r})")
    c.add_argument("--labels", help="comma-separated run labels (default: the folder or file names)")
    c.add_argument("--json", type=OutputFile, help="write the comparison as JSON here")
    c.add_argument("--source", default="all", choices=SOURCE_CHOICES, help="which files of each run to read")
    c.set_defaults(func=cmd_compare)

    e = sub.add_parser("evaluate", help="reconstruction metrics and latent statistics of a checkpoint")
    e.add_argument("checkpoint")
    e.add_argument("--data", default="synthetic", help="synthetic, or a RadioMapSeer folder")
    e.add_argument("--split", default="test", choices=["train", "val", "test"])
    e.add_argument("--n", type=int, help="evaluate at most this many maps")
    e.add_argument("--ema", action="store_true", help="use the EMA weights")
    e.add_argument("--config", help="architecture config for a RadioDiff checkpoint")
    e.add_argument("--seed", type=int, default=0)
    e.add_argument("--figures", type=OutputFolder, help="write the example grid and histograms to this folder")
    e.add_argument("--json", type=OutputFile, help="write the results as JSON here")
    e.add_argument("--protocol", choices=SPLIT_PROTOCOLS, help="RadioMapSeer split protocol (default: the one "
                   "the checkpoint trained on; radiodiff for a RadioDiff model-N.pt)")
    e.add_argument("--include-train-maps", action="store_true",
                   help="score the evaluated maps the checkpoint trained on too (left out by default); labelled")
    e.set_defaults(func=cmd_evaluate)

    sp = sub.add_parser("splits", help="which RadioMapSeer maps each split of a protocol holds, overlaps, missing")
    sp.add_argument("root", help="the RadioMapSeer folder (holding gain/)")
    sp.add_argument("--protocol", choices=SPLIT_PROTOCOLS, default="radiodiff",
                    help="radiodiff (RadioDiff's RadioUNet_c, default) or radiounet (the RadioUNet paper's)")
    sp.add_argument("--simulation", default="DPM", choices=["DPM", "IRT2", "IRT4"],
                    help="the gain folder whose file names are read")
    sp.add_argument("--cars", action="store_true", help="read gain/cars<SIMULATION>")
    sp.add_argument("--json", type=OutputFile, help="write the split as JSON here")
    sp.set_defaults(func=cmd_splits)

    w = sub.add_parser("sweep", help="every checkpoint of a run on the same held-out maps: which one, how sure, "
                                     "its latent scale and the hand-off to the second stage")
    w.add_argument("run", help="a results folder holding model-*.pt (ours or RadioDiff's)")
    w.add_argument("--data", default="synthetic", help="synthetic (the run's own generator), or a RadioMapSeer folder")
    w.add_argument("--split", default="val", choices=["train", "val", "test"], help="the maps compared (default val)")
    w.add_argument("--protocol", choices=SPLIT_PROTOCOLS, help="RadioMapSeer split protocol (default: the one the "
                   "run trained on; radiodiff for RadioDiff model-N.pt files)")
    w.add_argument("--maps", type=int, help="a seeded subset of this many maps (default all of the split)")
    w.add_argument("--tx", type=int, help="a seeded subset of this many transmitters per map (default all)")
    w.add_argument("--weights", default="ema", choices=["ema", "model", "both"],
                   help="which weights of each checkpoint (default ema: the ones RadioDiff's second stage loads)")
    w.add_argument("--metric", default="nmse", choices=["nmse", "ssim", "psnr"], help="what 'best' means")
    w.add_argument("--choose", default="best", choices=["best", "earliest"],
                   help="hand off the best, or the earliest checkpoint indistinguishable from it")
    w.add_argument("--out", type=OutputFolder, help="the sweep's folder (default RUN/sweep); nothing is written elsewhere")
    w.add_argument("--stage2-config", help="a second-stage config (radio_train.yaml) to check and merge")
    w.add_argument("--config", help="architecture/data config for checkpoints without one (RadioDiff's)")
    w.add_argument("--seed", type=int, default=0, help="picks the maps and transmitters, and the bootstrap draws")
    w.add_argument("--bootstrap", type=int, default=2000, help="bootstrap draws (default 2000)")
    w.add_argument("--batch-size", type=int, default=8)
    w.add_argument("--precision", default="no", choices=PRECISIONS,
                   help="the forward's precision (bf16 without bf16 units runs fp32 and says so; bf16-emulated insists)")
    w.add_argument("--device", choices=["cpu", "cuda"], help="default CUDA when PyTorch sees a GPU")
    w.add_argument("--latent-maps", type=int, help="measure the latent scale on this many training maps (default all)")
    w.add_argument("--quiet", action="store_true", help="no line per scored checkpoint")
    w.add_argument("--json", type=OutputFile, help="write the sweep as JSON here (it is also written to the out folder)")
    w.set_defaults(func=cmd_sweep)

    i = sub.add_parser("inspect", help="table of the checkpoints in a results folder, or one file")
    i.add_argument("path")
    i.add_argument("--json", type=OutputFile, help="write the table as JSON here")
    i.set_defaults(func=cmd_inspect)

    rp = sub.add_parser("report", help="run a notebook with papermill and render HTML + Markdown")
    rp.add_argument("notebook", help="path, or train / resume / analyze / compare / checkpoints")
    rp.add_argument("-p", "--param", nargs="+", action="append", metavar="NAME VALUE",
                    help="a notebook parameter: -p NAME VALUE, or -p NAME V1 V2 ... for a list")
    rp.add_argument("--out", type=OutputFolder, default="reports", help="the report's folder (default reports)")
    rp.add_argument("--with-code", action="store_true", help="keep the code cells in the HTML")
    rp.set_defaults(func=cmd_report)

    d = sub.add_parser("demo-report", help="the whole story on synthetic data, or analyse --log PATH")
    d.add_argument("--out", type=OutputFolder, default="reports", help="the report's folder (default reports)")
    d.add_argument("--log", help="analyse this run (RadioDiff folder or log files) without training")
    d.add_argument("--example", action="store_true",
                   help="keep only the Markdown and small figures (how reports/example/ is made)")
    d.set_defaults(func=cmd_demo_report)

    b = sub.add_parser("bench", help="benchmarks that print numbers")
    b.add_argument("what", choices=[*BENCHES, "all"])
    b.add_argument("--json", type=OutputFile, help="write the numbers as JSON here")
    b.add_argument("--config", default="radiodiff", help="train, attention: YAML file or built-in "
                   "(default radiodiff: 320x320, ch 128; bench is the small CPU one)")
    b.add_argument("--device", choices=["cpu", "cuda"], help="train, attention: default CUDA when PyTorch sees a GPU")
    b.add_argument("--precision", choices=PRECISIONS, default="no",
                   help="train: our trainer's precision (bf16 runs fp32 on a CPU without bf16 units, and says so)")
    b.add_argument("--compile", action="store_true", help="train: our trainer with trainer.compile")
    b.add_argument("--no-deterministic", action="store_true", help="train: trainer.deterministic false")
    b.add_argument("--channels-last", action="store_true", help="train: trainer.channels_last true")
    b.add_argument("--steps", type=int, default=5, help="train: timed steps per phase (default 5)")
    b.add_argument("--max-batch", action="store_true", help="attention (GPU): also the largest batch that fits")
    b.set_defaults(func=cmd_bench)
    return p


def _one_line_warning(message, category, filename, lineno, line=None) -> str:
    """Warnings as one line for a terminal, without the library's file and line."""
    return f"radiodiff: warning: {message}\n"


def check_outputs(args: argparse.Namespace) -> None:
    """Check every file and folder the command will write (``OutputFile``, ``OutputFolder`` options)
    before it starts: a read-only folder or a file where a folder is wanted is said now, not after the work."""
    for dest, value in vars(args).items():
        option = "--" + dest.replace("_", "-")
        if isinstance(value, OutputFile):
            check_output_file(value, option)
        elif isinstance(value, OutputFolder):
            check_output_folder(value, option)


@contextlib.contextmanager
def printable_output() -> Iterator[None]:
    """stdout and stderr through ``PrintableWriter`` while a command runs: no control character from a
    folder name, a label or a logged value reaches the terminal raw, whichever command prints it."""
    streams = sys.stdout, sys.stderr
    sys.stdout, sys.stderr = PrintableWriter(sys.stdout), PrintableWriter(sys.stderr)  # type: ignore[assignment]
    try:
        yield
    finally:
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(OSError, ValueError):  # a closed pipe (`| head`), a closed stream
                stream.flush()
        sys.stdout, sys.stderr = streams


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``radiodiff`` console command."""
    warnings.formatwarning = _one_line_warning
    with printable_output():
        args = build_parser().parse_args(argv)
        func: Callable[[argparse.Namespace], int] = args.func
        try:
            check_outputs(args)
            return func(args)
        except RadiodiffError as exc:
            print(f"radiodiff {args.command}: error: {exc}", file=sys.stderr)
            return 2
        except OSError as exc:  # a disk that filled, a folder removed or made read-only while the command ran
            where = f" {exc.filename}" if exc.filename else ""
            print(f"radiodiff {args.command}: error: cannot read or write{where}: {exc.strerror or exc}",
                  file=sys.stderr)
            return 2
        except KeyboardInterrupt:
            print(f"radiodiff {args.command}: interrupted", file=sys.stderr)
            return 130


if __name__ == "__main__":
    sys.exit(main())
