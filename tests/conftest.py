"""Shared fixtures: demo data written to disk once per session."""

from __future__ import annotations

import pytest

from segmentkit.datasets import make_demo, write_demo


@pytest.fixture(scope="session")
def demo_files(tmp_path_factory):
    """Demo CRM (seed 0, 3,000 customers) as CSV files, with its planted truth."""
    data = make_demo(3000, seed=0)
    paths = write_demo(tmp_path_factory.mktemp("demo"), data)
    return data, paths
