"""CI has no CDN: answer the CDN URLs a FastHTML page loads from the npm packages in node_modules.

`https://cdn.jsdelivr.net/npm/<package>@<version>/<path>` is served from the node_modules folder
holding exactly that package and version (package.json pins them, with aliases such as
`htmx2-fasthtml-cdn`), byte for byte, so Subresource Integrity hashes are checked for real.
A package asked `@latest` (FastHTML's Pico CSS) is served from the one version package.json pins,
so pages are seen with the real default styles. FastHTML's default headers also load three small
scripts straight from GitHub (fasthtml-js, surreal, css-scope-inline), which are not npm packages:
they get an empty script, listed in `stubbed` (the live-update machinery needs none of them).
Anything else is aborted and listed in `missing`.
"""
from __future__ import annotations

import json
import re

from support.servers import REPO_DIR

NPM_URL = re.compile(r"^https://cdn\.jsdelivr\.net/npm/((?:@[^/]+/)?[^@/]+)@([^/]+)/(.+)$")
GITHUB_URL = re.compile(r"^https://cdn\.jsdelivr\.net/gh/")


def npm_index() -> dict[tuple[str, str], object]:
    """(package name, version) -> its folder in node_modules; (name, "latest") too when only one
    version of the package is there."""
    index: dict[tuple[str, str], object] = {}
    versions: dict[str, list] = {}
    for manifest in (REPO_DIR / "node_modules").glob("*/package.json"):
        data = json.loads(manifest.read_text())
        index[(data.get("name"), data.get("version"))] = manifest.parent
        versions.setdefault(data.get("name"), []).append(manifest.parent)
    for name, folders in versions.items():
        if len(folders) == 1:
            index[(name, "latest")] = folders[0]
    return index


class CdnFromNodeModules:
    def __init__(self, page) -> None:
        self.index = npm_index()
        self.served: list[str] = []
        self.stubbed: list[str] = []
        self.missing: list[str] = []
        page.route("https://**/*", self.handle)

    def handle(self, route) -> None:
        url = route.request.url
        match = NPM_URL.match(url.split("?")[0])
        folder = self.index.get((match.group(1), match.group(2))) if match else None
        if folder is not None and (folder / match.group(3)).is_file():
            self.served.append(url)
            kind = "text/css" if match.group(3).endswith(".css") else "text/javascript"
            route.fulfill(status=200, body=(folder / match.group(3)).read_bytes(),
                          headers={"Content-Type": f"{kind}; charset=utf-8", "Access-Control-Allow-Origin": "*"})
        elif GITHUB_URL.match(url):
            self.stubbed.append(url)
            route.fulfill(status=200, body=b"/* stubbed in the test */", headers={
                "Content-Type": "text/css" if url.endswith(".css") else "text/javascript",
                "Access-Control-Allow-Origin": "*"})
        else:
            self.missing.append(url)
            route.abort()
