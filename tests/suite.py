"""Suite-wide hooks: say what happens while the test databases are built, tidy the test Redis."""

import pytest
from django.conf import settings

from tests.worker import QUEUES_USED, forget_queues

# Measured on a 2-core machine: 17 s when quiet, 3 minutes while other test suites ran.
BUILD_TIME = "about 20 s, minutes on a busy machine"
# The fixtures by which pytest-django decides that a test needs the database.
DATABASE_FIXTURES = {"db", "transactional_db", "live_server"}


def _database_notice(config: pytest.Config, workers: int | None) -> str:
    name = settings.DATABASES["default"]["TEST"]["NAME"]
    names = name if not workers else ", ".join(f"{name}_gw{n}" for n in range(workers))
    what = "test database" if not workers else f"test databases (one per worker, {workers})"
    if config.getoption("create_db") or not config.getoption("reuse_db"):
        return f"Building the {what} {names} from migrations ({BUILD_TIME}) ..."
    return f"Reusing the {what} {names}; a missing one is built from migrations ({BUILD_TIME}) ..."


def _say(config: pytest.Config, line: str) -> None:
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    if reporter is not None:
        reporter.write_line(line)


def pytest_collection_finish(session: pytest.Session) -> None:
    """Without xdist: one line before the first database test would sit silent."""
    config = session.config
    if config.option.collectonly or hasattr(config, "workerinput"):
        return
    if any(
        item.get_closest_marker("django_db") or DATABASE_FIXTURES & set(item.fixturenames)
        for item in session.items
    ):
        _say(config, _database_notice(config, workers=None))


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_node_collection_finished(node, ids) -> None:
    """With xdist: the controller says it once, when the first worker has collected."""
    config = node.config
    if getattr(config, "_p2p_database_notice_given", False) or config.option.collectonly:
        return
    config._p2p_database_notice_given = True
    _say(config, _database_notice(config, workers=config.option.numprocesses))


@pytest.fixture(scope="session", autouse=True)
def forget_worker_queues_in_redis():
    """The queues, bindings and unacknowledged messages of this run's Celery workers."""
    yield
    forget_queues(QUEUES_USED)
