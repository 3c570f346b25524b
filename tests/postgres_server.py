"""A throwaway PostgreSQL server for the SQL tests: Debian's binaries, a temporary cluster.

The server listens on 127.0.0.1 at a free port with ``trust`` authentication and is stopped
(and its folder removed) when the test session ends. PostgreSQL refuses to run as root, so
as root the cluster belongs to the ``postgres`` user that Debian's package creates.
Missing binaries fail the tests (never a silent skip) unless ``SEGMENTKIT_SKIP_POSTGRES=1``.
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import pytest


def _bindir() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(p.split("/")[4]))
    if found:
        return Path(found[-1]).parent
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def postgres_server() -> Iterator[str]:
    """Start a PostgreSQL server; yield its URL (user ``segmentkit``, database ``postgres``)."""
    if os.environ.get("SEGMENTKIT_SKIP_POSTGRES") == "1":
        pytest.skip("SEGMENTKIT_SKIP_POSTGRES=1")
    bindir = _bindir()
    if bindir is None:
        pytest.fail("PostgreSQL's initdb is missing: `apt-get install postgresql` "
                    "(or set SEGMENTKIT_SKIP_POSTGRES=1 to skip the SQL tests)")
    root = Path(tempfile.mkdtemp(prefix="segmentkit-pg-"))
    prefix: list[str] = []
    if os.geteuid() == 0:
        shutil.chown(root, "postgres")
        prefix = ["runuser", "-u", "postgres", "--"]
    root.chmod(0o700)
    data, port = root / "data", _free_port()

    def run(*args: str) -> None:
        subprocess.run(prefix + list(args), check=True, capture_output=True, text=True, timeout=120)

    run(str(bindir / "initdb"), "-D", str(data), "-A", "trust", "-U", "segmentkit", "-E", "UTF8", "--no-sync")
    run(str(bindir / "pg_ctl"), "-D", str(data), "-l", str(root / "server.log"), "-w", "-t", "60",
        "-o", f"-p {port} -k {root} -c listen_addresses=127.0.0.1 -c fsync=off", "start")
    try:
        yield f"postgresql://segmentkit@127.0.0.1:{port}/postgres"
    finally:
        run(str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop")
        shutil.rmtree(root, ignore_errors=True)
