"""The Dagster assets ``checkpoint`` and ``bench_scores`` over a stand-in ``qa_dataset``, with the MLflow resource."""
from __future__ import annotations

import hashlib
import shutil

import dagster as dg
import yaml
from mlflow.tracking import MlflowClient

from mosaic_assets.defs.assets.model import bench_scores, checkpoint
from mosaic_assets.defs.resources import MosaicParams
from mosaic_assets.defs.tracking import MLflowResource
from mosaic_model.config import CONFIG_DIR
from mosaic_pipeline import paths
from mosaic_pipeline.params import REPO_ROOT, load_params, params_path


def test_checkpoint_and_bench_scores_materialize_and_link_their_mlflow_runs(qa_set, tmp_path):
    tiny = yaml.safe_load((CONFIG_DIR / "tiny.yaml").read_text())
    tiny["train"].update(max_steps=2, save_every=2)
    (tmp_path / "tiny2.yaml").write_text(yaml.safe_dump(tiny))
    data = yaml.safe_load(params_path().read_text())
    data["paths"]["artifacts"] = str(tmp_path / "artifacts")
    data["model"].update(config=str(tmp_path / "tiny2.yaml"), eval_split="train")
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(data))
    shutil.copytree(qa_set.image_root, tmp_path / "artifacts" / "frames")

    @dg.asset(name="qa_dataset")
    def qa_dataset_stand_in() -> dg.MaterializeResult:  # writes where mosaic_pipeline.paths says the dataset is
        out = paths.qa_dataset(load_params(tmp_path / "params.yaml"))
        out.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(qa_set.parquet, out)
        return dg.MaterializeResult(metadata={"path": dg.MetadataValue.path(str(out))})

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    resources = {"mosaic": MosaicParams(params_file=str(tmp_path / "params.yaml")),
                 "mlflow_tracking": MLflowResource(tracking_uri=uri, experiment="assets", ui_url="http://mlflow.test")}
    result = dg.materialize([qa_dataset_stand_in, checkpoint, bench_scores], resources=resources,
                            instance=dg.DagsterInstance.ephemeral())
    assert result.success

    trained = result.asset_materializations_for_node("checkpoint")[0].metadata
    assert trained["steps_run"].value == 2 and trained["config"].value == "tiny"
    run = MlflowClient(uri).get_run(trained["mlflow_run_id"].value)
    assert run.data.tags["dagster.run_id"] == result.run_id
    expected_url = f"http://mlflow.test/#/experiments/{run.info.experiment_id}/runs/{run.info.run_id}"
    assert trained["mlflow_run"].value == expected_url

    scores = result.asset_materializations_for_node("bench_scores")[0].metadata
    assert scores["n_questions"].value == 32
    types = {r.data["group"] for r in scores["per_question_type"].value.records}
    assert {"obj_count_occ", "obj_existence_occ_lr", "obj_attribute_occ_ab", "obj_spatial_occ_fb"} <= types
    assert 0 <= scores["overall"].value <= 100 and "scores_plot" in scores
    assert scores["mlflow_run"].value.startswith("http://mlflow.test/#/experiments/")
    evaluation = MlflowClient(uri).get_run(scores["mlflow_run_id"].value)  # provenance (issue 9)
    assert scores["git_commit"].value == evaluation.data.tags["mlflow.source.git.commit"] != "unknown"
    lock = REPO_ROOT / "dvc.lock"
    lock_hash = hashlib.sha256(lock.read_bytes()).hexdigest() if lock.is_file() else "none"
    assert scores["dvc_lock_sha256"].value == lock_hash
