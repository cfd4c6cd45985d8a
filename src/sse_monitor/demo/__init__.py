"""The demo dashboard behind `sse-monitor demo`: live channels, the monitor, and buttons that break things."""
from .app import create_app

__all__ = ["create_app"]
