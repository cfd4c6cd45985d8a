"""examples/progress.py: a job's percent and result arrive live; Cancel stops it and says so."""
from browser.helpers import wait_state


def test_job_reports_progress_and_result_and_can_be_cancelled(page, start_example):
    app = start_example("progress", STEP_SECONDS="0.15")
    page.goto(app.url + "/")
    page.click("button:has-text('Start a job')")
    wait_state(page, "active", 5, "job-1")
    page.wait_for_function("() => +document.querySelector('#job-1 progress')?.value > 0", timeout=5000)
    page.wait_for_function(
        "() => document.querySelector('#job-1 .job-text')?.textContent === 'Done: 1 squared is 1'", timeout=10000)
    assert page.get_attribute("#job-1 progress", "value") == "100"

    page.click("button:has-text('Start a job')")
    page.wait_for_function("() => +document.querySelector('#job-2 progress')?.value >= 10", timeout=5000)
    page.click("#job-2 button:has-text('Cancel')")
    page.wait_for_function("() => document.querySelector('#job-2 .job-text')?.textContent === 'Cancelled'",
                           timeout=3000)
    page.wait_for_timeout(600)          # a cancelled job publishes nothing more
    assert page.evaluate("() => document.querySelector('#job-2 .job-text').textContent") == "Cancelled"
    assert page.evaluate("() => document.querySelector('#job-1 .job-text').textContent") == "Done: 1 squared is 1"
    assert page.page_errors == [] and page.cdn.missing == []
