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
