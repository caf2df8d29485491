"""conftest.py — pytest fixtures shared by the end-to-end tests: `stage`, one
staged install tree per test file (a file may override it)."""
import pytest

from e2e.stage import Stage


@pytest.fixture(scope="module")
def stage():
    with Stage() as s:
        yield s
