"""Services called at the same moment from real threads, each with its own
database connection, released together by a barrier (the concurrency tests
of discussions, results and webinars)."""

import threading

from django.db import connection


def run_together(*jobs, timeout: float = 120):
    """Runs each job in its own thread, all released at once; returns what each
    returned or raised, in order. Each thread closes its connection when done."""
    barrier = threading.Barrier(len(jobs))
    outcomes = [None] * len(jobs)

    def run(index, job):
        try:
            barrier.wait(timeout=timeout)
            outcomes[index] = job()
        except BaseException as error:  # handed to the test to judge
            outcomes[index] = error
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i, job)) for i, job in enumerate(jobs)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout)
    assert not any(thread.is_alive() for thread in threads), "a job did not finish"
    return outcomes


def errors(outcomes) -> list[BaseException]:
    return [outcome for outcome in outcomes if isinstance(outcome, BaseException)]
