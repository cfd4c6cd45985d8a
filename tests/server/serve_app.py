"""The test app run the way FastHTML users run it: `python serve_app.py` -> `serve()` (reload on)."""
import os
from pathlib import Path

from fasthtml.common import serve

from server.sse_app import app, hub  # noqa: F401  (serve() imports "serve_app:app")

serve(host="127.0.0.1", port=int(os.environ.get("PORT", "5001")),
      reload_dirs=[str(Path(__file__).parent)], log_level="warning")
