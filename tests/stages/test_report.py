"""Report: metrics.json with the promised keys, the book's figures, an escaped HTML page."""

import json
from pathlib import Path

import numpy as np
import pytest

from imdb_pipeline.core.parameters import PipelineConfig
from imdb_pipeline.stages import report
from imdb_pipeline.store import artifacts

pytestmark = pytest.mark.slow
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def test_metrics_json_has_the_interface_keys(tiny_run):
    metrics = artifacts.read_json(tiny_run["outputs"]["report"]["metrics"])
    for key in (
        "test_accuracy",
        "test_loss",
        "best_epoch",
        "final_epochs",
        "history",
        "config",
        "timings",
        "roc_auc",
    ):
        assert key in metrics
    assert set(metrics["timings"]) == {"ingest", "vectorize", "train", "evaluate", "gate", "report"}
    assert all(t["wall_seconds"] > 0 and t["peak_rss_mb"] > 10 for t in metrics["timings"].values())
    assert metrics["config"]["num_words"] == tiny_run["params"]["num_words"]
    assert len(metrics["history"]["validation_run"]["val_loss"]) == tiny_run["params"]["epochs"]
    decision = artifacts.read_json(tiny_run["outputs"]["gate"]["decision"])
    assert (
        metrics["gate"]["blessed"] == decision["blessed"] and metrics["gate"]["reason"] == decision["reason"]
    )


def test_page_shows_the_gates_decision(tiny_run):
    html = Path(tiny_run["outputs"]["report"]["report"]).read_text(encoding="utf-8")
    decision = artifacts.read_json(tiny_run["outputs"]["gate"]["decision"])
    assert ("Gate: blessed" if decision["blessed"] else "Gate: not blessed") in html
    assert "min_accuracy" in html


def test_figures_are_pngs_linked_from_the_page(tiny_run):
    outputs = tiny_run["outputs"]["report"]
    html = Path(outputs["report"]).read_text(encoding="utf-8")
    for name in ("loss_plot", "accuracy_plot", "confusion_plot", "roc_plot"):
        with open(outputs[name], "rb") as handle:
            assert handle.read(8) == PNG_MAGIC
        assert f'src="{outputs[name].rsplit("/", 1)[1]}"' in html


def test_page_escapes_review_text_and_parameters():
    hostile = "<script>alert('x')</script>"
    metrics = {
        "run": hostile,
        "test_accuracy": 0.9,
        "test_loss": 0.3,
        "roc_auc": 0.95,
        "precision": 0.9,
        "recall": 0.9,
        "f1": 0.9,
        "best_epoch": 3,
        "final_epochs": 3,
        "parameters": 1,
        "total_wall_seconds": 1.0,
        "config": {**PipelineConfig().to_dict(), "data_path": hostile},
        "timings": {},
        "data": {"source": hostile, "data_path": hostile + "/x", "data_path_as_given": hostile},
        "gate": {"blessed": False, "checks": [{"passed": False, "detail": hostile}]},
    }
    html = report.render_report(
        metrics,
        {"test_reviews": 1, "threshold": 0.5},
        [{"caption": "c", "text": hostile, "probability": 0.7, "label": "positive"}],
    )
    assert "<script>" not in html and "&lt;script&gt;" in html


def test_examples_pick_hits_misses_and_the_hardest_call():
    labels = np.array([1, 0, 0, 1, 1])
    probabilities = np.array([0.99, 0.02, 0.9, 0.1, 0.51])
    picked = dict(report.pick_examples(labels, probabilities))
    assert picked["Most confidently positive, and right"] == 0
    assert picked["Most confidently negative, and right"] == 1
    assert picked["Confidently positive, but negative (false positive)"] == 2
    assert picked["Confidently negative, but positive (false negative)"] == 3
    assert picked["The model's hardest call"] == 4


def refuse(constant):
    raise ValueError(f"{constant} is not JSON")


def test_metrics_json_is_plain_json(tiny_run):
    metrics = json.loads(Path(tiny_run["outputs"]["report"]["metrics"]).read_text(), parse_constant=refuse)
    assert metrics["test_accuracy"] > 0 and len(metrics["history"]["validation_run"]["val_loss"]) > 0


def test_a_diverged_loss_is_written_as_null_not_nan(tmp_path):
    from imdb_pipeline.store import artifacts

    artifacts.write_json(tmp_path / "m.json", {"loss": [0.5, float("nan")], "best": float("inf"), "n": 3})
    loaded = json.loads((tmp_path / "m.json").read_text(), parse_constant=refuse)
    assert loaded == {"loss": [0.5, None], "best": None, "n": 3}


def test_nested_values_read_as_text_not_python(tiny_run):
    html = Path(tiny_run["outputs"]["report"]["report"]).read_text(encoding="utf-8")
    assert "{'" not in html and "['" not in html and "&#39;:" not in html
    assert "overflow-wrap: anywhere" in html  # long paths wrap instead of scrolling the tab sideways


def test_the_readable_macro_flattens_any_shape():
    from imdb_pipeline.stages.report import render_html

    template = "_macros.html.j2"
    page = render_html({}, template)  # the macro file renders nothing by itself
    assert page.strip() == ""
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.PackageLoader("imdb_pipeline.stages", "templates"), autoescape=True
    )
    readable = env.get_template(template).module.readable
    value = {"train": {"pos": 12500, "neg": 12500}, "paths": ["<a>", ""], "ok": True, "missing": None}
    assert (
        str(readable(value)) == "train: pos: 12,500; neg: 12,500; paths: &lt;a&gt;, —; ok: True; missing: —"
    )
