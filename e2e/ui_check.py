"""The deployment test's browser part: Airflow 3's UI in headless Chromium (Debian's), driven by Selenium.

Adds a Braze connection through the form (the relabelled *REST endpoint* / *REST API key* fields,
the hidden fields absent, the extras with their help text), tests it against the sandbox (success,
then Braze's 401 advice with a wrong key), opens a sending task instance and reads its Braze
dashboard link and its rendered template fields. Screenshots go to the log directory.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--window-size=1400,1300",
]
HIDDEN_OR_PORT = {"login", "port", "schema"}
API_KEY = "sandbox-rest-api-key"  # the sandbox's key: not a secret, but it must not be shown
# Records the UI's XMLHttpRequest answers (URL, status, body) in window.__answers.
RECORD_RESPONSES = """
window.__answers = [];
const open = XMLHttpRequest.prototype.open;
XMLHttpRequest.prototype.open = function (method, url) { this.__url = url; return open.apply(this, arguments); };
const send = XMLHttpRequest.prototype.send;
XMLHttpRequest.prototype.send = function () {
  this.addEventListener("load", () => window.__answers.push(this.__url + " " + this.status + " " + this.responseText));
  return send.apply(this, arguments);
};
"""


def run_ui_checks(
    base: str,
    sandbox_url: str,
    shots: Path,
    check: Callable[..., None],
    task_url: str,
    dashboard_url: str,
) -> None:
    """Drive the UI at ``base``; ``check(ok, message)`` records each result.

    :param base: the API server's URL (UI and REST).
    :param sandbox_url: the Braze sandbox the new connection points at.
    :param shots: directory for the screenshots.
    :param check: the test's check function.
    :param task_url: UI path of a finished Braze sending task instance (``/dags/.../tasks/...``).
    :param dashboard_url: the Braze dashboard URL its extra link must open.
    """
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    shots.mkdir(parents=True, exist_ok=True)  # the venv's Python runs this module (selenium lives there)
    options = webdriver.ChromeOptions()
    for flag in [*FLAGS, f"--user-data-dir={shots / 'chromium-profile'}"]:
        options.add_argument(flag)
    options.binary_location = CHROMIUM
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.implicitly_wait(15)

    def body_text() -> str:
        return str(driver.find_element(By.TAG_NAME, "body").text)

    def wait_text(text: str, timeout: float = 30) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if text in body_text():
                return True
            time.sleep(0.5)
        return False

    def button(label: str) -> Any:
        return driver.find_element(By.XPATH, f"//button[contains(normalize-space(.), '{label}')]")

    try:
        driver.get(f"{base}/auth/token/login")  # simple auth manager, every user admin: sets the token cookie
        time.sleep(2)

        # -- the connection form --
        def add_connection(conn_id: str, key: str, *, inspect: bool) -> None:
            driver.get(f"{base}/connections")
            button("Add Connection").click()
            driver.find_element(By.NAME, "connection_id").send_keys(conn_id)
            combo = driver.find_element(By.XPATH, "//input[@role='combobox']")
            combo.send_keys("Braze")
            time.sleep(1)
            combo.send_keys(Keys.ENTER)
            wait_text("REST endpoint")
            if inspect:
                form = body_text()
                check(
                    "REST endpoint" in form and "REST API key" in form,
                    "connection form: fields relabelled REST endpoint / REST API key",
                )
                names = {e.get_attribute("name") for e in driver.find_elements(By.XPATH, "//input | //textarea")}
                check(
                    not ({"login", "schema"} & names) and "port" in names,
                    f"connection form: login and schema hidden, port shown ({sorted(names & HIDDEN_OR_PORT)})",
                )
            driver.find_element(By.NAME, "host").send_keys(sandbox_url)
            # Airflow 3.3.2's Test button sends port 0 for a connection without one (apache/airflow#73298)
            driver.find_element(By.NAME, "port").send_keys(sandbox_url.rsplit(":", 1)[1])
            driver.find_element(By.NAME, "password").send_keys(key)
            if inspect:
                driver.save_screenshot(str(shots / "connection-form.png"))
                button("Extra Fields").click()
                wait_text("Requests per hour")
                extras = body_text()
                from airflow_provider_braze.get_provider_info import CONN_FIELDS

                missing = [name for name, spec in CONN_FIELDS.items() if spec["description"] not in extras]
                check(not missing, f"connection form: extras with their help text (missing: {missing})")
                driver.save_screenshot(str(shots / "connection-form-extras.png"))
            button("Save").click()
            check(wait_text(conn_id), f"connection {conn_id} saved through the form")

        def press_test(conn_id: str, expected: str, what: str, shot: str) -> None:
            driver.execute_script(RECORD_RESPONSES)  # to quote the API server's answer if the test fails
            test_connection(driver, By, conn_id)
            ok = wait_text(expected, 30)
            driver.save_screenshot(str(shots / shot))
            answers = [a for a in driver.execute_script("return window.__answers || []") if "connections/test" in a]
            check(ok, f"Test button: {what}" + ("" if ok else f" (API server answered: {answers[-1:]})"))

        add_connection("braze_from_the_form", API_KEY, inspect=True)
        press_test(
            "braze_from_the_form", "Test Connection Successful", "success against the sandbox", "connection-test.png"
        )
        add_connection("braze_wrong_key", "not-the-sandbox-key", inspect=False)
        press_test(
            "braze_wrong_key",
            "Braze rejected the REST API key",
            "a wrong key gets the 401 advice",
            "connection-test-401.png",
        )
        check(API_KEY not in driver.page_source, "the API key is not in the connections page")

        # -- a sending task instance: the Braze extra link and the rendered template fields --
        driver.get(f"{base}{task_url}/details")
        wait_text("Extra Links")
        time.sleep(2)
        links = {
            a.text: a.get_attribute("href")
            for a in driver.find_elements(By.XPATH, "//a[contains(@href, '/engagement/')]")
        }
        driver.save_screenshot(str(shots / "task-extra-link.png"))
        check(dashboard_url in links.values(), f"task details: Braze extra link opens {dashboard_url} ({links})")
        driver.get(f"{base}{task_url}/rendered_templates")
        wait_text("campaign_id")
        time.sleep(2)
        rendered = body_text()
        driver.save_screenshot(str(shots / "task-rendered-templates.png"))
        check("campaign_id" in rendered and "braze_conn_id" in rendered, "rendered template fields shown")
        check(API_KEY not in driver.page_source, "rendered template fields: no API key")
    finally:
        driver.quit()


def test_connection(driver: Any, by: Any, conn_id: str) -> None:
    """Press the row's Test button for ``conn_id`` on the connections list."""
    row = driver.find_element(by.XPATH, f"//tr[contains(., '{conn_id}')]")
    buttons = row.find_elements(by.XPATH, ".//button")
    for candidate in buttons:
        label = (
            (candidate.get_attribute("aria-label") or "")
            + " "
            + (candidate.get_attribute("title") or "")
            + candidate.text
        )
        if "Test" in label:
            candidate.click()
            return
    raise AssertionError(f"no Test button in the row of {conn_id}: {[b.get_attribute('aria-label') for b in buttons]}")


def main(argv: list[str]) -> int:
    """``ui_check.py BASE SANDBOX_URL SHOTS TASK_URL DASHBOARD_URL``: one JSON line per check."""
    base, sandbox_url, shots, task_url, dashboard_url = argv

    def check(ok: bool, message: str) -> None:
        print("CHECK " + json.dumps({"ok": bool(ok), "message": message}), flush=True)  # noqa: T201 - the protocol

    try:
        run_ui_checks(base, sandbox_url, Path(shots), check, task_url, dashboard_url)
    except Exception as error:  # a UI that changed shape: report it as a failed check
        check(False, f"UI checks stopped: {type(error).__name__}: {str(error).splitlines()[0]}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
