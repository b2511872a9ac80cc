"""Reading QA tables for the bias audit (native Parquet records or the official test-record JSON) and
writing its table (Parquet + JSON, atomically)."""
from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from ..atomic import atomic_file
from ..qa.records import stable_json

LETTERS = "ABCDEFGHIJ"
TABLE_FILE, JSON_FILE, FIGURE_FILE = "audit.parquet", "audit.json", "audit.png"


def _official(records: list[dict], split: str) -> pd.DataFrame:
    """Official test records (options "A. 4", mc_answer the letter) as the audit's columns."""
    rows = []
    for r in records:
        options = [o.split(". ", 1)[1] if ". " in o else o for o in r["options"]]
        index = LETTERS.index(r["mc_answer"]) if r.get("mc_answer") else None
        rows.append({"split": split, "scene_id": r["scene_name"], "question_type": r["question_type"],
                     "question": r["question"], "options": options, "answer": r["ground_truth"],
                     "correct_option_index": index, "qa_id": str(r.get("id", len(rows)))})
    return pd.DataFrame(rows)


def read_qa(path: Path) -> pd.DataFrame:
    """A native QA Parquet table, or an official test-record JSON file (its split: the file's stem). A
    table without a ``split`` column is one split named after the file."""
    path = Path(path)
    if path.suffix == ".json":
        return _official(json.loads(path.read_text()), path.stem)
    qa = pq.read_table(path).to_pandas()
    if "split" not in qa.columns or qa["split"].isna().all():
        qa["split"] = path.stem
    return qa


def write_table(table: pd.DataFrame, out_dir: Path) -> dict[str, Path]:
    """``audit.parquet`` and ``audit.json`` (records, NaN as null) under ``out_dir``."""
    out_dir = Path(out_dir)
    files = {"table": out_dir / TABLE_FILE, "json": out_dir / JSON_FILE}
    with atomic_file(files["table"]) as tmp:
        pq.write_table(pa.Table.from_pandas(table, preserve_index=False), tmp)
    with atomic_file(files["json"]) as tmp:
        tmp.write_text(stable_json(table.to_dict("records"), indent=1) + "\n")
    return files


def write_questions(questions: pd.DataFrame, path: Path) -> Path:
    """The per-question audit table (Parquet, atomically): what the review pages read."""
    with atomic_file(path) as tmp:
        pq.write_table(pa.Table.from_pandas(questions, preserve_index=False), tmp)
    return Path(path)


def read_audit_table(out_dir: Path) -> pd.DataFrame:
    return pq.read_table(Path(out_dir) / TABLE_FILE).to_pandas()


SUMMARY = ["split", "question_type", "n", "chance", "prior", "text_only", "text_only_lo", "text_only_hi", "gap",
           "prior_gap", "gap_cross", "max_answer_share"]
WITH_HISTORY = [*SUMMARY, "n_generated", "text_only_generated", "gap_generated", "prior_gap_generated",
                "removed_pct", "pruned_pct"]


def markdown(table: pd.DataFrame) -> str:
    """The audit table as a Markdown pipe table (percent values with one decimal; the history columns
    when the table has them)."""
    columns = [c for c in (WITH_HISTORY if "gap_generated" in table.columns else SUMMARY) if c in table.columns]

    def cell(column: str, value) -> str:
        if isinstance(value, float):
            return "" if pd.isna(value) else f"{value:.2f}" if column == "max_answer_share" else f"{value:.1f}"
        return str(value)

    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(cell(c, v) for c, v in zip(columns, row)) + " |"
              for row in table[columns].itertuples(index=False)]
    return "\n".join(lines)
