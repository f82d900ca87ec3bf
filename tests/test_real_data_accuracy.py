"""Beyond the linear baselines on the real data (issue #12): the sweep's winner, a logistic regression
on Naive-Bayes-weighted 1M uni+bigrams, passes 0.915 on the test set with every task in its own
process (as under a real executor) within the memory goal.

Skipped (with the reason) when the real data is absent. A few minutes on 2 cores.
"""

import pytest
from stage_runs import MEMORY_GOAL_MB, STAGES, run_stages_in_processes

from imdb_pipeline.sweep.plan import BOOK_GRID

pytestmark = [pytest.mark.slow, pytest.mark.real_data]

# The sweep's winner on the real data (docs/experiments.md). The NB trigram model, second on
# validation, trains at 989-995 MB: too close to the goal for a test that must not flake.
WINNER = next(entry for entry in BOOK_GRID if entry["name"] == "linear, NB bigrams 1M")


@pytest.mark.parametrize("trial", [WINNER], ids=[WINNER["name"]])
def test_the_winning_linear_model_passes_0915_within_the_memory_goal(real_data, tmp_path, capsys, trial):
    params = {key: value for key, value in trial.items() if key != "name"}
    metrics = run_stages_in_processes(real_data, tmp_path / "run", tmp_path / "artifacts", params)
    peaks = {stage: metrics["timings"][stage]["peak_rss_mb"] for stage in STAGES}
    with capsys.disabled():  # into the CI log
        print(
            f"\nreal data, {trial['name']}: test accuracy {metrics['test_accuracy']:.4f}, "
            f"train {metrics['timings']['train']['wall_seconds']:.1f} s, peaks MB {peaks}"
        )
    assert metrics["config"]["weighting"] == "nb" and metrics["config"]["hidden_layers"] == 0
    assert metrics["test_accuracy"] >= 0.915
    assert all(peak <= MEMORY_GOAL_MB for peak in peaks.values()), peaks
