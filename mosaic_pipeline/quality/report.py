"""Per-expectation outcomes of a validation, each with its observed value as a human sentence."""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from .tables import ValidationFrame

MAX_EXAMPLES = 3  # unexpected rows quoted per failed expectation
MAX_LISTED = 12  # row labels quoted for a passing per-group frame
_TARGET_KEYS = ("column", "column_A", "column_B", "column_list")


@dataclass(frozen=True)
class Outcome:
    suite: str
    expectation: str  # GX expectation type, e.g. expect_column_values_to_be_between
    target: str  # column(s) of the validation frame
    parameters: str  # the other arguments, parameters substituted ("max_value=0.01")
    observed: str  # what was observed, in a sentence
    success: bool

    def line(self) -> str:
        status = "PASS" if self.success else "FAIL"
        params = f" ({self.parameters})" if self.parameters else ""
        return f"{status}  {self.suite}: {self.expectation} on {self.target}{params}: {self.observed}"


@dataclass(frozen=True)
class QualityReport:
    outcomes: tuple[Outcome, ...]
    notes: tuple[str, ...] = ()  # what the validation frames left out (e.g. groups too small to judge)
    docs_index: Path | None = None  # Data Docs index.html, when built

    @property
    def success(self) -> bool:
        return all(o.success for o in self.outcomes)

    @property
    def failed(self) -> tuple[Outcome, ...]:
        return tuple(o for o in self.outcomes if not o.success)

    def text(self) -> str:
        n_failed = len(self.failed)
        lines = [o.line() for o in self.outcomes] + [f"note: {n}" for n in self.notes]
        lines.append(f"{len(self.outcomes) - n_failed} passed, {n_failed} failed"
                     + (f"; Data Docs: {self.docs_index}" if self.docs_index else ""))
        return "\n".join(lines)


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, (list, tuple)) and len(value) > 6:
        return "[" + ", ".join(map(_fmt, value[:6])) + f", ... ({len(value)})]"
    return str(value)


def _target(kwargs: Mapping[str, Any]) -> str:
    return " / ".join(_fmt(kwargs[k]) if k != "column_list" else ", ".join(kwargs[k]) for k in _TARGET_KEYS
                      if k in kwargs) or "table"


def _parameters(kwargs: Mapping[str, Any]) -> str:
    skip = {*_TARGET_KEYS, "batch_id"}
    return ", ".join(f"{k}={_fmt(v)}" for k, v in kwargs.items() if k not in skip and v is not None)


def _example(entry: Mapping[str, Any]) -> str:
    values = ", ".join(f"{k}={_fmt(v)}" for k, v in entry.items() if k != "row")
    return f"{entry.get('row', '?')} ({values})"


def _columns(kwargs: Mapping[str, Any]) -> list[str]:
    return [kwargs[k] for k in ("column", "column_A", "column_B") if k in kwargs] + list(kwargs.get("column_list", []))


def _range(frame: pd.DataFrame, columns: Sequence[str]) -> str:
    parts = []
    for c in columns:
        s = frame[c].dropna() if c in frame else pd.Series(dtype=float)
        if s.empty:
            parts.append(f"{c} all missing")
        elif pd.api.types.is_numeric_dtype(s):
            parts.append(f"{c} {_fmt(float(s.min()))}..{_fmt(float(s.max()))}")
        else:
            parts.append(f"{c} {s.nunique()} distinct")
    return "; ".join(parts)


def _map_sentence(result: Mapping[str, Any], kwargs: Mapping[str, Any], vf: ValidationFrame, success: bool) -> str:
    n = result.get("element_count", len(vf.frame))
    if not success:
        examples = [_example(e) for e in result.get("partial_unexpected_index_list", [])[:MAX_EXAMPLES]]
        return f"{result.get('unexpected_count')} of {n} rows unexpected: " + "; ".join(examples)
    if n == 0:
        return "no rows to judge"
    if vf.describe_all:
        labels = list(vf.frame["row"].drop_duplicates())
        more = f"; ... ({len(labels)} in all)" if len(labels) > MAX_LISTED else ""
        return "; ".join(labels[:MAX_LISTED]) + more
    return f"all {n} rows pass; observed {_range(vf.frame, _columns(kwargs))}"


def _distinct_sentence(kwargs: Mapping[str, Any], vf: ValidationFrame) -> str:
    present = set(vf.frame[kwargs["column"]].dropna())
    expected = set(kwargs.get("value_set") or [])
    missing, extra = sorted(expected - present), sorted(present - expected)
    text = f"{len(present)} distinct of {len(expected)} expected"
    return text + (f"; missing: {', '.join(missing)}" if missing else "") + (
        f"; unexpected: {', '.join(extra)}" if extra else "")


def observed_sentence(result: Mapping[str, Any], kwargs: Mapping[str, Any], vf: ValidationFrame,
                      success: bool) -> str:
    """The observed value of one expectation result, in words, with the frame's row labels."""
    if "element_count" in result and "unexpected_count" in result:
        return _map_sentence(result, kwargs, vf, success)
    if "value_set" in kwargs and "column" in kwargs:
        return _distinct_sentence(kwargs, vf)
    details = result.get("details", {}).get("mismatched")
    return f"observed {_fmt(result.get('observed_value'))}" + (f"; mismatched {details}" if details else "")


def _error(info: Mapping[str, Any]) -> str | None:
    """The exception message of a result (GX nests one info per failing metric), or None."""
    infos = [info, *(v for v in info.values() if isinstance(v, Mapping))]
    return next((str(i.get("exception_message")) for i in infos if i.get("raised_exception")), None)


def outcome(suite: str, gx_result: Any, vf: ValidationFrame) -> Outcome:
    """An Outcome from one GX ExpectationValidationResult (parameters already substituted)."""
    config = gx_result.expectation_config
    kwargs = dict(config.kwargs)
    error = _error(gx_result.exception_info or {})
    if error:
        observed = f"error: {error}"
    else:
        observed = observed_sentence(gx_result.result or {}, kwargs, vf, bool(gx_result.success))
    return Outcome(suite, config.type, _target(kwargs), _parameters(kwargs), observed,
                   bool(gx_result.success) and not error)
