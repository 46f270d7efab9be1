"""A two-worker Dask cluster shared by the tests that need one (started once, closed at the end)."""

import pytest


@pytest.fixture(scope="session")
def dask_client():
    import cloudpickle

    from modesim.sweeps.executor import cluster

    from . import support

    cloudpickle.register_pickle_by_value(support)  # workers need not import the tests
    with cluster(workers=2) as client:  # the command line's --workers 2
        yield client
