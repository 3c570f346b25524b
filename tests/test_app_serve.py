"""``segmentkit app`` as a real process: interrupted, it leaves nothing serving."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from segmentkit.app import STOP_TIMEOUT
from test_app_browser import _free_port

#: starts a Streamlit server
pytestmark = pytest.mark.integration

#: Seconds past the server's STOP_TIMEOUT (after which it is killed) that the app's own
#: process may take to exit.
EXIT_MARGIN = 5.0

#: ``python -m segmentkit.cli`` as a terminal starts it. Python stops on SIGINT only when
#: the SIGINT it inherits is not ignored, and a job started in the background (``nohup``,
#: ``&`` in a script, as CI may run the tests) inherits it ignored: then Ctrl+C would not
#: reach it from a terminal either, and this test would wait for nothing.
_AS_IN_A_TERMINAL = ("import runpy, signal; signal.signal(signal.SIGINT, signal.default_int_handler); "
                     "runpy.run_module('segmentkit.cli', run_name='__main__', alter_sys=True)")


def _children(pid: int) -> list[int]:
    return [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def _port_free(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) != 0


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_an_interrupt_stops_the_server_too(tmp_path, signum):
    port = _free_port()
    log = (tmp_path / "app.log").open("w")
    env = {**os.environ, "STREAMLIT_SERVER_FILE_WATCHER_TYPE": "none"}
    # its own process group: the signal reaches the `segmentkit app` process only, as `kill` sends it
    parent = subprocess.Popen([sys.executable, "-c", _AS_IN_A_TERMINAL, "app", "--port", str(port)],
                              stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=2).status == 200:
                    break
            except OSError:
                pass
            assert parent.poll() is None and time.monotonic() < deadline, "the app did not start"
            time.sleep(0.3)
        (child,) = _children(parent.pid)
        parent.send_signal(signum)
        try:
            code = parent.wait(timeout=STOP_TIMEOUT + EXIT_MARGIN)
        except subprocess.TimeoutExpired:
            log.flush()
            pytest.fail(f"still running {STOP_TIMEOUT + EXIT_MARGIN:.0f} s after the signal (server alive: "
                        f"{_alive(child)}); its log ends:\n{(tmp_path / 'app.log').read_text()[-2000:]}")
        assert code == 0
        deadline = time.monotonic() + 5
        while (_alive(child) or not _port_free(port)) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not _alive(child) and _port_free(port)
    finally:
        if parent.poll() is None:
            os.killpg(parent.pid, signal.SIGKILL)
            parent.wait()  # reaped here, not reported as still running by a later test
        log.close()
