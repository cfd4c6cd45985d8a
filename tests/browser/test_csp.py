"""The monitor under a strict Content-Security-Policy (no 'unsafe-inline', no 'unsafe-eval' for
scripts): served as a static asset, or inline with a nonce. Without the nonce the browser really
refuses the inline runtime, which shows the policy is enforced in these tests."""
import pytest

from browser.helpers import wait_state, wait_until

WATCH_VIOLATIONS = """window.__violations = [];
    document.addEventListener('securitypolicyviolation',
        e => window.__violations.push(e.violatedDirective + ' ' + e.blockedURI));"""


def violations(page) -> list[str]:
    return page.evaluate("() => window.__violations")


@pytest.mark.parametrize("mode", ["asset", "nonce"])
def test_monitor_works_under_a_strict_csp(page, scripted, mode):
    page.add_init_script(WATCH_VIOLATIONS)
    response = page.goto(scripted.page_url() + f"&csp={mode}")
    policy = response.headers["content-security-policy"]
    assert "unsafe-inline" not in policy.split("style-src")[0] and "unsafe-eval" not in policy
    wait_state(page, "active", 2)
    assert page.evaluate("() => typeof window.SSEMonitor") == "object"
    scripted.control("drop")
    page.wait_for_timeout(300)
    wait_state(page, "active", 3)
    scripted.control("close")
    wait_state(page, "disconnected", 3)   # how soon: test_control, by the page's clock
    assert violations(page) == []
    assert page.page_errors == []


def test_inline_runtime_without_the_nonce_is_refused(page, scripted):
    page.add_init_script(WATCH_VIOLATIONS)
    page.goto(scripted.page_url() + "&csp=nonce-missing")
    wait_until(page, "() => window.__violations.length > 0", 3)
    assert page.evaluate("() => typeof window.SSEMonitor") == "undefined"
    assert any(v.startswith("script-src") for v in violations(page)), violations(page)
