"""The web app: a Streamlit page over the library (see :mod:`segmentkit.app.main`).

``segmentkit app`` starts it on localhost. The page only translates; nothing here computes
a result.
"""

from __future__ import annotations

import signal
import subprocess
from pathlib import Path

__all__ = ["SCRIPT", "STOP_TIMEOUT", "serve", "streamlit_command"]

#: Seconds the Streamlit server gets to stop by itself before it is killed.
STOP_TIMEOUT = 10.0

#: The Streamlit script.
SCRIPT = Path(__file__).with_name("main.py")


def streamlit_command(python: str, port: int, address: str = "127.0.0.1") -> list[str]:
    """The command that serves the app: headless, on ``address:port``, with no usage
    statistics sent anywhere."""
    return [python, "-m", "streamlit", "run", str(SCRIPT),
            "--server.headless", "true", "--server.address", address, "--server.port", str(port),
            "--browser.gatherUsageStats", "false", "--global.developmentMode", "false",
            "--client.toolbarMode", "minimal"]


def serve(python: str, port: int) -> int:
    """Serve the app until the server stops or this process is interrupted.

    An interrupt (SIGINT, Ctrl+C) or SIGTERM stops the server too: it is asked to stop
    (SIGTERM), and killed when it has not within :data:`STOP_TIMEOUT` seconds, so nothing
    is left serving on the port.

    Returns
    -------
    int
        The server's exit code; 0 when stopped by an interrupt.
    """
    server = subprocess.Popen(streamlit_command(python, port))

    def stop(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, stop)
    try:
        return server.wait()
    except KeyboardInterrupt:
        server.terminate()
        try:
            server.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        return 0
    finally:
        signal.signal(signal.SIGTERM, previous)
