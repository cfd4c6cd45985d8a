"""The SSE element helpers render the right attributes for htmx 2 and htmx 4, and reject bad input."""
from html.parser import HTMLParser

import pytest
from fasthtml.common import to_xml

from sse_monitor import SSEElement, sse_connect_attrs


def test_htmx2_attributes_connect_and_swap_unnamed_messages():
    assert sse_connect_attrs("/events/feed") == {"hx-ext": "sse", "sse-connect": "/events/feed",
                                                "sse-swap": "message"}
    assert "sse-swap" not in sse_connect_attrs("/events/feed", htmx=2, swap=False)


def test_htmx4_attributes_work_with_either_meta_character():
    assert sse_connect_attrs("/events/feed?a=1", htmx=4) == {"hx-sse:connect": "/events/feed?a=1",
                                                            "hx-sse-connect": "/events/feed?a=1"}
    assert sse_connect_attrs("/e", htmx="4") == sse_connect_attrs("/e", htmx=4)


def attributes_of(html: str) -> dict[str, str]:
    found: dict[str, str] = {}

    class Parser(HTMLParser):
        def handle_starttag(self, tag, attrs):
            found.update(attrs)
    Parser().feed(html)
    return found


def test_sse_element_has_the_monitor_id_and_the_url_as_data():
    url = '/events/feed?x="1"&y=<2>\'z'
    attrs = attributes_of(to_xml(SSEElement("feed", url, htmx=4, hx_swap="beforeend")))
    assert attrs == {"id": "sse-element-feed", "hx-sse:connect": url, "hx-sse-connect": url, "hx-swap": "beforeend"}


@pytest.mark.parametrize("kwargs, name", [
    ({"url": "/e", "htmx": 3}, "htmx"), ({"url": "/e", "htmx": "four"}, "htmx"),
    ({"url": ""}, "url"), ({"url": "/e\nX-Evil: 1"}, "url"),
])
def test_bad_input_is_a_value_error_naming_the_argument(kwargs, name):
    with pytest.raises(ValueError, match=name):
        sse_connect_attrs(**kwargs)


def test_a_url_that_is_not_a_str_is_a_type_error():
    with pytest.raises(TypeError, match="url"):
        sse_connect_attrs(url=None)


def test_sse_element_rejects_an_unsafe_connection_id():
    with pytest.raises(ValueError):
        SSEElement('a"b', "/events/feed")
