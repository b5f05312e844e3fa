"""Run writes on another connection while a rollup rebuild runs, for the tests that a rebuild
beside live writes stays exact."""

from __future__ import annotations

import threading
from collections.abc import Callable

from django.db import connection


def rebuild_beside(write: Callable[[], None], rebuild: Callable[[], object], rounds: int = 3):
    """`write` in a thread on its own connection while `rebuild` runs `rounds` times; returns
    the errors the thread raised."""
    errors: list[BaseException] = []

    def run():
        try:
            write()
        except Exception as error:  # noqa: BLE001 - returned to the test
            errors.append(error)
        finally:
            connection.close()

    writer = threading.Thread(target=run)
    writer.start()
    for _round in range(rounds):
        rebuild()
    writer.join()
    return errors
