"""A two-worker Dask cluster shared by the tests that need one (started once, closed at the end).

It is started while port 8787 (Dask's default HTTP port) is held by this process, as it is
when a notebook's cluster runs: the suite turns warnings into errors, so a cluster that tried
8787 would fail here ("Port 8787 is already in use").
"""

import socket

import pytest


@pytest.fixture(scope="session")
def dask_client():
    import cloudpickle

    from modesim.sweeps.executor import cluster

    from . import support

    cloudpickle.register_pickle_by_value(support)  # workers need not import the tests
    holder = socket.socket()
    try:
        holder.bind(("0.0.0.0", 8787))
        holder.listen()
    except OSError:  # already taken by someone else: the condition holds anyway
        pass
    try:
        with cluster(workers=2) as client:  # the command line's --workers 2
            yield client
    finally:
        holder.close()
