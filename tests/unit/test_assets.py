"""`sse_headers()`: the pinned SSE extension with a correct SRI hash, the runtime and its CSS; the
local option serves exactly the documented files and names the `npm install` that provides them."""
import base64
import hashlib
import json
from pathlib import Path

import pytest
from fasthtml.common import to_xml
from fasthtml.core import htmx4src, htmx_exts, htmxsrc
from starlette.applications import Starlette
from starlette.testclient import TestClient

from sse_monitor import monitor_assets_route, sse_headers
from sse_monitor.browser.assets import CDN, CDN_EXTENSION, NPM_INSTALL

REPO = Path(__file__).resolve().parents[2]
NODE_MODULES = REPO / "node_modules"
# The npm folders (package.json) holding each CDN file's package at exactly the pinned version.
NPM_FOLDERS = {("htmx-ext-sse", "2.2.4"): "htmx-ext-sse", ("htmx.org", "4.0.0"): "htmx4-fasthtml-cdn"}


def sri(data: bytes) -> str:
    return "sha384-" + base64.b64encode(hashlib.sha384(data).digest()).decode()


@pytest.mark.parametrize("htmx", [2, 4])
def test_sri_hash_matches_the_npm_package_file(htmx):
    """A wrong hash makes the browser refuse the script: the page would never connect."""
    pinned = CDN_EXTENSION[htmx]
    folder = NODE_MODULES / NPM_FOLDERS[(pinned.package, pinned.version)]
    manifest = json.loads((folder / "package.json").read_text())
    assert (manifest["name"], manifest["version"]) == (pinned.package, pinned.version)
    assert pinned.integrity == sri((folder / pinned.path).read_bytes())


def test_cdn_is_fasthtmls_and_htmx4_extension_is_fasthtmls_own():
    assert to_xml(htmxsrc).count(CDN + "/htmx.org@2.")
    assert CDN_EXTENSION[4].url == htmx_exts["sse4"]
    assert f"htmx.org@{CDN_EXTENSION[4].version}/" in to_xml(htmx4src)   # same htmx 4 as the page's


def test_cdn_headers_carry_extension_with_integrity_runtime_and_css():
    html = "".join(to_xml(tag) for tag in sse_headers(nonce="n1"))
    assert f'src="{CDN_EXTENSION[2].url}"' in html
    assert f'integrity="{CDN_EXTENSION[2].integrity}"' in html and 'crossorigin="anonymous"' in html
    assert "window.SSEMonitor" in html and ".sse-monitor" in html
    assert html.count('nonce="n1"') == 3
    html4 = "".join(to_xml(tag) for tag in sse_headers(htmx=4))
    assert CDN_EXTENSION[4].url in html4 and CDN_EXTENSION[2].url not in html4


def test_bad_arguments_are_value_errors_naming_them():
    with pytest.raises(ValueError, match="htmx"):
        sse_headers(htmx=3)
    with pytest.raises(ValueError, match="prefix"):
        sse_headers(prefix="vendor")
    with pytest.raises(TypeError, match="assets"):
        sse_headers(assets=123)
    with pytest.raises(TypeError, match="prefix"):
        sse_headers(prefix=5)


def test_local_assets_are_served_from_an_npm_install():
    tags = "".join(to_xml(tag) for tag in sse_headers(assets=NODE_MODULES))
    app = Starlette(routes=[monitor_assets_route(assets=NODE_MODULES, htmx=2)])
    client = TestClient(app)
    for path in ("htmx.org/dist/htmx.min.js", "htmx-ext-sse/dist/sse.min.js"):
        assert f'src="/_sse_monitor/vendor/{path}"' in tags
        response = client.get(f"/_sse_monitor/vendor/{path}")
        assert response.status_code == 200 and response.content == (NODE_MODULES / path).read_bytes()
    assert "cdn.jsdelivr.net" not in tags and "/_sse_monitor/sse-monitor.js" in tags
    assert client.get("/_sse_monitor/sse-monitor.js").status_code == 200
    # Only the documented files: not the rest of node_modules.
    assert client.get("/_sse_monitor/vendor/htmx.org/package.json").status_code == 404
    assert client.get("/_sse_monitor/vendor/../package.json").status_code == 404


def test_local_htmx4_from_a_folder_laid_out_like_an_npm_install(tmp_path):
    (tmp_path / "node_modules").mkdir()
    (tmp_path / "node_modules" / "htmx.org").symlink_to(NODE_MODULES / "htmx4")   # `npm install htmx.org@4`
    tags = "".join(to_xml(tag) for tag in sse_headers(htmx=4, assets=tmp_path))
    assert '"/_sse_monitor/vendor/htmx.org/dist/ext/hx-sse.min.js"' in tags and "metaCharacter" in tags
    client = TestClient(Starlette(routes=[monitor_assets_route(assets=tmp_path)]))
    assert client.get("/_sse_monitor/vendor/htmx.org/dist/ext/hx-sse.min.js").status_code == 200


def test_missing_or_wrong_local_assets_name_the_npm_install(tmp_path):
    with pytest.raises(ValueError) as missing:
        sse_headers(assets=tmp_path)
    assert f"npm install --prefix {tmp_path} {NPM_INSTALL[2]}" in str(missing.value)
    assert NPM_INSTALL[2] == "htmx.org@2.0.11 htmx-ext-sse@2.2.4"
    with pytest.raises(ValueError) as wrong_major:
        sse_headers(htmx=4, assets=NODE_MODULES)      # this folder's htmx.org is htmx 2
    assert "htmx 2.0.11, not htmx 4" in str(wrong_major.value) and "htmx.org@4.0.1" in str(wrong_major.value)
    with pytest.raises(ValueError, match="npm install"):
        monitor_assets_route(assets=tmp_path)


def test_python_m_sse_monitor_demo_is_the_demo_command():
    """`python -m sse_monitor.demo` answers as `sse-monitor demo` does (its options, its errors)."""
    import subprocess
    import sys
    helped = subprocess.run([sys.executable, "-m", "sse_monitor.demo", "--help"], capture_output=True, text=True)
    assert helped.returncode == 0 and "--no-tab-sharing" in helped.stdout
    refused = subprocess.run([sys.executable, "-m", "sse_monitor.demo", "--workers", "2"],
                             capture_output=True, text=True)
    assert refused.returncode == 2 and "--redis" in refused.stderr
