"""The web app: a Streamlit page over the library (see :mod:`segmentkit.app.main`).

``segmentkit app`` starts it on localhost. The page only translates; nothing here computes
a result.
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["SCRIPT", "streamlit_command"]

#: The Streamlit script.
SCRIPT = Path(__file__).with_name("main.py")


def streamlit_command(python: str, port: int, address: str = "127.0.0.1") -> list[str]:
    """The command that serves the app: headless, on ``address:port``, with no usage
    statistics sent anywhere."""
    return [python, "-m", "streamlit", "run", str(SCRIPT),
            "--server.headless", "true", "--server.address", address, "--server.port", str(port),
            "--browser.gatherUsageStats", "false", "--global.developmentMode", "false",
            "--client.toolbarMode", "minimal"]
