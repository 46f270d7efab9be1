"""modesim.envs is a deprecated shim over modesim.paths and modesim.scenarios."""

import pytest

from modesim import paths, scenarios


def test_every_old_name_resolves_to_its_new_place_with_a_warning():
    import modesim.envs as envs

    for name, module in envs.MOVED.items():
        new = {"modesim.paths": paths, "modesim.scenarios": scenarios}[module]
        with pytest.warns(DeprecationWarning, match=rf"modesim.envs.{name} is deprecated.*use {module}.{name}"):
            assert getattr(envs, name) is getattr(new, name)


def test_the_readme_imports_still_work():
    with pytest.warns(DeprecationWarning, match="modesim.envs.sd_vs_rl is deprecated"):
        from modesim.envs import sd_vs_rl
    assert sd_vs_rl is scenarios.sd_vs_rl
    with pytest.raises(AttributeError, match="no attribute 'nothing'"):
        import modesim.envs as envs

        envs.nothing  # noqa: B018
