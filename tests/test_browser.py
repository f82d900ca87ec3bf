"""The report as a person sees it: log in to the Airflow UI in headless Chromium, open a finished
run of imdb_sentiment, click its "Report" tab and check that the report and its plots show inside the
UI. Leaves a screenshot in test-artifacts/report_in_airflow_ui.png.

Uses Debian's chromium and chromium-driver (.ci/run installs them; nothing is downloaded), and the
api-server, scheduler and dag-processor (LocalExecutor) against a fresh database on the local PostgreSQL.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from urllib.parse import quote

import pytest
import requests
from airflow_cluster import running_cluster
from stage_runs import PROJECT, TINY_PARAMS

pytestmark = [pytest.mark.browser, pytest.mark.integration, pytest.mark.slow]

CHROMIUM, CHROMEDRIVER = Path("/usr/bin/chromium"), Path("/usr/bin/chromedriver")
SCREENSHOT = PROJECT / "test-artifacts" / "report_in_airflow_ui.png"
DAG = "imdb_sentiment"


@pytest.fixture
def browser(monkeypatch):
    """Headless Chromium driven by Debian's chromedriver, both given by path: Selenium Manager never runs."""
    missing = [str(p) for p in (CHROMIUM, CHROMEDRIVER) if not p.is_file()]
    if missing:
        pytest.skip(
            f"needs Debian's chromium and chromium-driver ({', '.join(missing)} missing): apt-get install chromium chromium-driver"
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


def test_report_tab_shows_the_report_inside_the_airflow_ui(tmp_path_factory, tiny_aclimdb_tarball, browser):
    from selenium.webdriver.common.by import By

    with running_cluster(tmp_path_factory.mktemp("browser-cluster"), executor="LocalExecutor") as cluster:
        run_id = cluster.trigger({**TINY_PARAMS, "data_path": str(tiny_aclimdb_tarball)})
        cluster.wait_for(
            f"run {run_id}", lambda: cluster.run_state(run_id) in ("success", "failed"), timeout=300
        )
        report_task = cluster.api("GET", f"/dags/{DAG}/dagRuns/{run_id}/taskInstances/report").json()
        assert report_task.get("state") == "success", f"{report_task}\n{cluster.log('scheduler')[-4000:]}"

        report_url = f"{cluster.base}/imdb-reports/{DAG}/{quote(run_id, safe='')}/"
        anonymous = requests.get(report_url, timeout=10)
        assert anonymous.status_code in (401, 403), anonymous.text[:500]
        assert "IMDB review sentiment" not in anonymous.text
        assert requests.get(report_url + "loss.png", timeout=10).status_code in (401, 403)

        # Log in through the UI's login form, as a person does.
        run_page = f"{cluster.base}/dags/{DAG}/runs/{quote(run_id, safe='')}"
        password = json.loads((cluster.home / "passwords.json").read_text())["admin"]
        browser.get(f"{cluster.base}/auth/login?next={quote(run_page, safe='')}")
        wait("the login form", lambda: browser.find_elements(By.NAME, "username"))
        browser.find_element(By.NAME, "username").send_keys("admin")
        browser.find_element(By.NAME, "password").send_keys(password)
        browser.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
        wait(
            "the login to finish",
            lambda: browser.get_cookie("_token") and "/auth/login" not in browser.current_url,
        )

        browser.get(run_page)
        tab = wait(
            "the Report tab", lambda: browser.find_elements(By.CSS_SELECTOR, "a[href$='/plugin/imdb-report']")
        )[0]
        assert tab.text.strip() == "Report"
        tab.click()
        frame = wait(
            "the report iframe", lambda: browser.find_elements(By.CSS_SELECTOR, "iframe[title='Report']")
        )[0]
        assert frame.get_attribute("src").endswith(f"/imdb-reports/{DAG}/{quote(run_id, safe='')}/")

        browser.switch_to.frame(frame)
        wait(
            "the report page", lambda: "IMDB review sentiment" in browser.find_element(By.TAG_NAME, "h1").text
        )
        images = wait(
            "the report's images",
            lambda: browser.execute_script(
                "const imgs = [...document.images];"
                "return imgs.length && imgs.every(i => i.complete) && imgs.map(i => [i.getAttribute('src'), i.naturalWidth]);"
            ),
        )
        assert len(images) >= 4 and all(width > 0 for _, width in images), images
        browser.execute_script(
            "document.querySelector('figure').closest('section').scrollIntoView()"
        )  # plots in view
        browser.switch_to.default_content()

        SCREENSHOT.parent.mkdir(exist_ok=True)
        assert browser.save_screenshot(str(SCREENSHOT))
