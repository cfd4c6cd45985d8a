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


def test_eight_jobs_at_once_all_finish_and_say_so(page, start_example):
    """A browser opens at most 6 connections to a site: jobs whose streams stayed open after they
    finished kept the 7th and 8th from ever starting. Each finished job's stream now ends."""
    app = start_example("progress", STEP_SECONDS="0.05")
    page.goto(app.url + "/")
    for _ in range(8):
        page.click("button:has-text('Start a job')")
    for n in range(1, 9):
        wait_state(page, "finished", 20, f"job-{n}")
        assert page.evaluate(f"() => document.querySelector('#job-{n} .job-text').textContent") == \
            f"Done: {n} squared is {n * n}"
        assert page.evaluate(f"() => document.getElementById('sse-status-job-{n}').innerText.trim()") == "Finished"
    assert page.page_errors == []


def test_a_reload_mid_job_shows_the_running_job_which_then_finishes(page, start_example):
    app = start_example("progress", STEP_SECONDS="0.15")
    page.goto(app.url + "/")
    page.click("button:has-text('Start a job')")
    page.wait_for_function("() => +document.querySelector('#job-1 progress')?.value >= 20", timeout=5000)
    page.click("button:has-text('Start a job')")
    page.click("#job-2 button:has-text('Cancel')")
    wait_state(page, "finished", 5, "job-2")
    page.reload()
    assert 20 <= int(page.get_attribute("#job-1 progress", "value")) < 100, "the running job, where it stands"
    wait_state(page, "active", 5, "job-1")
    wait_state(page, "finished", 10, "job-1")
    assert page.evaluate("() => document.querySelector('#job-1 .job-text').textContent") == "Done: 1 squared is 1"
    assert page.evaluate("() => document.getElementById('sse-status-job-2').innerText.trim()") == "Cancelled"
    assert page.page_errors == []
