"""The paper experiment on one GPU machine: geometry-encoder pretraining, the VLM runs, their evaluation.

Every stage reads the data bundle (``mosaic_model.experiment.bundle``) and writes under a work folder; each one
skips what is already done and training resumes from its latest checkpoint, so a command cut off at
the machine's time limit is simply run again. Runs and their variants are ``params.yaml``
``experiment``; each process logs into its own MLflow SQLite store under ``<work>/mlflow/`` (one
writer per database), exported with the results.

    python -m mosaic_model.experiment geometry  --bundle B --work W
    python -m mosaic_model.experiment train NAME --bundle B --work W
    python -m mosaic_model.experiment evaluate NAME --bundle B --work W
    python -m mosaic_model.experiment export-encoder WEIGHTS OUT
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from mosaic_pipeline.params import ExperimentParams, Params, load_params

from ..config import RunConfig, load_run_config
from ..geometry_pretrain import METRICS, WEIGHTS, pretrain_tracked, with_pretrained_geometry
from ..metrics import SCORES
from ..tracking import TrackingConfig
from .bundle import FRAMES, QA

GEOMETRY_DIR = "geometry"
BLANK_FRAMES = "blank_frames"


def tracking(work: Path, name: str, params: Params) -> TrackingConfig:
    db = work / "mlflow" / f"{name}.db"
    db.parent.mkdir(parents=True, exist_ok=True)
    return TrackingConfig(f"sqlite:///{db.resolve()}", params.model.experiment)


def run_config(name: str, exp: ExperimentParams, work: Path) -> RunConfig:
    variant = exp.runs[name]
    cfg = load_run_config(exp.config, {"model": variant.model, "train": {**exp.train, **variant.train}})
    if not variant.pretrained_geometry:
        return cfg
    weights = (work / GEOMETRY_DIR / WEIGHTS).resolve()
    if not weights.is_file():
        raise FileNotFoundError(f"run {name!r} needs the pretrained geometry encoder at {weights}")
    return with_pretrained_geometry(cfg, weights)


def image_root(name: str, exp: ExperimentParams, bundle: Path, work: Path) -> Path:
    """The bundle's frames, or (blind run) grey frames at the same paths."""
    if not exp.runs[name].blank_frames:
        return bundle / FRAMES
    from ..data import read_qa
    from .baselines import write_blank_frames

    size = load_run_config(exp.config).model.geometry.vggt.img_size
    return write_blank_frames(read_qa(bundle / QA, None), work / BLANK_FRAMES, size)


def run_geometry(bundle: Path, work: Path, params: Params) -> Path:
    from ..train import select_device

    out = work / GEOMETRY_DIR
    if not (out / METRICS).is_file():
        vggt_cfg = load_run_config(params.experiment.config).model.geometry.vggt
        pretrain_tracked(vggt_cfg, params.geometry_pretrain, bundle, out, tracking(work, "geometry", params),
                         f"geometry-{params.experiment.config}", select_device(None),
                         on_step=lambda s: print(f"geometry step {s.step}: loss {s.loss:.4f}", flush=True))
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


def run_training(name: str, bundle: Path, work: Path, params: Params) -> Path:
    from ..train import train

    exp = params.experiment
    cfg = run_config(name, exp, work)
    result = train(cfg, bundle / QA, image_root(name, exp, bundle, work), work / "runs" / name, params,
                   tracking(work, name, params),
                   on_step=lambda s: s.step % 100 == 0 and print(f"{name} step {s.step}: loss {s.loss:.4f}",
                                                                 flush=True))
    return result.checkpoint


def run_evaluation(name: str, bundle: Path, work: Path, params: Params) -> list[Path]:
    from ..checkpoint import latest_checkpoint, read_meta
    from ..evaluate import evaluate

    exp = params.experiment
    checkpoint = latest_checkpoint(work / "runs" / name)
    if checkpoint is None or read_meta(checkpoint)["step"] < run_config(name, exp, work).train.max_steps:
        raise RuntimeError(f"run {name!r} has not finished training ({checkpoint})")
    written = []
    for split in exp.eval_splits:
        out = work / "eval" / name / split
        if not (out / SCORES).is_file():
            evaluate(checkpoint, bundle / QA, image_root(name, exp, bundle, work), out, split, params,
                     tracking(work, f"eval-{name}", params))
        written.append(out / SCORES)
    return written


_DIR = click.Path(path_type=Path)


@click.group()
def cli() -> None:
    """Stages of the paper experiment (see the module docstring)."""


@cli.command()
@click.option("--bundle", type=_DIR, required=True)
@click.option("--work", type=_DIR, required=True)
def geometry(bundle: Path, work: Path) -> None:
    click.echo(run_geometry(bundle, work, load_params()))


@cli.command("train")
@click.argument("name")
@click.option("--bundle", type=_DIR, required=True)
@click.option("--work", type=_DIR, required=True)
def train_command(name: str, bundle: Path, work: Path) -> None:
    click.echo(run_training(name, bundle, work, load_params()))


@cli.command("evaluate")
@click.argument("name")
@click.option("--bundle", type=_DIR, required=True)
@click.option("--work", type=_DIR, required=True)
def evaluate_command(name: str, bundle: Path, work: Path) -> None:
    for path in run_evaluation(name, bundle, work, load_params()):
        click.echo(path)


@cli.command("export-encoder")
@click.argument("weights", type=click.Path(path_type=Path, exists=True, dir_okay=False))
@click.argument("out", type=_DIR)
def export_encoder(weights: Path, out: Path) -> None:
    """Write the frozen encoder of WEIGHTS to OUT as bf16 autocast reads it (``autocast_encoder_state``)."""
    from safetensors.torch import save_file

    from mosaic_pipeline.atomic import atomic_file

    with atomic_file(out) as tmp:
        save_file(autocast_encoder_state(weights, load_params()), str(tmp))
    click.echo(out)

