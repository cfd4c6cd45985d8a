"""examples/dashboard.py: three channels on one page, each Live with its own indicator and data."""
from browser.helpers import wait_state

CHANNELS = ("orders", "load", "alerts")


def test_every_panel_is_live_and_updates(page, start_example):
    app = start_example("dashboard")
    page.goto(app.url + "/")
    for channel in CHANNELS:
        wait_state(page, "active", 5, channel)
    page.wait_for_function("() => document.querySelectorAll('#orders-data li').length >= 2", timeout=5000)
    page.wait_for_function("() => document.querySelector('#load-data .value')", timeout=3000)
    page.wait_for_function("() => document.querySelectorAll('#alerts-data li').length >= 1", timeout=6000)
    orders = page.evaluate("() => [...document.querySelectorAll('#orders-data li')].map(li => li.textContent)")
    numbers = [int(text.split()[0][1:]) for text in orders]               # newest first, no gap
    assert numbers == list(range(numbers[0], numbers[0] - len(numbers), -1))
    assert page.evaluate("() => document.querySelectorAll('#load-data .value').length") == 1   # replaced
    assert page.page_errors == [] and page.cdn.missing == []
