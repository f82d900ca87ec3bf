"""A new user's first hour in the Airflow UI (issue #13), on the README's path: ``airflow standalone``'s
simple auth manager, the DAG paused at creation and scheduled ``@weekly``, no ``IMDB_DATA_PATH``.

Headless Chromium logs in as admin and:

1. opens imdb_sentiment's trigger form: no error shown, Trigger enabled with the defaults (not pressed:
   with no data source the run would download the dataset, which a test must not depend on);
2. types each kind of bad value and records what the form does with it (the form clamps numbers to
   ``minimum``/``maximum`` when the field loses focus, the range being stated under the field, and
   refuses letters in number fields: final_epochs "four" leaves it empty, which is auto);
3. triggers with a real change (the tiny generated tarball, 3 epochs, final_epochs 2); the dialog's
   "Unpause on trigger" unpauses the DAG, and no scheduled run for a past week starts with it (the
   user's run never waits behind one);
4. reads the train task's log: no ERROR line, in the UI nor in the full log the API serves;
5. a second run on the same data, not better: promote is skipped, its reason in the log body;
6. the Report tab: no sideways scrolling at a normal window width (the README's screenshot);
7. the sweep's run: each trial listed by its name;
8. docs/scoring.md's "Your first scored file", its shell lines run as written: the champion of step 3
   started imdb_score by itself ("nothing new: the inbox is empty"), the inbox exists (the flag
   watcher made it), the READY flag is taken and the file scored; the run's Report tab shows the
   batch; the same file again: "nothing new: all 1 file already scored by this champion";
9. a run of the REST example's conf with a data path that does not exist here fails at ingest with
   the one-line message (none of the library's frames in the log), and its Report tab names the task;
10. unpausing each DAG with the UI's toggle starts no run;
11. the Models page with 10 champions and 20 batches fits the window: no sideways scrolling.

Screenshots in test-artifacts/first_hour_*.png (docs/ keeps copies of 6, 8, 9 and 11). Needs what
tests/test_browser.py needs.
"""

from __future__ import annotations

import json
import re
import subprocess
import time
from pathlib import Path
from urllib.parse import quote, unquote

import pendulum
import pytest
from airflow_cluster import READ_ONLY_DAG, SIMPLE, running_cluster
from scoring_support import evaluated, promote, scored, store_clock_at
from stage_runs import PROJECT, TINY_PARAMS
from test_browser import browser, frame_text, open_report_tab, screenshot, wait  # noqa: F401 (a fixture)

pytestmark = [pytest.mark.browser, pytest.mark.integration, pytest.mark.slow]

DAG = "imdb_sentiment"
SCORE = "imdb_score"
README_PATH = {"AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "True", "IMDB_SCHEDULE": "@weekly"}
WINDOW = (1280, 900)  # a laptop's browser window
# (field, typed, what the field holds after it loses focus): the form's own checks.
CLAMPED = [
    ("num_words", "2", "4"),
    ("epochs", "5000", "1000"),
    ("dropout", "1.5", "0.99"),
    ("final_epochs", "0", "1"),
    ("final_epochs", "1000", "999"),
]
# (field, typed, what it holds, required): the old value selected and deleted, no letter taken. An
# empty required field stops the trigger; final_epochs empty is auto (its description says so).
LETTERS_REFUSED = [("num_words", "abc", "", True), ("final_epochs", "four", "", False)]


def log_in(browser, cluster, next_url: str) -> None:  # noqa: F811 (the fixture)
    """Through the simple auth manager's login page, with the password the api-server generated."""
    from selenium.webdriver.common.by import By

    browser.get(f"{cluster.base}/auth/login?next={quote(next_url, safe='')}")
    wait("the login form", lambda: browser.find_elements(By.NAME, "username"))
    browser.find_element(By.NAME, "username").send_keys("admin")
    browser.find_element(By.NAME, "password").send_keys(cluster.passwords["admin"])
    browser.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    wait("the login", lambda: browser.get_cookie("_token") and "/auth/login" not in browser.current_url)


class TriggerForm:
    """imdb_sentiment's trigger dialog, opened from the DAG's page."""

    def __init__(self, browser, cluster):  # noqa: F811 (the fixture)
        from selenium.webdriver.common.by import By

        self.browser, self.by = browser, By
        browser.get(f"{cluster.base}/dags/{DAG}")
        wait(
            "the Trigger button",
            lambda: browser.find_elements(By.XPATH, "//button[normalize-space()='Trigger']"),
        )[0].click()
        wait("the form", lambda: browser.find_elements(By.NAME, "element_num_words"))
        time.sleep(1)  # the form validates once it has rendered

    @property
    def dialog(self):
        return self.browser.find_element(self.by.CSS_SELECTOR, ".chakra-dialog__content")

    @property
    def trigger_button(self):
        return self.dialog.find_element(self.by.XPATH, ".//button[normalize-space()='Trigger']")

    def errors(self) -> list[str]:
        shown = self.dialog.find_elements(self.by.CSS_SELECTOR, "[data-part=error-text], [role=alert]")
        invalid = self.dialog.find_elements(self.by.CSS_SELECTOR, "[data-invalid], [aria-invalid=true]")
        return [element.text or element.get_attribute("outerHTML")[:200] for element in shown + invalid]

    def field(self, name: str):
        return self.browser.find_element(self.by.NAME, f"element_{name}")

    def type(self, name: str, value: str, pause: float = 0) -> str:
        """Replace the field's value as a person does (select all, type, Tab); returns what it holds."""
        from selenium.webdriver.common.keys import Keys

        field = self.field(name)
        self.browser.execute_script("arguments[0].scrollIntoView({block: 'center'})", field)
        field.click()
        field.send_keys(Keys.CONTROL, "a")
        field.send_keys(Keys.DELETE)
        for chunk in [value] if not pause else value:
            field.send_keys(chunk)
            time.sleep(pause)
        field.send_keys(Keys.TAB)
        time.sleep(0.3)
        return field.get_attribute("value")

    def fill(self, name: str, value: str) -> None:
        """Type a valid value; again key by key if a keystroke was lost (seen with a long path)."""
        for pause in (0, 0.05, 0.2):
            if (held := self.type(name, value, pause)) == value:
                return
            print(f"{name}: typed {value!r}, the field holds {held!r}")
        raise AssertionError(f"{name} does not take {value!r}: it holds {held!r}")

    def help_text(self, name: str) -> str:
        root = self.field(name).find_element(
            self.by.XPATH, "./ancestor::div[@data-scope='field' and @data-part='root']"
        )
        return root.text

    def toasts(self) -> list[str]:
        return [
            toast.text
            for toast in self.browser.find_elements(
                self.by.CSS_SELECTOR, "[data-scope=toast][data-part=root]"
            )
            if toast.text
        ]


def task_states(cluster, run_id: str, dag_id: str = DAG) -> dict[str, str]:
    listed = cluster.api("GET", f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances").json()["task_instances"]
    return {ti["task_id"]: ti["state"] for ti in listed}


def finished(cluster, run_id: str, dag_id: str = DAG, timeout: float = 600) -> str:
    return cluster.wait_for(
        f"run {run_id} of {dag_id}",
        lambda: (state := cluster.run_state(run_id, dag_id)) in ("success", "failed") and state,
        timeout=timeout,
    )


def task_log_page(browser, cluster, run_id: str, task_id: str, dag_id: str = DAG) -> str:  # noqa: F811
    """The text of the task's page, once its log body (the lines after the collapsed groups) shows."""
    from selenium.webdriver.common.by import By

    browser.get(f"{cluster.base}/dags/{dag_id}/runs/{quote(run_id, safe='')}/tasks/{task_id}")
    return wait(
        f"{task_id}'s log",
        lambda: "Post Execute" in (text := browser.find_element(By.TAG_NAME, "body").text) and text,
    )


def test_first_hour_in_the_ui(tmp_path_factory, tiny_aclimdb_tarball, browser):  # noqa: F811
    from selenium.webdriver.common.by import By

    home = tmp_path_factory.mktemp("first-hour")
    timings: dict[str, float] = {}
    started = time.monotonic()
    with running_cluster(
        home, executor="LocalExecutor", extra_env=README_PATH, auth_manager=SIMPLE, triggerer=True
    ) as cluster:
        timings["cluster up"] = time.monotonic() - started
        assert cluster.api("GET", f"/dags/{DAG}").json()["is_paused"]  # as a new user finds it
        browser.set_window_size(*WINDOW)
        log_in(browser, cluster, f"{cluster.base}/dags/{DAG}")

        # 1. The form opens without an error and may be sent with its defaults.
        form = TriggerForm(browser, cluster)
        assert form.field("data_path").get_attribute("value") == ""
        assert not form.errors(), form.errors()
        assert form.trigger_button.is_enabled()
        screenshot(browser, "first_hour_1_form_defaults.png")

        # 2. Bad values: what the form does with each.
        for name, typed, held in CLAMPED:
            form = TriggerForm(browser, cluster)
            assert form.type(name, typed) == held, f"{name}={typed!r}"
            assert not form.errors() and form.trigger_button.is_enabled(), form.errors()  # no message...
            assert " From " in form.help_text(name)  # ...but the range is stated next to the field
            screenshot(browser, f"first_hour_2_{name}_{typed}.png")
        for name, typed, held, required in LETTERS_REFUSED:
            form = TriggerForm(browser, cluster)
            assert form.type(name, typed) == held, f"{name}={typed!r}"
            assert ("This field is required" in form.help_text(name)) == required
            assert form.trigger_button.is_enabled() != required
            screenshot(browser, f"first_hour_2_{name}_{typed}.png")
        no_runs = cluster.api("GET", f"/dags/{DAG}/dagRuns").json()["total_entries"]
        assert no_runs == 0 and cluster.api("GET", f"/dags/{DAG}").json()["is_paused"]

        # 3. A real change through the form; "Unpause on trigger" (ticked) unpauses the DAG.
        conf = {**TINY_PARAMS, "data_path": str(tiny_aclimdb_tarball), "epochs": 3}
        conf["final_epochs"] = 2
        form = TriggerForm(browser, cluster)
        for name, value in conf.items():
            form.fill(name, str(value))
        screenshot(browser, "first_hour_3_form_filled.png")
        form.trigger_button.click()
        wait("the run's page", lambda: "/runs/manual__" in browser.current_url)
        run_id = unquote(browser.current_url.rsplit("/runs/", 1)[1].split("/")[0])
        sent = cluster.api("GET", f"/dags/{DAG}/dagRuns/{run_id}").json()["conf"]
        assert {name: sent[name] for name in conf} == conf, sent
        started = time.monotonic()
        assert finished(cluster, run_id) == "success", task_states(cluster, run_id)
        timings["first run"] = time.monotonic() - started
        runs = cluster.api("GET", f"/dags/{DAG}/dagRuns").json()["dag_runs"]
        assert [run["run_type"] for run in runs] == ["manual"], runs  # none for a time already past

        # 4. The train log: no ERROR line (TensorFlow's start-up chatter is not shown as one).
        page = task_log_page(browser, cluster, run_id, "train")
        assert "final fit epoch 2/2" in page and "\nERROR\n" not in page, page[-3000:]
        screenshot(browser, "first_hour_4_train_log.png")
        log = cluster.api(
            "GET", f"/dags/{DAG}/dagRuns/{run_id}/taskInstances/train/logs/1", params={"full_content": "true"}
        ).json()["content"]
        errors = [entry for entry in log if str(entry.get("level", "")).lower() in ("error", "critical")]
        assert not errors, json.dumps(errors, indent=1)[:3000]

        # 5. The same data again, not better: the champion stays, and promote's log says why.
        again = cluster.trigger(cluster.api("GET", f"/dags/{DAG}/dagRuns/{run_id}").json()["conf"])
        assert cluster.api("PATCH", f"/dags/{READ_ONLY_DAG}", json={"is_paused": False}).ok
        sweep_id = cluster.trigger(
            {**conf, "grid": [{"name": "book"}, {"name": "wider", "units": 32}]}, READ_ONLY_DAG
        )
        started = time.monotonic()
        assert finished(cluster, again) == "success", task_states(cluster, again)
        timings["second run"] = time.monotonic() - started
        assert task_states(cluster, again)["promote"] == "skipped"
        page = task_log_page(browser, cluster, again, "promote")
        assert "not promoted, the champion stays" in page and "is not better than the champion's" in page, (
            page[-3000:]
        )
        screenshot(browser, "first_hour_5_promote_skipped.png")

        # 6. The Report tab, at a normal window width: no sideways scrolling inside the frame.
        frame = open_report_tab(browser, cluster, DAG, run_id)
        browser.switch_to.frame(frame)
        wait("the report", lambda: "IMDB review sentiment" in browser.find_element(By.TAG_NAME, "h1").text)
        widths = browser.execute_script(
            "const e = document.documentElement; return [e.scrollWidth, e.clientWidth];"
        )
        browser.switch_to.default_content()
        assert widths[0] <= widths[1], f"the report scrolls sideways: scrollWidth, clientWidth = {widths}"
        screenshot(browser, "first_hour_6_report_tab.png")

        # 7. The sweep's run: Airflow marks the mapped task "Train trial [ ]"; each trial is listed by name.
        state = finished(cluster, sweep_id, READ_ONLY_DAG)
        assert state == "success", task_states(cluster, sweep_id, READ_ONLY_DAG)
        browser.get(f"{cluster.base}/dags/{READ_ONLY_DAG}/runs/{quote(sweep_id, safe='')}")
        grid = wait(
            "the sweep's grid",
            lambda: "\nwider\n" in (text := browser.find_element(By.TAG_NAME, "body").text) and text,
        )
        assert "Train trial [ ]" in grid and "\nbook\n" in grid and "\nwider\n" in grid, grid
        screenshot(browser, "first_hour_7_sweep_run.png")

        # 8. docs/scoring.md as written. Step 3's champion started imdb_score by itself.
        root = Path(cluster.env["IMDB_ARTIFACT_ROOT"])
        assert (root / "inbox").is_dir()  # the flag watcher made it when imdb_score appeared
        assert not cluster.api("GET", f"/dags/{SCORE}").json()["is_paused"]
        [by_champion] = new_score_runs(cluster, set(), 1)
        assert "nothing new: the inbox is empty" in score_log(cluster, by_champion)
        started = time.monotonic()
        run_docs_shell(cluster, "scoring.md", "## Your first scored file")
        wait("the READY flag taken", lambda: not (root / "inbox" / "READY").exists(), timeout=120)
        [by_flag] = new_score_runs(cluster, {by_champion}, 1)
        timings["flag to scored"] = time.monotonic() - started
        assert "1 scored, 0 quarantined, 0 drifted" in score_log(cluster, by_flag)
        [scores] = (root / "scored").glob("*/first.txt__*/scores.jsonl")
        assert len(scores.read_text().splitlines()) == 2
        browser.set_window_size(*WINDOW)
        frame = open_report_tab(browser, cluster, SCORE, by_flag)
        text = wait("the scoring summary", lambda: "first.txt" in (t := frame_text(browser, frame)) and t)
        assert "scored" in text, text
        screenshot(browser, "first_hour_8_scoring_report_tab.png")
        run_docs_shell(cluster, "scoring.md", "## Your first scored file")  # the same file again
        [again] = new_score_runs(cluster, {by_champion, by_flag}, 1)
        said = "nothing new: all 1 file already scored by this champion"
        assert said in score_log(cluster, again)

        # 9. A data path that does not exist here: one line in the log, and the Report tab says where.
        failed_id = cluster.trigger({"data_path": "/data/aclImdb_v1.tar.gz", "units": 32})
        assert finished(cluster, failed_id) == "failed"
        ingest_log = cluster.api(
            "GET",
            f"/dags/{DAG}/dagRuns/{failed_id}/taskInstances/ingest/logs/1",
            params={"full_content": "true"},
        ).json()["content"]
        refusal = "data_path '/data/aclImdb_v1.tar.gz' does not exist on this worker"
        assert refusal in json.dumps(ingest_log), json.dumps(ingest_log)[-3000:]
        frames = re.findall(r'"filename": "([^"]+)"', json.dumps(ingest_log))
        assert not [name for name in frames if "imdb_pipeline" in name], frames
        frame = open_report_tab(browser, cluster, DAG, failed_id)
        text = wait("the failed run's page", lambda: "ingest" in (t := frame_text(browser, frame)) and t)
        assert "failed" in text.lower(), text
        screenshot(browser, "first_hour_9_failed_run_report_tab.png")

        # 10. The UI's pause toggle: unpausing starts no run.
        for dag_id in (DAG, SCORE):
            assert cluster.api("PATCH", f"/dags/{dag_id}", json={"is_paused": True}).ok
            before = {run["dag_run_id"] for run in all_runs(cluster, dag_id)}
            browser.get(f"{cluster.base}/dags/{dag_id}")
            wait(
                "the pause toggle",
                lambda: browser.find_elements(By.CSS_SELECTOR, "[data-testid=toggle-pause]"),
            )
            unpaused_at = pendulum.now("UTC")
            browser.find_element(By.CSS_SELECTOR, "[data-testid=toggle-pause]").click()
            wait(
                f"{dag_id} unpaused",
                lambda d=dag_id: not cluster.api("GET", f"/dags/{d}").json()["is_paused"],
            )
            time.sleep(15)  # several scheduler loops (2 s) and a dag-processor pass (5 s)
            started_runs = [run for run in all_runs(cluster, dag_id) if run["dag_run_id"] not in before]
            # A scheduled run may only come at a cron time after the unpause, never for one before it.
            assert all(pendulum.parse(run["logical_date"]) > unpaused_at for run in started_runs), (
                started_runs
            )

        # 11. The Models page after the tenth champion, with 20 batches, at the same window width.
        seed_history(root, pendulum.now("UTC").subtract(days=40))
        browser.set_window_size(WINDOW[0], 2200)  # as wide as before; tall, for the whole page
        browser.get(f"{cluster.base}/plugin/imdb-models")
        frame = wait(
            "the Models iframe", lambda: browser.find_elements(By.CSS_SELECTOR, "iframe[title='Models']")
        )[0]
        browser.switch_to.frame(frame)
        wait("the page", lambda: browser.find_elements(By.CSS_SELECTOR, "tr.batch"))
        rows = (
            len(browser.find_elements(By.CSS_SELECTOR, "tr.champion")),
            len(browser.find_elements(By.CSS_SELECTOR, "tr.batch")),
        )
        widths = browser.execute_script(
            "const e = document.documentElement; return [e.scrollWidth, e.clientWidth];"
        )
        browser.switch_to.default_content()
        assert rows[0] >= 10 and rows[1] >= 20, rows
        assert widths[0] <= widths[1], (
            f"the Models page scrolls sideways: scrollWidth, clientWidth = {widths}"
        )
        screenshot(browser, "first_hour_11_models_page.png")
    print("timings (s):", {step: round(seconds) for step, seconds in timings.items()})


def seed_history(root: Path, start: pendulum.DateTime) -> None:
    """Ten more champions (stand-ins, with their runs' evaluations) promoted every few days since
    ``start``, and twenty scoring batches of the last of them, some drifted: a page with history."""
    previous = None
    for number in range(10):
        when = start.add(days=3 * number, hours=number)
        run, accuracy = f"manual__{when.isoformat()}", 0.862 + (number % 4) / 200 + number / 1000
        with store_clock_at(when.add(minutes=40)):
            evaluated(root, run, accuracy)
        with store_clock_at(when.add(minutes=41)):
            previous = promote(root, run, accuracy, previous, when.add(minutes=41).isoformat())
    for number in range(20):
        finished_at = start.add(days=30, hours=5 * number)
        drifted = number % 7 == 3
        drift = {"tested": True, "drifted": drifted, "flags": ["oov_share"] if drifted else []}
        name = f"shop-{finished_at:%Y-%m-%d-%H}.jsonl"
        with store_clock_at(finished_at):
            scored(
                root,
                previous,
                f"{name}__{number:016x}",
                drift,
                file=name,
                finished_at=finished_at.isoformat(),
                rows=250 + 37 * number,
                positive_rate=round(0.45 + (number % 5) / 40, 3),
            )


def all_runs(cluster, dag_id: str) -> list[dict]:
    return cluster.api("GET", f"/dags/{dag_id}/dagRuns", params={"limit": 100}).json()["dag_runs"]


def new_score_runs(cluster, known: set[str], count: int, timeout: float = 300) -> list[str]:
    """The ids of the next ``count`` imdb_score runs started by an asset event (the champion's, a
    flag's) and not in ``known``, once finished (asserted successful). Timed runs are left out: one
    may come at any half hour."""

    def done():
        runs = [
            run
            for run in all_runs(cluster, SCORE)
            if run["dag_run_id"] not in known and run["run_type"] == "asset_triggered"
        ]
        finished_runs = [run for run in runs if run["state"] in ("success", "failed")]
        return len(finished_runs) >= count and finished_runs

    runs = cluster.wait_for(f"{count} imdb_score run(s)", done, timeout=timeout)[:count]
    assert all(run["state"] == "success" for run in runs), runs
    return [run["dag_run_id"] for run in runs]


def score_log(cluster, run_id: str) -> str:
    content = cluster.api(
        "GET", f"/dags/{SCORE}/dagRuns/{run_id}/taskInstances/score/logs/1", params={"full_content": "true"}
    ).json()["content"]
    return "\n".join(str(entry.get("event", "")) for entry in content)


def run_docs_shell(cluster, page: str, heading: str) -> None:
    """The first ``bash`` block under ``heading`` in docs/<page>, run as written in the project folder."""
    text = (PROJECT / "docs" / page).read_text()
    section = text[text.index(heading) :]
    block = section.split("```bash\n", 1)[1].split("```", 1)[0]
    done = subprocess.run(
        ["bash", "-e", "-c", block], cwd=PROJECT, env=cluster.env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, (block, done.stdout[-2000:], done.stderr[-2000:])
