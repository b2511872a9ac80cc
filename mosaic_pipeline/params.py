"""Typed access to ``params.yaml``, the one source of parameters for Dagster, DVC and the CLI."""
from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError, model_validator

from .errors import FileInputError

REPO_ROOT = Path(__file__).resolve().parent.parent
PARAMS_ENV = "MOSAIC_PARAMS"  # points at another params.yaml (tests, a user's experiment)


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Paths(_Section):
    artifacts: str
    synthetic_release: str
    scannetpp_release: str | None = None


class SceneSet(_Section):
    list: str


class SyntheticParams(_Section):
    image_width: int
    image_height: int
    depth_width: int
    depth_height: int
    n_frames: int
    frame_stride: int
    eye_height_min: float
    eye_height_max: float
    hfov_deg: float
    room_size_min: tuple[float, float]
    room_size_max: tuple[float, float]
    wall_height: float
    n_furniture_min: int
    n_furniture_max: int
    mesh_subdivisions: int
    surface_objects_min: int
    surface_objects_max: int
    books_per_board_max: int
    wall_items_max: int
    min_free_fraction: float
    camera_clearance: float
    floor_grid_cell: float
    path_waypoints: int
    look_targets: int
    yaw_sweep_deg: float
    yaw_sweeps: float
    pitch_deg: float
    pitch_jitter_deg: float
    roll_jitter_deg: float
    cylinder_sections: int
    shell_cell: float
    color_jitter: float
    light_ambient: float
    light_diffuse: float
    jpeg_quality: int


class LabelMappingParams(_Section):
    """params.yaml ``scannetpp.label_mapping``: raw annotation labels -> benchmark classes, as the ScanNet++
    toolkit maps them (docs/scannetpp.md, "Label mapping"). Paths are relative to the release root."""

    map_file: str | None  # the toolkit's map_benchmark.csv; None or a file the release lacks: labels as they are
    column: Literal["instance_map_to", "semantic_map_to"]
    min_count: float  # rows whose ``count`` is below it (or not a number) are left out: the toolkit's count_thresh
    class_lists: tuple[str, ...]  # the first that exists is the class list; none exists: every label is a class


class ScanNetppParams(_Section):
    pose_tolerance: float
    box_axes_tolerance: float
    frame_jpeg_quality: int
    label_mapping: LabelMappingParams


class FramesParams(_Section):
    long_side: int


class VisibilityParams(_Section):
    long_side: int
    near_plane: float
    min_visible_fraction: float
    min_visible_px: int
    fully_visible: float
    occ_level_edges: tuple[float, float]
    overlap_level_edges: tuple[float, float]
    full_px_max_outside_rays: int
    full_px_max_offscreen_rays: int | None = None  # the same budget for instances wholly outside the image (None: as above)
    coverage_part_size: float | None = None  # metres: instance parts that bound where it hides (None: whole instances)
    workers: int | None = None  # processes labelling a scene's frames (None: the idle cores; visibility/frame_pool.py)
    backend: Literal["open3d", "torch"] = "open3d"  # the caster (visibility/backend.py): Open3D rays or torch raster
    device: str = "auto"  # torch backend only: "auto" (CUDA where there is one, else the CPU), "cpu", "cuda", "cuda:1"


class LabelsBenchmarkParams(_Section):
    """params.yaml ``labels_benchmark`` (benchmarks/labels.py, docs/labels_performance.md)."""

    synthetic: dict[str, Any]  # overrides of synthetic + synthetic_benchmark: the room (>= 300k faces)
    frames: int  # camera poses along the room's path (the many-frames scene)
    few_frames: int  # the same path subsampled evenly: marginal cost = (many - few) / (frames - few_frames)
    sampling_frames: tuple[int, ...]  # view sampling timed on this many evenly spaced frames (linear in frames)
    projection_scenes: int  # the projection to the paper's scale: scenes, frames per scene, cores
    projection_frames_per_scene: int
    projection_cores: int


class ViewsParams(_Section):
    voxel_size: float
    max_overlap: float
    min_frames: int
    max_frames: int
    samples_per_scene: int
    attempts_per_sample: int
    seed: int
    overlap_matrix_max_frames: int | None = None  # overlap matrix beside the samples: at most this many frames (None: all)


class QAParams(_Section):
    relation_margin: float
    occluded_ratio: float
    localization_min_separation: float
    max_per_scene_task: int
    yes_no_tolerance: float
    direction_tolerance: float
    seed: int
    n_options: int
    count_min_visible_px: int  # an instance counts in a count question with this many visible pixels ...
    count_reference_size: tuple[int, int]  # ... at this render size (width, height), scaled by the area
    # debiased generation (docs/audit.md, "Generation rules")
    count_zero: bool  # count questions also about the scene's labels seen in no frame (answer 0)
    count_max_answer_share: float  # per label of a scene, no count above this share of its questions
    best_view_position_tolerance: float  # best frames uniform over a sample's positions, within this share
    localization_absent_share: float  # share of "No" answers per label
    localization_decoy_jitter: float  # decoys: true centres moved by up to this fraction of the diagonal
    relation_point_references: bool  # relation questions may name targets and options as "chair(x,y)"
    relation_point_sources: bool  # ... and sources
    relation_share_tolerance: float  # spatial: combination share per label pair / frame within 1/4 + this
    relation_pair_max_excess: int  # per label pair over a split: answers / directions differ by at most this
    localization_decoy_batch: int
    excluded_labels: tuple[str, ...]
    distance_decimals: int
    min_camera_displacement: float
    movement_dominance: float


class QualityParams(_Section):
    max_letter_kl: float  # KL divergence (nats) of a task's correct-letter shares to uniform
    letter_share_tolerance: float  # every letter's share within 1/k +- this (k options)
    min_group_size: int  # balance is judged only for groups with at least this many QA
    gx_dir: str  # under paths.artifacts: one GX file context with Data Docs per validated asset
    free_answer_tasks: tuple[str, ...]  # task types or task keys whose QA have no options


class ReviewParams(_Section):
    dir: str  # under paths.artifacts: one review page per QA shard, <dir>/<scene_id>/index.html
    host: str  # `mosaic ui` serves the review pages and Data Docs on http://host:port
    port: int
    questions: int  # questions rendered with their frames per shard (a deterministic sample)
    frame_height: int  # pixels: height of each frame in a rendered question
    jpeg_quality: int  # of the rendered questions (fixed: byte-identical pages)


class AuditParams(_Section):
    """params.yaml ``audit``: the text-only stress test of the QA data (docs/audit.md)."""

    folds: int  # GroupKFold folds (groups = scenes); fewer when a split has fewer scenes
    features: tuple[str, ...]  # feature groups of mosaic_pipeline.quality.audit.question_features
    hash_bits: int  # FeatureHasher width 2 ** hash_bits
    C: float  # inverse L2 regularization of the logistic regression
    max_iter: int
    number_bin: float  # numbers >= 10 in options are bucketed by this width (pixels)
    bootstrap_resamples: int
    ci_level: float
    seed: int
    splits: tuple[str, ...]  # splits the blocking check judges
    cross_splits: dict[str, str]  # split -> another split whose questions train a second text-only model
    max_gap_overall: float  # points: text-only accuracy - chance, unweighted mean over question types
    max_gap_type: float  # points, every question type
    max_prior_gap_type: float  # points: answer prior - chance, every question type
    max_answer_share: float  # no answer text above this share of a type's questions ...
    answer_share_min_values: int  # ... where the type has more than this many distinct answers
    min_type_size: int  # question types with fewer questions in a split are reported, not judged
    prune_round_fraction: float  # iterative bias pruning: share of a type's generated questions dropped per round
    prune_max_fraction: float  # ... and at most this share of a type in all
    prune_max_rounds: int


class ModelParams(_Section):
    config: str  # size config under configs/model/ (tiny, small, paper) used by the pipeline
    runs: str  # under paths.artifacts: one folder per training run (checkpoints) and evaluation
    frame_cache: str  # under paths.artifacts: frames decoded and resized once, as uint8 tensors
    tracking_uri: str | None  # MLflow; None = sqlite:///<repo>/.mlflow/mlflow.db
    experiment: str  # MLflow experiment name
    mlflow_ui_url: str  # an `mlflow ui` serving the store; asset metadata links runs there
    eval_split: str  # QA split the bench scores are computed on


class ThresholdRange(_Section):
    start: float
    end: float
    interval: float


class EvalParams(_Section):
    max_new_tokens: int  # greedy decoding budget
    mra: ThresholdRange  # numeric answers: mean relative accuracy over theta in [start, end]
    mpa: ThresholdRange  # point answers: mean point accuracy over t x bbox_2d_diag, t in [start, end]
    slices: tuple[str, ...]  # diagnostic fields scores are broken down by
    ci_level: float
    bootstrap_resamples: int  # percentile bootstrap of every reported mean
    bootstrap_seed: int


class ReproParams(_Section):
    reports: str  # committed outputs of the DVC pipeline: bench/scores.json (metrics), plots/ (relative to the repo)
    train_run: str  # under paths.artifacts: the training run folder of the DVC train stage
    score_tolerance: float  # score points (0-100): largest accepted |reproduced - recorded| of a score or CI bound
    remote: str  # the default DVC remote: a folder (relative to the repo unless absolute) or a DVC remote URL


class GeometryPretrainParams(_Section):
    """params.yaml ``geometry_pretrain``."""

    depth_size: int  # side of the depth maps the bundle stores (the prediction is pooled to the maps' size)
    jpeg_quality: int  # frames of the bundle
    frames_per_sample: int
    frame_window: int  # a sample's frames lie within this many consecutive registered frames
    steps: int
    batch_size: int
    lr: float
    weight_decay: float
    betas: tuple[float, float]
    warmup_ratio: float
    max_grad_norm: float
    depth_grad_weight: float
    camera_weight: float
    camera_gamma: float
    eval_samples: int  # fixed samples per held-out evaluation
    log_every: int
    seed: int
    bf16: bool
    output: str  # under paths.artifacts


class Arm(_Section):
    """One arm of the experiment: a model variant trained once per seed (docs/experiment.md)."""

    model: dict[str, Any]  # overrides of the config's model section
    pretrained_geometry: bool  # geometry.weights = the pretrained encoder of the geometry stage
    blank_frames: bool  # the blind baseline: every frame a uniform grey image


class Comparison(_Section):
    """The paper's claim: treatment arm against control arm, paired per question (seeds averaged first)."""

    treatment: str
    control: str


class ExperimentParams(_Section):
    """params.yaml ``experiment``: arms x seeds, trained on train, scored on ``eval_splits`` with every prompt form."""

    config: str  # model size of every run
    train: dict[str, Any]  # overrides of the config's train section
    eval_splits: tuple[str, ...]
    eval_prompts: tuple[Literal["training", "official"], ...]  # docs/metrics.md, "Prompt forms"
    # splits on which every seeing run's final checkpoint is scored once more with blank frames (the training
    # prompt): how much its answers depend on the frames (docs/experiment.md, "Does it look?")
    frame_ablation: tuple[str, ...] = ()
    seeds: tuple[int, ...]  # train.seed of each run of every arm
    arms: dict[str, Arm]
    comparison: Comparison
    work: str  # the experiment's work folder (data, bundle, checkpoints, MLflow stores, ledger)
    results: str  # where the report is written

    @model_validator(mode="after")
    def _comparison_names_arms(self) -> ExperimentParams:
        c = self.comparison
        unknown = [n for n in (c.treatment, c.control) if n not in self.arms]
        if unknown or c.treatment == c.control:
            raise ValueError(f"params.yaml experiment.comparison: treatment {c.treatment!r} and control "
                             f"{c.control!r} must be two different experiment.arms (unknown: {unknown})")
        if not set(self.frame_ablation) <= set(self.eval_splits):
            raise ValueError(f"params.yaml experiment.frame_ablation: {list(self.frame_ablation)} must be among "
                             f"experiment.eval_splits {list(self.eval_splits)}")
        if not self.seeds or len(set(self.seeds)) != len(self.seeds):
            raise ValueError(f"params.yaml experiment.seeds: {list(self.seeds)} must be distinct and non-empty")
        return self

    def run_names(self, arm: str) -> list[str]:
        """The runs of ``arm``, one per seed: ``<arm>-s<seed>``."""
        return [run_name(arm, s) for s in self.seeds]

    def runs(self) -> dict[str, tuple[str, int]]:
        """Every run name -> (arm, seed), seed after seed: a budget spent midway leaves every arm with as many
        seeds as the others, or one fewer."""
        return {run_name(a, s): (a, s) for s in self.seeds for a in self.arms}

    def seeing(self, arm: str) -> bool:
        """Whether ``arm`` is shown the frames (not the blind baseline)."""
        return not self.arms[arm].blank_frames


def run_name(arm: str, seed: int) -> str:
    return f"{arm}-s{seed}"


class Params(BaseModel):
    """All sections of params.yaml. Unknown top-level sections are kept (later stages add theirs)."""

    model_config = ConfigDict(extra="allow", frozen=True)

    paths: Paths
    scene_set: SceneSet
    synthetic: SyntheticParams
    scannetpp: ScanNetppParams
    frames: FramesParams
    visibility: VisibilityParams
    views: ViewsParams
    qa: QAParams
    quality: QualityParams
    review: ReviewParams
    audit: AuditParams
    model: ModelParams
    eval: EvalParams
    repro: ReproParams
    geometry_pretrain: GeometryPretrainParams
    experiment: ExperimentParams
    labels_benchmark: LabelsBenchmarkParams | None = None

    def resolve(self, relative: str | os.PathLike) -> Path:
        """A path of params.yaml, relative to the repository root unless absolute."""
        p = Path(relative)
        return p if p.is_absolute() else REPO_ROOT / p

    @property
    def artifacts(self) -> Path:
        return self.resolve(os.environ.get("MOSAIC_ARTIFACTS", self.paths.artifacts))


def params_path() -> Path:
    return Path(os.environ.get(PARAMS_ENV, REPO_ROOT / "params.yaml"))


class ParamsError(FileInputError):
    """params.yaml is missing, not YAML, or has a key that does not exist or a value of the wrong type."""


def load_params(path: Path | None = None, overrides: dict[str, Any] | None = None) -> Params:
    """Load params.yaml; ``overrides`` like {"visibility": {"long_side": 320}} are merged section-wise.

    Raises ParamsError, one line naming the file and every bad key (docs/bad_input.md)."""
    path = Path(path or params_path())
    try:
        data = yaml.safe_load(path.read_text())
    except OSError as exc:
        raise ParamsError(path, f"cannot read the parameters file ({exc.strerror})") from exc
    except yaml.YAMLError as exc:
        raise ParamsError(path, f"not valid YAML ({' '.join(str(exc).split())})") from exc
    if not isinstance(data, dict):
        raise ParamsError(path, f"expected a mapping of sections, got {type(data).__name__}")
    for section, values in (overrides or {}).items():
        data[section] = {**data.get(section, {}), **values} if isinstance(values, dict) else values
    try:
        return Params.model_validate(data)
    except ValidationError as exc:
        raise ParamsError(path, validation_summary(exc)) from None


def validation_summary(exc: ValidationError) -> str:
    """Every error of a pydantic validation in one line: ``section.key: what is wrong; ...``."""
    return "; ".join(_describe(e) for e in exc.errors())


def _describe(error: dict[str, Any]) -> str:
    """One pydantic error as ``section.key: what is wrong``."""
    key = ".".join(str(part) for part in error["loc"])
    if error["type"] == "extra_forbidden":
        return f"{key}: unknown key"
    if error["type"] == "missing":
        return f"{key}: missing"
    return f"{key}: {error['msg'].lower()}, got {error.get('input')!r}"


@lru_cache(maxsize=1)
def default_params() -> Params:
    return load_params()
