"""The sweep's comparison: each trial's row from its history, and a winner by validation only."""

from imdb_pipeline.sweep import comparison
from imdb_pipeline.sweep.plan import plan_trials


def history(val_accuracy, val_loss):
    return {
        "validation_history": {"val_accuracy": val_accuracy, "val_loss": val_loss},
        "best_epoch": 1 + val_loss.index(min(val_loss)),
        "parameters": 10,
        "validation_fit_seconds": 1.0,
        "final_fit_seconds": 0.5,
        "seconds_per_epoch": 0.1,
    }


def test_winner_is_the_best_validation_accuracy_then_the_lower_loss():
    a, b, c = plan_trials({"grid": [{"name": "a"}, {"name": "b"}, {"name": "c"}]})
    rows = [
        comparison.summarize_trial(a, history([0.80, 0.86, 0.85], [0.5, 0.35, 0.4])),
        comparison.summarize_trial(b, history([0.86, 0.84], [0.30, 0.5])),
        comparison.summarize_trial(c, history([0.70], [0.6])),
    ]
    assert (
        rows[0]["best_val_accuracy"],
        rows[0]["best_val_accuracy_epoch"],
        rows[0]["val_loss_at_best"],
    ) == (0.86, 2, 0.35)
    assert rows[0]["train_seconds"] == 1.5 and rows[0]["lowest_val_loss_epoch"] == 2
    assert comparison.pick_winner(rows)["name"] == "b"  # same accuracy as a, lower validation loss


def default_grid_page(data=None) -> str:
    """The comparison page of a sweep of the default grid (made-up curves, no figures)."""
    from imdb_pipeline.core.parameters import PipelineConfig

    trials = plan_trials({})
    rows = [
        comparison.summarize_trial(trial, history([0.8, 0.85 + trial.index / 1000], [0.4, 0.35]))
        for trial in trials
    ]
    evaluation = {"test_accuracy": 0.88, "test_loss": 0.3, "roc_auc": 0.95}
    config = PipelineConfig.from_params({"data_path": "/data/imdb.tar.gz"})
    summary = comparison.sweep_summary(rows, evaluation, config, data or {}, "manual__1")
    return comparison.render_page(summary)


def test_report_describes_each_default_configuration_truthfully():
    html = default_grid_page()
    for description in (
        "2 × 16 relu · 10,000 words · binary crossentropy loss",
        "2 × 16 relu · 10,000 words · mse loss",
        "2 × 16 tanh · 10,000 words",
        "1 × 16 relu · 10,000 words",
        "2 × 64 relu · 10,000 words",
        "2 × 16 relu, dropout 0.5 · 50,000 words + bigrams · binary crossentropy loss<",
        "logistic regression · 1,000,000 words + bigrams + trigrams · binary crossentropy loss"
        " · adam at learning rate 0.003 · 10 epochs<",
        "logistic regression · 1,000,000 words + bigrams + trigrams, tf-idf weighted"
        " · binary crossentropy loss · adam at learning rate 0.01 · 10 epochs<",
        "logistic regression · 1,000,000 words + bigrams, Naive-Bayes weighted",
        "logistic regression · 1,000,000 words + bigrams + trigrams, Naive-Bayes weighted",
    ):
        assert description in html
    assert html.count("logistic regression") == 4 and html.count("words + bigrams + trigrams") == 3
    assert "0 x" not in html and "0 × " not in html and "words+bigrams" not in html
    # The header states the training every row shares, not "each trained 20 epochs" (the linear ones: 10).
    assert (
        "Training, unless a row says otherwise: rmsprop at learning rate 0.001 · batch 512 · 20 epochs"
        in html
    )


def test_report_shows_the_typed_data_path_and_the_resolved_one():
    data = {
        "source": "aclimdb",
        "data_path": "/mnt/x/aclImdb_v1.tar.gz",
        "data_path_as_given": "/data/imdb.tar.gz",
        "data_path_from": "data_path",
    }
    html = default_grid_page(data)
    typed_then_read = '/data/imdb.tar.gz<br><span class="also">resolved: /mnt/x/aclImdb_v1.tar.gz</span>'
    assert html.count(typed_then_read) == 2  # shared parameters and data
    assert '<th class="name">data_path</th>' in html and "data_path_from" not in html
    older = default_grid_page({"source": "aclimdb", "data_path": "/mnt/x/aclImdb_v1.tar.gz"})
    assert html.count(typed_then_read) == 2 == older.count(typed_then_read)
