"""Running the chunks of a sweep: in this process, or as Dask tasks on a ``dask.distributed`` cluster.

Both executors call the same pure function ``run(plan, i)`` for every pending chunk ``i``
and hand each result to ``sink(i, result)`` in the calling process as soon as it is
ready.  Where a result lands is decided by its chunk index alone, so the assembled
dataset does not depend on the order in which chunks finish or on the number of workers.

- :func:`run_local`: a loop in the calling process (the default; no set-up).
- :func:`run_dask`: ``client.scatter`` sends the plan (rule, task, grid) to every worker
  once, ``client.submit`` makes one task per chunk, and results are gathered with
  ``as_completed``; an error in any chunk cancels the rest and is raised here.
- :func:`cluster`: a context manager for the command line's ``--scheduler ADDRESS``
  (connect to a running scheduler) or ``--workers N`` (a :class:`distributed.LocalCluster`
  of N single-threaded worker processes).

**Worker environment.**  Dask starts workers with ``MALLOC_TRIM_THRESHOLD_=65536`` (to hand
memory back to the system), which makes glibc map and unmap every large temporary: the
numpy-heavy rounds of a sweep then run about 1.4× slower than in a plain process (measured
on a finite-sample rule with 2,000 seeds).  :func:`cluster` starts its workers without it;
for a cluster of your own set the Dask configuration
``distributed.nanny.pre-spawn-environ.MALLOC_TRIM_THRESHOLD_`` to ``null`` before starting
the workers.
"""

from __future__ import annotations

import contextlib

from .. import _checks as chk

__all__ = ["run_local", "run_dask", "check_client", "cluster"]


def check_client(client):
    """``client`` if it can run Dask tasks (``submit``, ``scatter``), else a ValueError."""
    if client is None:
        return None
    if not all(callable(getattr(client, m, None)) for m in ("submit", "scatter")):
        raise ValueError(
            f"client must be a dask.distributed.Client (or None to run in this process); got {chk.describe(client)}"
        )
    return client


def run_local(run, plan, pending, sink, bar) -> None:
    """Run the ``pending`` chunks one after the other in this process."""
    for i in pending:
        sink(i, run(plan, i))
        bar.update(1)


def run_dask(run, plan, pending, sink, bar, client) -> None:
    """Run the ``pending`` chunks as Dask tasks on ``client``'s cluster."""
    from distributed import as_completed

    if not pending:
        return
    shared = client.scatter(plan, broadcast=True, hash=False)
    futures = {client.submit(run, shared, i, pure=False): i for i in pending}
    try:
        for future in as_completed(futures):
            result = future.result()
            sink(futures[future], result)
            future.release()
            bar.update(1)
    except BaseException:
        client.cancel(list(futures))
        raise
    finally:
        client.cancel([shared])


@contextlib.contextmanager
def cluster(scheduler: str | None = None, workers: int | None = None):
    """A Dask client for ``scheduler`` (an address) or a new local cluster of ``workers``
    single-threaded processes; None when neither is given (run in this process)."""
    if scheduler is None and workers is None:
        yield None
        return
    from distributed import Client, LocalCluster

    if scheduler is not None:
        with Client(scheduler) as client:
            yield client
        return
    import dask

    workers = chk.integer(workers, "workers", low=1)
    with dask.config.set({"distributed.nanny.pre-spawn-environ.MALLOC_TRIM_THRESHOLD_": None}):
        # No dashboard, and the scheduler's HTTP routes on a free port: the default 8787 is taken
        # whenever another cluster runs (a notebook's), which would warn on every sweep.
        lc = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None,
                          scheduler_kwargs={"dashboard_address": ":0"})
    with lc, Client(lc) as client:
        yield client
