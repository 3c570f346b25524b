"""numpy's huge-page advice is off within a run's block and as before after it."""

from __future__ import annotations

import pytest

from segmentkit import pages
from segmentkit.pages import plain_pages


def test_plain_pages_switches_the_advice_off_and_restores_it():
    switch = pages._switch()
    if switch is None:
        pytest.skip("this numpy has no huge-page switch")
    before = switch(True)  # the switch answers the setting it replaces
    try:
        with plain_pages():
            assert switch(False) is False  # off inside the block
        assert switch(True) is True  # on again after it
        with pytest.raises(RuntimeError), plain_pages():
            raise RuntimeError("a run that fails")
        assert switch(True) is True  # restored after a failure too
        switch(False)
        with plain_pages():
            pass
        assert switch(False) is False  # a setting of off stays off
    finally:
        switch(before)
