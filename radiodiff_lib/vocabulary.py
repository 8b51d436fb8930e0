"""The names the whole workbench shares, spelled once: logged metrics, the columns of a read run, the
RadioDiff step-line marker, TensorBoard tags, the record kinds of ``metrics.jsonl``, the files of a
results folder, the two checkpoint formats and the precisions.

Imports nothing: every package may use it.
"""
from __future__ import annotations

# --- what the VAE-GAN loss logs, as RadioDiff's train_vae.py names it ---------------------------
TOTAL_LOSS = "train/total_loss"
LOGVAR = "train/logvar"
KL_LOSS = "train/kl_loss"
NLL_LOSS = "train/nll_loss"
REC_LOSS = "train/rec_loss"
D_WEIGHT = "train/d_weight"
DISC_FACTOR = "train/disc_factor"
G_LOSS = "train/g_loss"
DISC_LOSS = "train/disc_loss"
LOGITS_REAL = "train/logits_real"
LOGITS_FAKE = "train/logits_fake"
LR = "lr"

# The generator line and the discriminator line of a step, in RadioDiff's print order.
GENERATOR_METRICS = (TOTAL_LOSS, LOGVAR, KL_LOSS, NLL_LOSS, REC_LOSS, D_WEIGHT, DISC_FACTOR, G_LOSS)
DISCRIMINATOR_METRICS = (DISC_LOSS, LOGITS_REAL, LOGITS_FAKE)
# Every metric of a first-stage log in that order (the column order of a read run).
LOG_METRICS = GENERATOR_METRICS + DISCRIMINATOR_METRICS + (LR,)

# The discriminator line also prints the LR; a reader keeps that second copy under this name.
LR_DISC = "lr_disc"

# RadioDiff's TensorBoard scalar tag -> the name its text log prints.
TENSORBOARD_NAMES = {name.split("/", 1)[-1]: name for name in GENERATOR_METRICS + DISCRIMINATOR_METRICS}
TENSORBOARD_NAMES["Learning_Rate"] = LR


def tensorboard_tag(name: str) -> str:
    """The TensorBoard tag RadioDiff writes for a logged name (``train/rec_loss`` -> ``rec_loss``)."""
    return "Learning_Rate" if name == LR else name.split("/", 1)[-1]


def short_name(name: str) -> str:
    """A metric name without its ``train/`` prefix, for titles and legends."""
    return name.split("/", 1)[-1]


# --- the second stage: train_cond_ldm.py (conditional latent diffusion on the trained VAE) -------
LOSS_SIMPLE = "loss_simple"
LOSS_VLB = "loss_vlb"
LDM_TOTAL_LOSS = "total_loss"  # the second stage prints its total without the "train/" prefix
# Every metric of a second-stage log in its print order (the column order of a read run).
LDM_METRICS = (LOSS_SIMPLE, LOSS_VLB, LDM_TOTAL_LOSS, LR)
# Its TensorBoard tags are the names its text log prints, but for Learning_Rate (read as LR).

# The two training stages a run can belong to.
STAGE_VAE = "vae"  # train_vae.py / our trainer: the KL autoencoder and its PatchGAN
STAGE_LDM = "ldm"  # train_cond_ldm.py: conditional latent diffusion on the trained VAE
STAGES = (STAGE_VAE, STAGE_LDM)
# What the report calls a run of each stage: its title, its key figure and that figure's alt text.
STAGE_TITLES = {STAGE_VAE: "First-stage (VAE) run", STAGE_LDM: "Second-stage (latent diffusion) run"}

# Which sources of a run the log reader reads (``radiodiff analyze --source``).
SOURCE_CHOICES = ("all", "text", "tensorboard", "metrics")
# The kinds of file a run's logs come in (each has its parser); ``Run.segments`` and the source report
# name them, and the analysis tells the sources apart by them.
KIND_EVENTS = "tensorboard"  # events.out.tfevents.*
KIND_METRICS = "workbench-metrics"  # metrics.jsonl
KIND_WORKBENCH_LOG = "workbench-log"  # train.log
KIND_RADIODIFF_LOG = "radiodiff-log"  # RadioDiff's <YYYY-MM-DD-HH-MM>_.log, and any other *.log

# --- a read run: one row per logged step ------------------------------------------------------
# The columns of ``Run.df`` that are not metrics: the step, its log time, the file and launch (segment)
# it came from, its line in that file, and its training phase (metrics.jsonl only). Every other column is
# a metric, named as the log names it.
ROW_COLUMNS = ("step", "time", "file", "segment", "line", "phase")
# ``Run.segments``, one row per launch stitched into the timeline (a merged run adds ``events_file``).
SEGMENT_COLUMNS = ("segment", "file", "first_step", "last_step", "start_time", "end_time", "n_rows", "kind",
                   "rewind_to")

# --- text logs ------------------------------------------------------------------------------
STEP_MARK = "[Train Step] "  # opens every step line: "<asctime> [Train Step] <step>/<total>: k: v, ..."
LOG_FORMAT = "%(asctime)-15s %(message)s"  # RadioDiff's logging format, which ours reproduces

# --- a workbench results folder -------------------------------------------------------------
METRICS_FILE = "metrics.jsonl"
TEXT_LOG = "train.log"
CONFIG_FILE = "config.yaml"
CHECKPOINT_LEDGER = "checkpoints.json"  # the checkpoint files the trainer wrote (retention deletes only those)
SET_ASIDE_FOLDER = "set-aside"  # later checkpoints a resume from an earlier one moved out of the way
LOCK_FILE = ".radiodiff.lock"  # held by the training process that writes the folder
# The checkpoint entry recording which maps the run trained on (``data.records.split_record``).
SPLIT_RECORD = "data_split"

# Record kinds of metrics.jsonl: a launch starts a segment, a rewind says that the launch replaces
# the rows from ``to_step`` on, a step is one logged row.
RECORD_LAUNCH = "launch"
RECORD_REWIND = "rewind"
RECORD_STEP = "step"
# Keys of a step record that are bookkeeping, not metrics.
RECORD_FIELDS = ("kind", "launch", "time", "step", "phase")

# Training phases: the VAE alone before disc_start, then the VAE with its discriminator.
PHASE_VAE, PHASE_GAN = "vae", "gan"
PHASES = (PHASE_VAE, PHASE_GAN)

# --- precisions: what trainer.mixed_precision and the --precision options take ---------------
# (``hardware`` holds the rules: which one runs on which device, and its autocast)
FP32 = "no"  # accelerate's and RadioDiff's name for no mixed precision
BF16 = "bf16"
BF16_EMULATED = "bf16-emulated"  # bf16 even without bf16 units (emulated: tens of times slower on AVX2)
FP16 = "fp16"
PRECISIONS = (FP32, BF16, BF16_EMULATED, FP16)

# --- checkpoints ----------------------------------------------------------------------------
# What ``checkpoints.load_any``, the inspect table and a sweep call the two formats a checkpoint can have.
WORKBENCH_CHECKPOINT = "workbench"  # ours: atomic, checksummed, the whole training state
RADIODIFF_CHECKPOINT = "radiodiff"  # RadioDiff's model-N.pt: weights (and EMA), nothing to resume exactly
CHECKPOINT_FORMATS = (WORKBENCH_CHECKPOINT, RADIODIFF_CHECKPOINT)

# --- data -----------------------------------------------------------------------------------
# RadioMapSeer's split protocols (``data.split_protocol``, ``--protocol``); ``data.splits`` holds what each one is.
SPLIT_PROTOCOLS = ("radiodiff", "radiounet")

# --- evaluation -----------------------------------------------------------------------------
EVAL_METRICS = ("nmse", "rmse", "ssim", "psnr")
# The metrics a sweep gives an interval for and may choose a checkpoint by, in the order its reports show them.
SWEEP_METRICS = ("nmse", "ssim", "psnr")
# How reports and figures name an evaluation metric.
METRIC_NAMES = {"nmse": "NMSE", "rmse": "RMSE", "ssim": "SSIM", "psnr": "PSNR (dB)"}
# Which way an evaluation metric is better (NMSE over street pixels as NMSE).
EVAL_LOWER_IS_BETTER = {"nmse": True, "rmse": True, "nmse_street": True, "ssim": False, "psnr": False}
