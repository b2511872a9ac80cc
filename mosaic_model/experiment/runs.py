"""The experiment's runs: geometry-encoder pretraining, every arm x seed trained, every final checkpoint scored.

``command.Experiment`` calls these in order and decides what is done (its ledger). Runs are ``params.yaml``
``experiment`` arms x seeds, named ``<arm>-s<seed>``; each run logs into its own MLflow SQLite store under
``<work>/mlflow/`` (one writer per database), exported with the results.

    python -m mosaic_model.experiment run [--config C] ...     the experiment past its data step (a GPU machine)
    python -m mosaic_model.experiment export-encoder WEIGHTS OUT
"""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from mosaic_pipeline.params import ExperimentParams, Params, load_params

from ..config import RunConfig, load_run_config
from ..geometry_pretrain import WEIGHTS, pretrain_tracked, with_pretrained_geometry
from ..metrics import SCORES
from ..tracking import TrackingConfig
from .bundle import FRAMES, QA
from .scoring import BLANK_FRAMES, Scoring

if TYPE_CHECKING:
    from ..train import TrainResult

GEOMETRY_DIR = "geometry"
ENCODER = "encoder.safetensors"  # in GEOMETRY_DIR: the frozen encoder the full arm reads (autocast_encoder_state)


def tracking(work: Path, name: str, params: Params, commit: str) -> TrackingConfig:
    """Run ``name``'s own MLflow store (one writer per SQLite file), its runs tagged with ``commit``."""
    db = work / "mlflow" / f"{name}.db"
    db.parent.mkdir(parents=True, exist_ok=True)
    return TrackingConfig(f"sqlite:///{db.resolve()}", params.model.experiment, commit=commit)


def run_config(name: str, exp: ExperimentParams, work: Path) -> RunConfig:
    """The model and training config of run ``<arm>-s<seed>``: the arm's model overrides, the seed."""
    arm, seed = _arm_seed(name, exp)
    variant = exp.arms[arm]
    cfg = load_run_config(exp.config, {"model": variant.model, "train": {**exp.train, "seed": seed}})
    if not variant.pretrained_geometry:
        return cfg
    weights = (work / GEOMETRY_DIR / ENCODER).resolve()
    if not weights.is_file():
        raise FileNotFoundError(f"run {name!r} needs the pretrained geometry encoder at {weights} (the geometry step)")
    return with_pretrained_geometry(cfg, weights)


def _arm_seed(name: str, exp: ExperimentParams) -> tuple[str, int]:
    runs = exp.runs()
    if name not in runs:
        raise KeyError(f"no run {name!r} in params.yaml experiment (arms x seeds: {', '.join(runs)})")
    return runs[name]


def image_root(name: str, exp: ExperimentParams, bundle: Path, work: Path, blank: bool = False) -> Path:
    """The bundle's frames, or (a blind run, or ``blank``) grey frames at the same paths."""
    if not (blank or exp.arms[_arm_seed(name, exp)[0]].blank_frames):
        return bundle / FRAMES
    from ..data import read_qa
    from .baselines import write_blank_frames

    size = load_run_config(exp.config).model.geometry.vggt.img_size
    return write_blank_frames(read_qa(bundle / QA, None), work / BLANK_FRAMES, size)


def run_geometry(bundle: Path, work: Path, params: Params, commit: str) -> Path:
    """Pretrain the geometry encoder on the full bundle (every registered frame, depth, poses); beside the
    pretrained VGGT (heads included), the encoder the full arm reads (``ENCODER``)."""
    from ..train import select_device

    out = work / GEOMETRY_DIR
    vggt_cfg = load_run_config(params.experiment.config).model.geometry.vggt
    pretrain_tracked(vggt_cfg, params.geometry_pretrain, bundle, out, tracking(work, "geometry", params, commit),
                     f"geometry-{params.experiment.config}", select_device(None),
                     on_step=lambda s: print(f"geometry step {s.step}: loss {s.loss:.4f}", flush=True))
    write_encoder(out / WEIGHTS, out / ENCODER, params)
    return out


def write_encoder(weights: Path, out: Path, params: Params) -> Path:
    """``out``: the frozen encoder of the pretrained ``weights`` as bf16 autocast reads it, written atomically.

    The runs read this file, not the pretrained VGGT: under a third of its bytes (no heads, linear layers in
    bf16), the same tokens under the bf16 autocast the runs train and score in on a GPU (a CPU run, without
    autocast, reads the rounded tensors in fp32), and small enough to come back from a GPU machine and be
    carried to the next (docs/experiment.md, "Where it runs").
    """
    from safetensors.torch import save_file

    from mosaic_pipeline.atomic import atomic_file

    with atomic_file(out) as tmp:
        save_file(autocast_encoder_state(weights, params), str(tmp))
    return out


def autocast_encoder_state(weights: Path, params: Params) -> dict[str, Any]:
    """The pretrained encoder's tensors that the frozen geometry branch reads, in about half the bytes.

    Linear and convolution weights and biases are stored in bf16, every other tensor (LayerNorm,
    LayerScale, position embedding, camera and register tokens) in fp32. Under bf16 autocast, where the
    experiment trains and evaluates on the GPU, autocast rounds exactly those tensors to bf16 anyway
    (round to nearest even, as here), so the branch computes the same values as from the fp32 file; it
    is how the encoder travels between device commands within the transfer limit.
    """
    import torch
    from torch import nn

    from ..modeling import GeometryEncoder

    geometry = load_run_config(params.experiment.config).model.geometry
    model = GeometryEncoder(geometry.model_copy(update={"weights": str(weights)})).vggt
    low = {f"{name}.{kind}" for name, module in model.named_modules() if isinstance(module, (nn.Linear, nn.Conv2d))
           for kind in ("weight", "bias")}
    return {k: v.to(torch.bfloat16) if k in low else v for k, v in model.state_dict().items()}


def run_dir(work: Path, name: str) -> Path:
    return work / "runs" / name


def eval_dir(work: Path, form: str, name: str, split: str) -> Path:
    """The scoring folder of run ``name`` on ``split`` in ``form`` (``Scoring.form``)."""
    return work / "eval" / form / name / split


def retire_runs(work: Path, name: str) -> int:
    """Delete (MLflow's soft delete: kept in the store, left out of searches and the report) every run in the
    stores of run ``name`` and of its scorings, before it starts over; the number retired."""
    from mlflow.tracking import MlflowClient

    retired = 0
    for store in (name, f"eval-{name}"):
        db = work / "mlflow" / f"{store}.db"
        if not db.is_file():
            continue
        client = MlflowClient(tracking_uri=f"sqlite:///{db.resolve()}")
        for run in client.search_runs([e.experiment_id for e in client.search_experiments()]):
            client.delete_run(run.info.run_id)
            retired += 1
    return retired


def run_training(name: str, bundle: Path, work: Path, params: Params, commit: str,
                 deadline: float | None = None) -> TrainResult:
    """Train run ``name`` (or continue it from its latest checkpoint) until done or ``deadline``."""
    from ..train import train

    exp = params.experiment
    cfg = run_config(name, exp, work)
    return train(cfg, bundle / QA, image_root(name, exp, bundle, work), run_dir(work, name), params,
                 tracking(work, name, params, commit), deadline=deadline,
                 on_step=lambda s: s.step % 100 == 0 and print(f"{name} step {s.step}: loss {s.loss:.4f}", flush=True))


def run_evaluation(name: str, checkpoint: Path, bundle: Path, work: Path, scoring: Scoring, params: Params,
                   commit: str) -> Path:
    """Score ``checkpoint`` of run ``name`` as ``scoring`` says; the scores file."""
    from ..evaluate import evaluate

    out = eval_dir(work, scoring.form, name, scoring.split)
    frames = image_root(name, params.experiment, bundle, work, blank=scoring.blank_frames)
    evaluate(checkpoint, bundle / QA, frames, out, scoring.split, params,
             tracking(work, f"eval-{name}", params, commit), prompt=scoring.prompt,
             run_name=f"eval-{scoring.split}-{scoring.form}")  # the ablation's name differs from its prompt's
    return out / SCORES


_DIR = click.Path(path_type=Path)


@click.group()
def cli() -> None:
    """The paper experiment (see the module docstring)."""


@cli.command("export-encoder")
@click.argument("weights", type=click.Path(path_type=Path, exists=True, dir_okay=False))
@click.argument("out", type=_DIR)
def export_encoder(weights: Path, out: Path) -> None:
    """Write the frozen encoder of WEIGHTS to OUT as bf16 autocast reads it (``autocast_encoder_state``)."""
    click.echo(write_encoder(weights, out, load_params()))

