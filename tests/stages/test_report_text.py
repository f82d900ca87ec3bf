"""How the reports put a run in words: configurations described truthfully, data paths as typed with
the path read beside them, parameter names that never break mid-word."""

import re

from imdb_pipeline.core.parameters import PipelineConfig
from imdb_pipeline.stages import report, runner
from imdb_pipeline.stages.report_text import data_path_lines, describe_configuration
from imdb_pipeline.store import artifacts
from imdb_pipeline.sweep.plan import TRIAL_PARAMS, plan_trials

BOOK = PipelineConfig().to_dict()


def grid_trial(name: str) -> dict:
    """The params of a trial of the default grid, by name."""
    return next(trial.params for trial in plan_trials({}) if trial.name == name)


def test_the_books_model():
    assert describe_configuration(BOOK) == "2 × 16 relu · 10,000 words · binary crossentropy loss"


def test_a_linear_model_on_nb_weighted_trigrams():
    params = grid_trial("linear, NB trigrams 1M (NBSVM-like)")
    assert describe_configuration(params) == (
        "logistic regression · 1,000,000 words + bigrams + trigrams, Naive-Bayes weighted"
        " · binary crossentropy loss · adam at learning rate 0.003 · 10 epochs"
    )


def test_bigrams_with_dropout():
    params = grid_trial("bigrams 50k + dropout 0.5")
    assert describe_configuration(params) == (
        "2 × 16 relu, dropout 0.5 · 50,000 words + bigrams · binary crossentropy loss"
    )


def test_no_hidden_layer_names_neither_units_nor_activation():
    params = {**BOOK, "hidden_layers": 0, "units": 64, "activation": "tanh", "dropout": 0.2, "l2": 0.001}
    assert describe_configuration(params) == (
        "logistic regression, input dropout 0.2, L2 0.001 · 10,000 words · binary crossentropy loss"
    )
    assert describe_configuration({**params, "loss": "mse"}).startswith("linear model, sigmoid output,")


def test_training_is_named_where_it_differs_from_the_base():
    base = {**BOOK, "epochs": 3, "optimizer": "adam"}
    assert describe_configuration({**BOOK, "epochs": 3, "optimizer": "adam"}, base).endswith(
        "crossentropy loss"
    )
    trial = {**base, "learning_rate": 0.002, "batch_size": 128, "final_epochs": 4}
    assert describe_configuration(trial, base).endswith(
        "crossentropy loss · adam at learning rate 0.002 · batch 128 · final fit 4 epochs"
    )


# Another value of each parameter a sweep's trial may change.
ALTERNATIVES = {
    "num_words": 5000,
    "ngrams": 2,
    "weighting": "tfidf",
    "l2": 0.01,
    "hidden_layers": 1,
    "units": 32,
    "dropout": 0.5,
    "activation": "tanh",
    "loss": "mse",
    "optimizer": "adam",
    "learning_rate": 0.002,
    "batch_size": 128,
    "epochs": 10,
    "final_epochs": 4,
}


def test_every_trial_parameter_shows_in_the_description():
    assert sorted(ALTERNATIVES) == sorted(TRIAL_PARAMS)
    book = describe_configuration(BOOK)
    unnamed = [
        name for name, value in ALTERNATIVES.items() if describe_configuration({**BOOK, name: value}) == book
    ]
    assert not unnamed


def test_data_path_as_typed_with_the_path_read_beside_it():
    summary = {"data_path": "/mnt/x/aclImdb_v1.tar.gz", "data_path_as_given": "/data/imdb.tar.gz"}
    summary["data_path_from"] = "data_path"
    lines = data_path_lines(summary, "/data/imdb.tar.gz")
    assert lines["param"] == lines["data"] == ["/data/imdb.tar.gz", "resolved: /mnt/x/aclImdb_v1.tar.gz"]
    same = {**summary, "data_path": "/data/imdb.tar.gz"}
    assert data_path_lines(same, "/data/imdb.tar.gz")["data"] == ["/data/imdb.tar.gz"]


def test_an_empty_data_path_says_where_the_data_came_from():
    from_env = {
        "data_path": "/mnt/x.tar.gz",
        "data_path_as_given": "/data/x.tar.gz",
        "data_path_from": "IMDB_DATA_PATH",
    }
    assert data_path_lines(from_env, "")["param"] == [
        "—",
        "IMDB_DATA_PATH (this worker's environment): /data/x.tar.gz",
        "resolved: /mnt/x.tar.gz",
    ]
    downloaded = {"data_path": "/cache/imdb.npz", "data_path_as_given": "", "data_path_from": "download"}
    assert data_path_lines(downloaded, "") == {
        "param": ["—", "downloaded: /cache/imdb.npz"],
        "data": ["downloaded: /cache/imdb.npz"],
    }


def test_an_older_runs_summary_still_renders_its_paths():
    older = {"data_path": "/mnt/x/aclImdb_v1.tar.gz"}  # before data_path_as_given was recorded
    assert data_path_lines(older, "/data/imdb.tar.gz")["data"] == [
        "/data/imdb.tar.gz",
        "resolved: /mnt/x/aclImdb_v1.tar.gz",
    ]
    assert data_path_lines(older, "")["data"] == ["/mnt/x/aclImdb_v1.tar.gz"]
    assert data_path_lines({}, "")["param"] == ["—"]


def page_of(config: dict, data: dict, **changed) -> str:
    """The run report of a finished run with this config and ingest summary (figures aside); ``changed``
    metrics replace the made-up ones (None: left out, as in an older run's metrics.json)."""
    metrics = {
        "run": "manual__1",
        "test_accuracy": 0.88,
        "test_loss": 0.3,
        "roc_auc": 0.95,
        "precision": 0.9,
        "recall": 0.9,
        "f1": 0.9,
        "best_epoch": 3,
        "final_epochs": 3,
        "parameters": 160305,
        "trainable_parameters": 160305,
        "total_wall_seconds": 1.0,
        "config": config,
        "timings": {"ingest": {"wall_seconds": 1.0, "peak_rss_mb": 100.0}},
        "data": data,
        "gate": {"blessed": False, "checks": [{"passed": False, "detail": "below min_accuracy"}]},
    }
    metrics = {key: value for key, value in {**metrics, **changed}.items() if value is not None}
    evaluation = {"test_reviews": 10, "threshold": 0.5}
    return report.render_report(metrics, evaluation, [])


def test_run_report_shows_the_typed_path_and_the_resolved_one(tiny_aclimdb_dir, tmp_path, artifact_root):
    link = tmp_path / "imdb-data"
    link.symlink_to(tiny_aclimdb_dir, target_is_directory=True)
    runner.run_stage("ingest", {"data_path": str(link)}, tmp_path / "run")
    data = artifacts.read_manifest(tmp_path / "run" / "ingest")["summary"]
    assert data["data_path"] == str(tiny_aclimdb_dir.resolve()) and data["data_path_as_given"] == str(link)
    html = page_of(PipelineConfig.from_params({"data_path": str(link)}).to_dict(), data)
    typed_then_read = f'{link}<br><span class="also">resolved: {tiny_aclimdb_dir.resolve()}</span>'
    assert html.count(typed_then_read) == 2  # the parameters table and the data table
    assert "data_path_as_given" not in html and "data_path_from" not in html  # shown in the data_path row


def test_run_report_header_describes_the_model():
    config = {**grid_trial("linear, tf-idf trigrams 1M"), "data_path": ""}
    html = page_of(config, {})
    assert "logistic regression · 1,000,000 words + bigrams + trigrams, tf-idf weighted" in html
    assert "0-hidden-layer" not in html and "multi-hot" not in html


def css_rules(html: str) -> dict[str, str]:
    style = html.split("<style>", 1)[1].split("</style>", 1)[0]
    style = re.sub(r"/\*.*?\*/", "", style, flags=re.S)
    return {selector.strip(): body for selector, body in re.findall(r"([^{}]+)\{([^}]*)\}", style)}


def test_parameter_names_never_break_mid_word():
    html = page_of(BOOK, {"data_path": "/" + "long-folder-name/" * 20 + "imdb.npz"})
    rules = css_rules(html)
    breaks_anywhere = [selector for selector, body in rules.items() if "anywhere" in body]
    assert breaks_anywhere and not any(re.search(r"(^|[\s,])th\b", s) for s in breaks_anywhere)
    assert "td" in breaks_anywhere[0]  # long values (paths) still wrap: the tab does not scroll sideways
    assert "nowrap" in rules["th.name"] and "keep-all" in rules["th"]
    assert '<th class="name">min_accuracy</th>' in html


def test_an_older_runs_metrics_still_render():
    """metrics.json of a run made before trainable_parameters and the typed data path were recorded."""
    older_data = {"source": "aclimdb", "data_path": "/mnt/x/aclImdb_v1.tar.gz", "vocabulary": 88582}
    html = page_of({**BOOK, "data_path": "/data/imdb.tar.gz"}, older_data, trainable_parameters=None)
    assert (
        html.count('/data/imdb.tar.gz<br><span class="also">resolved: /mnt/x/aclImdb_v1.tar.gz</span>') == 2
    )
    assert "160,305 trainable parameters." in html


def test_fixed_feature_weights_are_not_counted_as_trainable():
    weighted = {**grid_trial("linear, NB trigrams 1M (NBSVM-like)"), "data_path": ""}
    html = page_of(weighted, {}, parameters=2_000_001, trainable_parameters=1_000_001)
    assert "1,000,001 trainable parameters (and 1,000,000 fixed feature weights)." in html
