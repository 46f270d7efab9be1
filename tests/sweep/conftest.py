"""A two-worker Dask cluster shared by the tests that need one (started once, closed at the end)."""

import pytest


@pytest.fixture(scope="session")
def dask_client():
    import cloudpickle
    from distributed import Client, LocalCluster

    from . import support

    cloudpickle.register_pickle_by_value(support)  # workers need not import the tests
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster, \
            Client(cluster) as client:
        yield client
