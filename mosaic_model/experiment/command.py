"""``mosaic experiment run``: the whole experiment from one commit, resumable (docs/experiment.md).

Steps, in order; each is skipped when the ledger (``ledger.py``) holds it finished under the identity it
would run with now, and the command stops cleanly before a step once its time budget is spent:

    data                          the QA dataset and frames: the data pipeline, run by the orchestration
                                  layer's ``make_data`` (``mosaic experiment run``; Dagster)
    bundle                        the compact copy the runs read (``bundle.py``)
    geometry                      the geometry encoder's pretraining, when an arm fuses it
    train/<arm>-s<seed>           every arm x seed; training past the budget stops at a checkpoint and continues
    eval/<prompt>/<run>/<split>   every final checkpoint on every split, with every prompt form
    eval/blank_frames/<run>/<split>  a seeing run's checkpoint on the frame_ablation splits with blank frames
    report                        ``results/`` (``report.py``), once every run is scored

Identities: every step names the commit, except the data step, named by the parameters and the code it depends
on (the data stages of dvc.yaml). Run again after the last step, the command rewrites ``results/`` with
identical bytes and starts no run.
"""
from __future__ import annotations

import json
import shutil
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import click
import yaml

from mosaic_pipeline.params import REPO_ROOT, Params, ParamsError, load_params
from mosaic_pipeline.atomic import atomic_file
from mosaic_pipeline.provenance import COMMIT_TAG, DIRTY_TAG, file_sha256, git_tags, tracked_blobs, tree_differences

from ..config import load_run_config
from .bundle import QA, BundleSpec, build_bundle, qa_frames_bundle
from .ledger import DONE, RUNNING, Ledger, sha256_of
from .scoring import Scoring

# params.yaml sections the data does not depend on (the data step's identity hashes all the others)
NOT_DATA = ("experiment", "model", "eval", "geometry_pretrain", "review", "repro", "labels_benchmark")
DATA_STAGES = ("scenes", "visibility", "qa", "dataset")  # dvc.yaml stages that make the QA dataset and frames
BUNDLE, VLM_BUNDLE = "bundle", "vlm-bundle"
CHECKOUT = "checkout.json"  # the commit and its files' git blob ids, for copies of the checkout without git


def data_code() -> list[Path]:
    """The files the data stages of dvc.yaml depend on (code, expectations, scene lists; not their data)."""
    stages = yaml.safe_load((REPO_ROOT / "dvc.yaml").read_text())["stages"]
    roots = {REPO_ROOT / d for stage in DATA_STAGES for d in stages[stage]["deps"] if "${" not in d}
    return sorted(f for r in roots for f in ([r] if r.is_file() else r.rglob("*"))
                  if f.is_file() and "__pycache__" not in f.parts)


def data_code_sha256() -> str:
    return sha256_of({str(f.relative_to(REPO_ROOT)): file_sha256(f) for f in data_code()})


@dataclass(frozen=True)
class DataOutputs:
    """What the data step made: the QA dataset, the frames root and each data source's release."""

    qa: Path
    frames: Path
    releases: dict[str, Path]


# (params, artifacts folder, resume: the folder holds a cut-off run of the same identity) -> outputs
MakeData = Callable[[Params, Path, bool], DataOutputs]


@dataclass
class Outcome:
    ran: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    pending: list[str] = field(default_factory=list)  # not run: the budget was spent, or a step before stopped

    @property
    def finished(self) -> bool:
        return not self.pending


class OutOfTime(Exception):
    """The budget was spent before a step (or inside training, which stopped at a checkpoint)."""


class Experiment:
    """One experiment's steps over a work folder, for one commit (see the module docstring)."""

    def __init__(self, params: Params, work: Path, results: Path, commit: str, make_data: MakeData | None = None,
                 budget_s: float | None = None, log: Callable[[str], None] = print) -> None:
        self.params, self.exp = params, params.experiment
        self.work, self.results, self.commit, self.make_data, self.log = work, results, commit, make_data, log
        self.deadline = None if budget_s is None else time.monotonic() + budget_s
        work.mkdir(parents=True, exist_ok=True)
        self.ledger = Ledger(work)

    # ------------------------------------------------------------------ the plan
    def steps(self) -> list[tuple[str, Callable[[], bool]]]:
        """(name, step) in order; a step returns whether it ran (False: skipped, finished before)."""
        runs = list(self.exp.runs())
        steps = [("data", self.data), ("bundle", self.bundle)]
        if any(a.pretrained_geometry for a in self.exp.arms.values()):
            steps.append(("geometry", self.geometry))
        for r in runs:  # a run is scored before the next one trains: a GPU machine given back between two
            # commands takes the unscored checkpoints with it (docs/experiment.md, "Where it runs")
            steps.append((f"train/{r}", lambda r=r: self.train(r)))
            steps += [(name, lambda r=r, sc=sc: self.evaluate(r, sc)) for name, sc in self.evaluations(r)]
        return steps + [("report", self.report)]

    def evaluations(self, run: str) -> list[tuple[str, Scoring]]:
        """(step name, scoring) of every scoring of ``run``'s final checkpoint: every split with every prompt
        form, then (a seeing run) the frame ablation's splits with blank frames."""
        scorings = [Scoring(s, p) for s in self.exp.eval_splits for p in self.exp.eval_prompts]
        if self.exp.seeing(self.exp.runs()[run][0]):
            scorings += [Scoring(s, "training", blank_frames=True) for s in self.exp.frame_ablation]
        return [(f"eval/{sc.form}/{run}/{sc.split}", sc) for sc in scorings]

    def step_names(self) -> list[str]:
        return [name for name, _ in self.steps()]

    def run(self, until: str | None = None) -> Outcome:
        """Every step in order; with ``until`` (a step name), none after that step."""
        outcome = Outcome()
        steps = self.steps()
        if until is not None and until not in self.step_names():
            raise ValueError(f"no step {until!r}: the steps are {', '.join(self.step_names())}")
        for i, (name, step) in enumerate(steps):
            try:
                ran = step()
            except OutOfTime:
                outcome.pending = [n for n, _ in steps[i:]]
                self.log(f"budget spent: {len(outcome.pending)} steps left, from {name}")
                break
            (outcome.ran if ran else outcome.skipped).append(name)
            self.log(f"{'ran    ' if ran else 'skipped'} {name}")
            if name == until:
                outcome.pending = [n for n, _ in steps[i + 1:]]
                break
        return outcome

    def out_of_time(self) -> bool:
        return self.deadline is not None and time.monotonic() > self.deadline

    def _skip(self, step: str, identity: dict[str, Any], outputs: list[Path]) -> bool:
        """Whether ``step`` is finished under ``identity``; if not, whether there is time to start it."""
        if self.ledger.is_done(step, identity, outputs):
            return True
        if self.out_of_time():
            raise OutOfTime(step)
        return False

    # ------------------------------------------------------------------ data
    def data_identity(self) -> dict[str, Any]:
        """The parameters and the code the data depend on; not the commit: an hour of data generation
        stays valid across commits that change neither (as DVC judges its data stages)."""
        sections = {k: v for k, v in self.params.model_dump(mode="json").items() if k not in NOT_DATA}
        return {"params_sha256": sha256_of(sections), "code_sha256": data_code_sha256(),
                "scene_list_sha256": file_sha256(self.params.resolve(self.params.scene_set.list))}

    def data(self) -> bool:
        identity = self.data_identity()
        if self._skip("data", identity, []):  # its outputs are read only by the bundle step, which checks its own
            return False
        if self.make_data is None:
            raise RuntimeError("the data step runs the data pipeline, which this entry point does not have: "
                               "run `mosaic experiment run` with the same config where the pipeline is installed, "
                               f"then bring the work folder {self.work} here")
        resume = self.ledger.resumable("data", identity)  # a call cut off in this step, same parameters and code
        self.ledger.record("data", identity, RUNNING)
        out = self.make_data(self.params, self.work / "artifacts", resume)
        self.ledger.record("data", identity, DONE, {"qa": str(out.qa), "frames": str(out.frames),
                                                    "releases": {k: str(v) for k, v in out.releases.items()},
                                                    "qa_sha256": file_sha256(out.qa), "made_at_commit": self.commit})
        return True

    @property
    def qa_sha256(self) -> str:
        return self.ledger.facts("data")["qa_sha256"]

    # ------------------------------------------------------------------ bundle
    def bundle_spec(self) -> BundleSpec:
        cfg = self.params.geometry_pretrain
        side = load_run_config(self.exp.config).model.geometry.vggt.img_size
        return BundleSpec(side, min(cfg.depth_size, side), cfg.jpeg_quality)

    def bundle(self) -> bool:
        spec = self.bundle_spec()
        identity = {"commit": self.commit, "qa_sha256": self.qa_sha256, "spec": asdict(spec)}
        full, vlm = self.work / BUNDLE, self.work / VLM_BUNDLE
        if self._skip("bundle", identity, [vlm / QA]):
            return False
        facts = self.ledger.facts("data")
        for folder in (full, vlm):
            shutil.rmtree(folder, ignore_errors=True)
        build_bundle(Path(facts["qa"]), Path(facts["frames"]), {k: Path(v) for k, v in facts["releases"].items()},
                     full, spec, self.params.scannetpp)
        qa_frames_bundle(full, vlm)
        self.ledger.record("bundle", identity, DONE)
        return True

    # ------------------------------------------------------------------ geometry, training, evaluation
    def geometry(self) -> bool:
        from ..geometry_pretrain import METRICS
        from .runs import ENCODER, GEOMETRY_DIR, run_geometry

        vggt = load_run_config(self.exp.config).model.geometry.vggt
        identity = {"commit": self.commit, "qa_sha256": self.qa_sha256, "vggt": vggt.model_dump(mode="json"),
                    "geometry_pretrain": self.params.geometry_pretrain.model_dump(mode="json")}
        out = self.work / GEOMETRY_DIR
        if self._skip("geometry", identity, [out / METRICS, out / ENCODER]):
            return False
        shutil.rmtree(out, ignore_errors=True)
        run_geometry(self.work / BUNDLE, self.work, self.params, self.commit)
        self.ledger.record("geometry", identity, DONE)
        return True

    def train_identity(self, run: str) -> dict[str, Any]:
        from .runs import ENCODER, GEOMETRY_DIR, run_config

        cfg = run_config(run, self.exp, self.work).model_dump(mode="json")
        if cfg["model"]["geometry"]["weights"]:  # the encoder by content, not by where this machine keeps it
            cfg["model"]["geometry"]["weights"] = file_sha256(self.work / GEOMETRY_DIR / ENCODER)
        return {"commit": self.commit, "config_sha256": sha256_of(cfg), "seed": self.exp.runs()[run][1],
                "data_sha256": self.qa_sha256}

    def train(self, run: str) -> bool:
        from ..checkpoint import WEIGHTS, latest_checkpoint, read_meta
        from .runs import retire_runs, run_config, run_dir, run_training

        step, identity = f"train/{run}", self.train_identity(run)
        kept = latest_checkpoint(run_dir(self.work, run))
        # finished, and its checkpoint is here or need not be (scored); a finished run whose checkpoint left with
        # a GPU machine before it was scored trains again
        if self._skip(step, identity, []) and (kept is not None or self._scored(run)):
            return False
        if kept is None or not self.ledger.resumable(step, identity):  # nothing to continue from, or it was made
            # under another commit, config or data: start over, its earlier MLflow runs retired
            shutil.rmtree(run_dir(self.work, run), ignore_errors=True)
            retire_runs(self.work, run)
        self.ledger.record(step, identity, RUNNING)
        result = run_training(run, self.work / VLM_BUNDLE, self.work, self.params, self.commit, self.deadline)
        checkpoint = latest_checkpoint(run_dir(self.work, run))
        if read_meta(checkpoint)["step"] < run_config(run, self.exp, self.work).train.max_steps:
            raise OutOfTime(step)
        self.ledger.record(step, identity, DONE, {"checkpoint": str(checkpoint.relative_to(self.work)),
                                                  "weights_sha256": file_sha256(checkpoint / WEIGHTS),
                                                  "mlflow_run_id": result.mlflow_run_id})
        return True

    def eval_identity(self, run: str, scoring: Scoring) -> dict[str, Any]:
        identity = {"commit": self.commit, "weights_sha256": self.ledger.facts(f"train/{run}")["weights_sha256"],
                    "split": scoring.split, "prompt": scoring.prompt, "data_sha256": self.qa_sha256}
        return {**identity, "frames": "blank"} if scoring.blank_frames else identity

    def _scored(self, run: str) -> bool:
        """Whether every scoring of ``run``'s final checkpoint is finished."""
        from ..metrics import SCORES
        from .runs import eval_dir

        return all(self.ledger.is_done(step, self.eval_identity(run, sc),
                                       [eval_dir(self.work, sc.form, run, sc.split) / SCORES])
                   for step, sc in self.evaluations(run))

    def evaluate(self, run: str, scoring: Scoring) -> bool:
        from ..metrics import SCORES
        from .runs import eval_dir, run_evaluation

        step, identity = f"eval/{scoring.form}/{run}/{scoring.split}", self.eval_identity(run, scoring)
        trained = self.ledger.facts(f"train/{run}")
        out = eval_dir(self.work, scoring.form, run, scoring.split)
        if self._skip(step, identity, [out / SCORES]):
            return False
        shutil.rmtree(out, ignore_errors=True)
        run_evaluation(run, self.work / trained["checkpoint"], self.work / VLM_BUNDLE, self.work, scoring,
                       self.params, self.commit)
        self.ledger.record(step, identity, DONE)
        return True

    # ------------------------------------------------------------------ report
    def report(self) -> bool:
        from .report import build_report

        build_report(self.work / VLM_BUNDLE, self.work, self.results, self.params, self.commit)
        return True

    def scored_seeds(self) -> list[int]:
        """The seeds whose run of every arm is trained and scored under this commit, config and data."""
        def finished(run: str) -> bool:
            return self.ledger.is_done(f"train/{run}", self.train_identity(run), []) and self._scored(run)

        if not self.ledger.is_done("data", self.data_identity(), []):
            return []
        return [s for s in self.exp.seeds if all(finished(r) for r, (_, seed) in self.exp.runs().items() if seed == s)]

    def interim_report(self) -> list[int]:
        """``results/`` from the seeds finished so far in every arm, before the experiment is complete (a device
        budget spent midway); the seeds it reports. The report says which seeds were planned."""
        from .report import build_report

        seeds = self.scored_seeds()
        if not seeds:
            raise click.UsageError(f"no seed of {list(self.exp.seeds)} is trained and scored in every arm of "
                                   f"{list(self.exp.arms)} under commit {self.commit} in {self.work}: nothing to report")
        params = self.params.model_copy(update={"experiment": self.exp.model_copy(update={"seeds": tuple(seeds)})})
        build_report(self.work / VLM_BUNDLE, self.work, self.results, params, self.commit, planned_seeds=self.exp.seeds)
        return seeds


# ---------------------------------------------------------------------- the command
EXIT_UNFINISHED = 75  # EX_TEMPFAIL: steps are left (budget spent); run the same command again


def experiment_params(config: Path | None) -> Params:
    """params.yaml with the sections of ``config`` (an experiment config, configs/experiment/*.yaml) merged over it."""
    if config is None:
        return load_params()
    try:
        overlay = yaml.safe_load(config.read_text())
    except yaml.YAMLError as exc:
        raise ParamsError(config, f"not valid YAML ({' '.join(str(exc).split())})") from None
    if not isinstance(overlay, dict):
        raise ParamsError(config, "an experiment config is a mapping of params.yaml sections")
    return load_params(overrides=overlay)


def checkout_commit(work: Path, allow_dirty: bool) -> str:
    """The commit every run and result names: this checkout's HEAD; in a copy without git history (a GPU
    machine's), the commit of ``<work>/checkout.json``, once every file of it is shown unchanged here.

    A clean git checkout writes ``checkout.json`` (each tracked file's git blob id) for such copies.
    """
    git = git_tags()
    manifest = work / CHECKOUT
    if git[COMMIT_TAG] != "unknown":
        if git[DIRTY_TAG] == "true" and not allow_dirty:
            raise click.UsageError("the checkout has uncommitted changes: a result must name one commit "
                                   "(commit them, or --allow-dirty for a trial)")
        if git[DIRTY_TAG] == "false":
            work.mkdir(parents=True, exist_ok=True)
            with atomic_file(manifest) as tmp:
                tmp.write_text(json.dumps({"commit": git[COMMIT_TAG], "blobs": tracked_blobs()}, sort_keys=True))
        return git[COMMIT_TAG]
    if not manifest.is_file():
        raise click.UsageError(f"this checkout has no git history and {manifest} does not exist: run the command "
                               "once in a clean git checkout of the commit, then bring the work folder here")
    recorded = json.loads(manifest.read_text())
    if differ := tree_differences(recorded["blobs"]):
        raise click.UsageError(f"this copy is not commit {recorded['commit']}: {len(differ)} files differ "
                               f"({', '.join(differ[:5])})")
    return recorded["commit"]


def _where(command: Callable[..., None]) -> Callable[..., None]:
    """The options every experiment command takes: which experiment, which work folder, where results go."""
    for option in reversed([
            click.option("--config", type=click.Path(path_type=Path, exists=True, dir_okay=False), default=None,
                         help="An experiment config: params.yaml sections merged over params.yaml."),
            click.option("--work", type=click.Path(path_type=Path), default=None, help="[default: experiment.work]"),
            click.option("--results", type=click.Path(path_type=Path), default=None,
                         help="[default: experiment.results]"),
            click.option("--allow-dirty", is_flag=True, help="Run with uncommitted changes (a trial, not a result).")]):
        command = option(command)
    return command


def _experiment(config: Path | None, work: Path | None, results: Path | None, allow_dirty: bool,
                make_data: MakeData | None, budget_s: float | None = None) -> Experiment:
    params = experiment_params(config)
    work = work or params.resolve(params.experiment.work)
    commit = checkout_commit(work, allow_dirty)
    results = results or params.resolve(params.experiment.results)
    return Experiment(params, work, results, commit, make_data, budget_s, click.echo)


def run_command(make_data: MakeData | None) -> click.Command:
    """``run``: the experiment with ``make_data`` as its data step (None: the data step must be done)."""

    @click.command("run")
    @_where
    @click.option("--budget-s", type=float, default=None, help="Start no step after this many seconds.")
    @click.option("--until", default=None, help="Stop after this step (e.g. bundle: the CPU part before a GPU).")
    def run(config: Path | None, work: Path | None, results: Path | None, allow_dirty: bool, budget_s: float | None,
            until: str | None) -> None:
        """Generate the data, train every arm and seed, score them and write the report; resumable."""
        experiment = _experiment(config, work, results, allow_dirty, make_data, budget_s)
        if until is not None and until not in experiment.step_names():
            raise click.BadParameter(f"no step {until!r}: the steps are {', '.join(experiment.step_names())}",
                                     param_hint="--until")
        outcome = experiment.run(until)
        click.echo(f"commit {experiment.commit}: {len(outcome.ran)} steps ran, {len(outcome.skipped)} skipped, "
                   f"{len(outcome.pending)} left")
        if not outcome.finished:
            raise SystemExit(EXIT_UNFINISHED)

    return run


@click.command("report")
@_where
def report_command(config: Path | None, work: Path | None, results: Path | None, allow_dirty: bool) -> None:
    """Write results/ from the seeds trained and scored in every arm so far: an interim report while steps are
    left (summary.json ``complete``: false, ``planned_seeds``); `run` writes the final one."""
    experiment = _experiment(config, work, results, allow_dirty, None)
    seeds = experiment.interim_report()
    click.echo(f"commit {experiment.commit}: results of seeds {seeds} of {list(experiment.exp.seeds)} "
               f"written to {experiment.results}")
