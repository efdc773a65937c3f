"""The console in a real browser: one local stack per test process (what `make up`
runs, started by tests/e2e's start_stack), the console behind its IAP stand-in, and a
fresh headless Chromium for each test.

Run by `make test` only (`make test-fast` names its paths and leaves these out). Under
`--dist loadfile` each worker that is given a browser file starts the stack once."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from tests.browser.console import ROOT, ConsoleDriver, missing, new_driver
from tests.e2e.conftest import LocalStack, start_stack, stop_stack

FAILURES = ROOT / "build" / "browser-failures"


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "browser: drives the console in headless Chromium (tests/browser; make test)"
    )


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    for item in items:
        if here in Path(str(item.path)).parents:
            item.add_marker(pytest.mark.browser)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    report = yield
    # The browser fixture's teardown keeps a failed test's page for the reader.
    setattr(item, f"report_{report.when}", report)
    return report


def _cannot_run() -> None:
    reason = missing()
    if reason is None:
        return
    # On CI `make install` has run: a missing browser is a broken install, not a skip.
    if os.environ.get("CI"):
        pytest.fail(reason)
    pytest.skip(reason)


@pytest.fixture(scope="session")
def console_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    _cannot_run()
    instance = start_stack(tmp_path_factory.mktemp("console-stack"))
    yield instance
    stop_stack(instance)


@pytest.fixture(scope="session")
def console_url(console_stack: LocalStack) -> str:
    url = console_stack.env.get("ASSAY_CONSOLE_URL")
    if not url:
        pytest.skip("the local stack serves no console yet (no ASSAY_CONSOLE_URL in stack.env)")
    return url


@contextmanager
def stack_repos(stack: LocalStack) -> Iterator[Any]:
    """The stack's repositories, for a test's data. The environment is the stack's only
    meanwhile: a worker may also hold tests/e2e's stack, whose tests rely on their own."""
    from shared import wiring

    saved = dict(os.environ)
    os.environ.update(stack.env)
    wiring.reset()
    try:
        yield wiring.repositories()
    finally:
        os.environ.clear()
        os.environ.update(saved)
        wiring.reset()


@pytest.fixture
def console_repos(console_stack: LocalStack) -> Iterator[Any]:
    with stack_repos(console_stack) as repos:
        yield repos


@pytest.fixture
def browser(request: pytest.FixtureRequest, console_url: str) -> Iterator[ConsoleDriver]:
    driver = new_driver(console_url)
    yield driver
    try:
        failed = getattr(request.node, "report_call", None)
        if failed is not None and failed.failed:
            _keep_failure(driver, request.node.name)
    finally:
        driver.quit()


def _keep_failure(driver: ConsoleDriver, name: str) -> None:
    FAILURES.mkdir(parents=True, exist_ok=True)
    driver.save_screenshot(str(FAILURES / f"{name}.png"))
    (FAILURES / f"{name}.html").write_text(driver.page_source)
