"""The report as a person sees it, under the production login (docker-compose.yaml's FAB auth manager):
headless Chromium logs in through the FAB login page, opens a finished run, clicks its "Report" tab and
checks what shows inside the Airflow UI.

- The admin sees the report of an imdb_sentiment run with its plots (test-artifacts/report_in_airflow_ui.png).
- The admin's Models page (the "Models" nav entry): the training runs' accuracy plot and the champion's row
  (test-artifacts/models_page.png).
- A user whose role may read only imdb_experiments sees the report of an imdb_experiments run
  (test-artifacts/reader_allowed_report.png), and a refusal page in the tab of an imdb_sentiment run
  (test-artifacts/reader_refused_report.png), not a blank frame or a stack trace.

Uses Debian's chromium and chromium-driver (.ci/run installs them; nothing is downloaded), and the
api-server, scheduler and dag-processor (LocalExecutor) against a fresh database on the local PostgreSQL.
"""

from __future__ import annotations

import time
from pathlib import Path
from urllib.parse import quote

import pytest
import requests
from airflow_cluster import READ_ONLY_DAG, running_cluster
from stage_runs import PROJECT, TINY_PARAMS

pytestmark = [pytest.mark.browser, pytest.mark.integration, pytest.mark.slow]

CHROMIUM, CHROMEDRIVER = Path("/usr/bin/chromium"), Path("/usr/bin/chromedriver")
SCREENSHOTS = PROJECT / "test-artifacts"
DAG = "imdb_sentiment"


@pytest.fixture
def browser(monkeypatch):
    """Headless Chromium driven by Debian's chromedriver, both given by path: Selenium Manager never runs."""
    missing = [str(p) for p in (CHROMIUM, CHROMEDRIVER) if not p.is_file()]
    if missing:
        pytest.skip(
            f"needs Debian's chromium and chromium-driver ({', '.join(missing)} missing): "
            "apt-get install chromium chromium-driver"
        )
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    monkeypatch.setenv("SE_OFFLINE", "true")
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for argument in (
        "--headless=new",
        "--no-sandbox",
        "--disable-dev-shm-usage",
        "--disable-gpu",
        "--window-size=1600,1500",
    ):
        options.add_argument(argument)
    driver = webdriver.Chrome(service=Service(executable_path=str(CHROMEDRIVER)), options=options)
    driver.set_page_load_timeout(60)
    yield driver
    driver.quit()


def wait(what: str, check, timeout: float = 60):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if result := check():
            return result
        time.sleep(0.5)
    raise AssertionError(f"timed out waiting for {what}")


def log_in(browser, cluster, user: str, next_url: str) -> None:
    """Through the FAB login page, as a person does; a fresh browser session each time."""
    from selenium.webdriver.common.by import By

    browser.delete_all_cookies()
    browser.get(f"{cluster.base}/auth/login/?next={quote(next_url, safe='')}")
    wait("the login form", lambda: browser.find_elements(By.NAME, "username"))
    assert "Sign In" in browser.page_source  # FAB's form, not the simple auth manager's
    browser.find_element(By.NAME, "username").send_keys(user)
    browser.find_element(By.NAME, "password").send_keys(cluster.passwords[user])
    browser.find_element(By.CSS_SELECTOR, "input[type=submit], button[type=submit]").click()
    wait(f"{user}'s login", lambda: browser.get_cookie("_token") and "/auth/login" not in browser.current_url)


def open_report_tab(browser, cluster, dag_id: str, run_id: str):
    """The run's page, its "Report" tab clicked; returns the tab's iframe."""
    from selenium.webdriver.common.by import By

    browser.get(f"{cluster.base}/dags/{dag_id}/runs/{quote(run_id, safe='')}")
    tab = wait(
        "the Report tab", lambda: browser.find_elements(By.CSS_SELECTOR, "a[href$='/plugin/imdb-report']")
    )[0]
    assert tab.text.strip() == "Report"
    tab.click()
    frame = wait(
        "the report iframe", lambda: browser.find_elements(By.CSS_SELECTOR, "iframe[title='Report']")
    )[0]
    assert frame.get_attribute("src").endswith(f"/imdb-reports/{dag_id}/{quote(run_id, safe='')}/")
    return frame


def frame_text(browser, frame) -> str:
    from selenium.webdriver.common.by import By

    browser.switch_to.frame(frame)
    try:
        return browser.find_element(By.TAG_NAME, "body").text
    finally:
        browser.switch_to.default_content()


def shown_images(browser):
    """[src, naturalWidth] of every image of the current document once all have loaded."""
    return browser.execute_script(
        "const imgs = [...document.images];"
        "return imgs.length && imgs.every(i => i.complete)"
        " && imgs.map(i => [i.getAttribute('src'), i.naturalWidth]);"
    )


def screenshot(browser, name: str) -> None:
    SCREENSHOTS.mkdir(exist_ok=True)
    assert browser.save_screenshot(str(SCREENSHOTS / name))


def test_report_tab_shows_each_user_the_reports_their_role_may_read(
    tmp_path_factory, tiny_aclimdb_tarball, browser
):
    from selenium.webdriver.common.by import By

    with running_cluster(tmp_path_factory.mktemp("browser-cluster"), executor="LocalExecutor") as cluster:
        conf = {**TINY_PARAMS, "data_path": str(tiny_aclimdb_tarball)}
        run_id = cluster.trigger(conf)
        sweep_id = cluster.trigger({**conf, "grid": [{"name": "book"}]}, dag_id=READ_ONLY_DAG)
        for dag_id, run in ((DAG, run_id), (READ_ONLY_DAG, sweep_id)):
            cluster.wait_for(
                f"run {run} of {dag_id}",
                lambda d=dag_id, r=run: cluster.run_state(r, d) in ("success", "failed"),
                timeout=600,
            )
            report_task = cluster.api("GET", f"/dags/{dag_id}/dagRuns/{run}/taskInstances/report").json()
            assert report_task.get("state") == "success", f"{report_task}\n{cluster.log('scheduler')[-4000:]}"

        report_url = f"{cluster.base}/imdb-reports/{DAG}/{quote(run_id, safe='')}/"
        for url in (report_url, report_url + "loss.png"):
            anonymous = requests.get(url, timeout=10)
            assert anonymous.status_code == 401, anonymous.text[:500]
            assert "IMDB review sentiment" not in anonymous.text and "Not logged in" in anonymous.text

        # The admin: the report and its plots inside the UI.
        run_page = f"{cluster.base}/dags/{DAG}/runs/{quote(run_id, safe='')}"
        log_in(browser, cluster, "admin", run_page)
        frame = open_report_tab(browser, cluster, DAG, run_id)
        browser.switch_to.frame(frame)
        wait(
            "the report page", lambda: "IMDB review sentiment" in browser.find_element(By.TAG_NAME, "h1").text
        )
        images = wait("the report's images", lambda: shown_images(browser))
        assert len(images) >= 4 and all(width > 0 for _, width in images), images
        browser.execute_script(
            "document.querySelector('figure').closest('section').scrollIntoView()"
        )  # plots in view
        browser.switch_to.default_content()
        screenshot(browser, "report_in_airflow_ui.png")

        # The admin's Models page, through its nav entry: the accuracy plot and the champion's row.
        browser.get(f"{cluster.base}/plugin/imdb-models")
        frame = wait(
            "the Models iframe", lambda: browser.find_elements(By.CSS_SELECTOR, "iframe[title='Models']")
        )[0]
        assert frame.get_attribute("src").endswith("/imdb-models/")
        browser.switch_to.frame(frame)
        wait("the accuracy plot", lambda: browser.find_elements(By.CSS_SELECTOR, "#accuracy-plot circle"))
        champions = browser.find_elements(By.CSS_SELECTOR, "tr.champion")
        assert len(champions) == 1, [row.text for row in champions]
        assert champions[0].find_elements(By.CSS_SELECTOR, f'summary[title="{run_id}"]')  # the run, shortened
        browser.switch_to.default_content()
        screenshot(browser, "models_page.png")

        # The reader of imdb_experiments only: that DAG's report ...
        sweep_page = f"{cluster.base}/dags/{READ_ONLY_DAG}/runs/{quote(sweep_id, safe='')}"
        log_in(browser, cluster, "reader", sweep_page)
        frame = open_report_tab(browser, cluster, READ_ONLY_DAG, sweep_id)
        wait("the sweep's report", lambda: "IMDB further experiments" in frame_text(browser, frame))
        browser.switch_to.frame(frame)
        images = wait("the sweep report's images", lambda: shown_images(browser))
        assert images and all(width > 0 for _, width in images), images
        browser.switch_to.default_content()
        screenshot(browser, "reader_allowed_report.png")

        # ... and a refusal that says why in the tab of an imdb_sentiment run.
        frame = open_report_tab(browser, cluster, DAG, run_id)
        refusal = wait("the refusal", lambda: (text := frame_text(browser, frame)) and text)
        assert f"may not read the runs of DAG {DAG}," in refusal and "Ask an Airflow admin" in refusal
        assert "IMDB review sentiment" not in refusal and "Traceback" not in refusal
        screenshot(browser, "reader_refused_report.png")
