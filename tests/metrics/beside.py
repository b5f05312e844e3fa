"""Work on another connection beside the test's: writes while a rollup rebuild runs (a rebuild
beside live writes stays exact), and two transactions at once."""

from __future__ import annotations

import threading
from collections.abc import Callable

from django.db import connection


def in_thread(work: Callable[[], object]) -> tuple[threading.Thread, list[BaseException]]:
    """Start `work` in a thread on its own connection (waiting at most 20 s for a lock);
    returns the thread and the list of the errors it raised."""
    errors: list[BaseException] = []

    def run():
        try:
            with connection.cursor() as cursor:
                cursor.execute("SET lock_timeout = '20s'")
            work()
        except BaseException as error:  # noqa: BLE001 - reported by the test
            errors.append(error)
        finally:
            connection.close()

    thread = threading.Thread(target=run)
    thread.start()
    return thread, errors


def rebuild_beside(write: Callable[[], None], rebuild: Callable[[], object], rounds: int = 3):
    """`write` in a thread on its own connection while `rebuild` runs `rounds` times; returns
    the errors the thread raised."""
    writer, errors = in_thread(write)
    for _round in range(rounds):
        rebuild()
    writer.join()
    return errors
