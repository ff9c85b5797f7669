"""The browser for the explore tests, and a plain line in pytest's summary saying whether the
browser tests ran (they need Debian's chromium and chromium-driver; .ci/run installs them)."""
import os

import pytest

from tests.explore.browser import Browser, find_browser
from tests.explore.pages import build

_RUN = {"why_not": find_browser(), "tests": 0, "seconds": 0.0}


@pytest.fixture(scope="session")
def browser():
    if _RUN["why_not"]:
        # CI must run them: there a missing browser is a failure, not a skip nobody reads
        if os.environ.get("CI") or os.environ.get("CONVSCOPE_REQUIRE_BROWSER"):
            pytest.fail(f"browser tests cannot run: {_RUN['why_not']}", pytrace=False)
        pytest.skip(f"browser tests skipped: {_RUN['why_not']}")
    b = Browser()
    yield b
    b.close()


@pytest.fixture(scope="session")
def pages(tmp_path_factory):
    """The test pages (tests/explore/pages.py), written once for every browser test."""
    return build(tmp_path_factory.mktemp("explore"))


_BROWSER_TESTS = set()


def pytest_collection_modifyitems(items):
    _BROWSER_TESTS.update(i.nodeid for i in items if "browser" in getattr(i, "fixturenames", ()))


def pytest_runtest_logreport(report):
    # setup, call and teardown: the suite time these tests add, pages and browser start included
    if report.nodeid in _BROWSER_TESTS and not report.skipped:
        _RUN["seconds"] += report.duration
        _RUN["tests"] += report.when == "call"


def pytest_terminal_summary(terminalreporter):
    if _RUN["why_not"]:
        terminalreporter.write_line(f"explore browser tests SKIPPED: {_RUN['why_not']}", yellow=True, bold=True)
    elif _RUN["tests"]:
        terminalreporter.write_line(f"explore browser tests: {_RUN['tests']} ran in headless chromium "
                                    f"({_RUN['seconds']:.1f} s)", green=True)
