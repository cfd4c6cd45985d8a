"""examples/chat.py: switching rooms keeps the status indicator, shows only the new room's messages
live, and loses nothing sent to a room while the page was elsewhere."""
from urllib.parse import urlencode
from urllib.request import urlopen

from browser.helpers import wait_state, wait_until


def say(app, room: str, text: str) -> None:
    """Another user sends a message (a plain form POST, as their browser would)."""
    with urlopen(f"{app.url}/rooms/{room}", data=urlencode({"text": text}).encode(), timeout=5) as response:
        assert response.status == 200


def messages(page) -> list[str]:
    return page.evaluate("() => [...document.querySelectorAll('#messages li')].map(li => li.textContent)")


def wait_message(page, text: str, timeout: float = 3000) -> None:
    page.wait_for_function("text => [...document.querySelectorAll('#messages li')].some(li => li.textContent === text)",
                           arg=text, timeout=timeout)


def switch_room(page, room: str) -> None:
    page.click(f"nav button:has-text('{room}')")
    page.wait_for_function("room => document.getElementById('room').dataset.room === room", arg=room, timeout=3000)


def visit_random(page, app, meanwhile_in_general: str) -> None:
    """Switch to #random; another user writes to #general and to #random; wait for the latter."""
    switch_room(page, "random")
    wait_state(page, "active", 5, "chat")
    say(app, "general", meanwhile_in_general)
    say(app, "random", "hello random")
    wait_message(page, "hello random")


def test_switching_rooms_keeps_the_status_and_shows_only_the_new_room(page, start_example):
    app = start_example("chat")
    page.goto(app.url + "/")
    wait_state(page, "active", 5, "chat")
    page.evaluate("() => { window.__status = document.getElementById('sse-status-chat'); }")
    page.fill("input[name=text]", "hi general")
    page.click("button:has-text('Send')")
    wait_message(page, "hi general")
    wait_until(page, "() => document.querySelector('input[name=text]').value === ''", 3, what="the box emptied")

    visit_random(page, app, "not for random")
    page.wait_for_timeout(500)
    assert messages(page) == ["hello random"]          # nothing from the other room
    assert page.evaluate("() => window.__status === document.getElementById('sse-status-chat')")
    assert page.page_errors == [] and page.cdn.missing == []


def test_coming_back_to_a_room_shows_each_message_once(page, start_example):
    app = start_example("chat")
    page.goto(app.url + "/")
    wait_state(page, "active", 5, "chat")
    say(app, "general", "hi general")
    wait_message(page, "hi general")

    visit_random(page, app, "sent to general while you were in random")

    switch_room(page, "general")
    wait_state(page, "active", 5, "chat")
    say(app, "general", "live in general again")
    wait_message(page, "live in general again")
    page.wait_for_timeout(500)
    assert messages(page) == ["hi general", "sent to general while you were in random", "live in general again"]
    assert page.page_errors == []
