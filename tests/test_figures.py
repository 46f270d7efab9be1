"""The paper figures: each builds, is deterministic and shows what its caption claims."""

from __future__ import annotations

import io

import numpy as np
import pytest
from matplotlib.figure import Figure

import modesim as ms
from modesim.cli import main
from modesim.figures import FIGURES, FigureResult, build_figure, save_figures


@pytest.fixture(scope="module")
def quick():
    """Every registered figure, built once at small size."""
    return {name: build_figure(name, quick=True) for name in FIGURES}


@pytest.mark.parametrize("name", list(FIGURES))
def test_figure_builds_with_data(quick, name):
    result = quick[name]
    assert isinstance(result, FigureResult) and isinstance(result.figure, Figure)
    assert result.figure.axes
    assert result.data and all(isinstance(v, np.ndarray) for v in result.data.values())
    assert FIGURES[name].description.endswith(".")
    buf = io.BytesIO()
    result.figure.savefig(buf, format="png")  # drawing raises no error and no warning
    assert buf.getvalue()[:4] == b"\x89PNG"


@pytest.mark.parametrize("name", list(FIGURES))
def test_two_builds_give_identical_data(quick, name):
    again = build_figure(name, quick=True).data
    assert again.keys() == quick[name].data.keys()
    for key, value in quick[name].data.items():
        np.testing.assert_array_equal(again[key], value, err_msg=key)


def test_mode_probabilities_rl_keeps_ratios_sd_concentrates(quick):
    d = quick["mode_probabilities"].data
    valid = np.array([1, 1, 1, 0], bool)
    base_c = ms.conditional(d["rl"][0], valid)
    np.testing.assert_allclose(ms.conditional(d["rl"], valid), np.broadcast_to(base_c, d["rl"].shape), atol=1e-12)
    assert np.all(np.diff(d["sd"][:, 0]) > 0)  # the favourite answer gains every round
    assert np.all(np.diff(d["sd_effective_modes"]) < 0)
    np.testing.assert_allclose(d["rl_effective_modes"], d["rl_effective_modes"][0])


def test_phase_portraits_fixed_points_and_flows(quick):
    d = quick["phase_portraits"].data
    centre = np.full(3, 1 / 3)

    def kind_at(key, point):
        i = np.argmin(np.abs(d[f"{key}_fixed_points"] - point).sum(-1))
        assert np.abs(d[f"{key}_fixed_points"][i] - point).sum() < 1e-6
        return d[f"{key}_stability"][i]

    # Copy teacher: unstable interior fixed point, stable vertices (S6).
    assert kind_at("sd_copy", centre) == "unstable"
    assert all(kind_at("sd_copy", v) == "stable" for v in np.eye(3))
    # Anti-copying teacher: the reverse (S5).
    assert kind_at("sd_anti", centre) == "stable"
    assert all(kind_at("sd_anti", v) == "unstable" for v in np.eye(3))
    # Natural PG never moves π(·|C) (R3); softmax PG moves it toward the richer answer (R4).
    assert np.nanmax(np.abs(d["npg_velocity"])) < 1e-12
    np.testing.assert_allclose(d["npg_trajectories"], np.broadcast_to(d["npg_trajectories"][:, :1], d["npg_trajectories"].shape), atol=1e-12)
    start, end = d["softmax_pg_trajectories"][3][[0, -1]]  # starts at (0.5, 0.3, 0.2)
    assert end[0] > start[0] and end[2] < start[2]
    # SD copy trajectories that start off-centre end near the vertex of their favourite.
    for path in d["sd_copy_trajectories"][3:]:
        assert np.argmax(path[-1]) == np.argmax(path[0]) and path[-1].max() > path[0].max()


def test_pass_at_k_sd_flattens_out_of_distribution(quick):
    d = quick["pass_at_k"].data
    i16 = int(np.flatnonzero(d["k"] == 16)[0])
    assert d["SD_ood"][i16] < d["RL_ood"][i16]
    assert d["SD_ood"][i16] < d["base_ood"][i16]
    assert d["SD_in"][0] > d["base_in"][0] and d["RL_in"][0] > d["base_in"][0]
    for key in ("base_in", "RL_in", "SD_in", "base_ood", "RL_ood", "SD_ood"):
        assert np.all(np.diff(d[key]) >= -1e-15) and np.all(d[key] <= 1.0)


def test_amplification_exceeds_one_grows_with_alpha_shrinks_with_beta(quick):
    d = quick["amplification"].data
    assert d["by_beta"].shape == (d["beta"].size, d["alpha"].size)
    assert d["by_skew"].shape == (d["skew"].size, d["alpha"].size)
    for grid in (d["by_beta"], d["by_skew"]):
        assert np.all(grid > 1.0)
        assert np.all(np.diff(grid, axis=1) > 0)
    assert np.all(np.diff(d["by_beta"], axis=0) < 0)


def test_stability_numeric_jacobian_matches_s8(quick):
    d = quick["stability"].data
    assert float(d["max_abs_error"]) < 1e-5
    for key in [k for k in d if k.startswith("closed_")]:
        assert np.all(d[key] > 1.0)
    i = int(np.argmin(np.abs(d["alpha_numeric"] - 0.5)))
    np.testing.assert_allclose(d["numeric_K3"][i], 1 + (np.log(4) - 0.75) / 3, atol=1e-5)  # MATH S8


def test_ablations_show_collapse_and_its_limits(quick):
    d = quick["ablations"].data
    rl = d["RL"]
    np.testing.assert_allclose(rl, rl[0])
    for m in (1, 3, 8):
        assert np.all(np.diff(d[f"demos_m{m}"]) < 0) and d[f"demos_m{m}"][-1] < rl[-1]
    assert d["demos_m1"][-1] < d["demos_m3"][-1] < d["demos_m8"][-1]
    assert np.all(np.diff(d["source_uniform"]) > 0)  # uniform demos flatten π(·|C)
    assert np.all(d["beta_ref_base"] >= d["beta_ref_current"] - 1e-12)
    assert np.all(np.diff(d["beta_ref_base"]) > 0)


def test_save_figures_writes_requested_formats(tmp_path):
    paths = save_figures(tmp_path, only=["stability"], formats=["png", "pdf"], quick=True,
                         progress=False)
    assert sorted(p.name for p in paths) == ["stability.pdf", "stability.png"]
    assert all(p.stat().st_size > 0 for p in paths)
    with pytest.raises(ValueError, match="unknown figure"):
        save_figures(tmp_path, only=["nope"], progress=False)
    with pytest.raises(ValueError, match="formats"):
        save_figures(tmp_path, only=["stability"], formats=["jpg"], progress=False)


def test_build_figure_rejects_unknown_names():
    with pytest.raises(ValueError, match="registered figures"):
        build_figure("nope")


def test_cli_lists_and_builds_figures(tmp_path, capsys):
    assert main(["figures", "--list"]) == 0
    listed = capsys.readouterr().out
    assert all(name in listed for name in FIGURES)
    out = tmp_path / "figs"
    assert main(["figures", "--only", "pass_at_k", "--quick", "--no-progress", "--out", str(out),
                 "--format", "png,pdf"]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["pass_at_k.pdf", "pass_at_k.png"]
    assert main(["figures", "--only", "nope", "--no-progress", "--out", str(out)]) == 2
    assert "unknown figure" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exc:
        main(["figures", "--help"])
    assert exc.value.code == 0
    assert "--only" in capsys.readouterr().out


def test_ablation_diversity_bonus_keeps_grpo_diverse(quick):
    d = quick["ablations"].data
    bonus, grpo, sd = d["sampled_grpo_bonus"], d["sampled_grpo"], d["sampled_sd"]
    assert bonus[-1] > grpo[-1] > sd[-1]
    assert bonus[-1] > d["RL"][0]  # the bonus pushes past the base's ratios toward uniform
    assert sd[-1] < 0.6 * sd[0]


def test_paths_sd_collapses_to_one_path_and_fails_on_the_harder_graph(quick):
    d = quick["paths"].data
    assert d["SD_distinct_paths"][-1] < d["SD_distinct_paths"][0] < d["RL_distinct_paths"][-1]
    assert np.all(np.diff(d["RL_distinct_paths"]) > 0)
    assert d["SD_distinct_concepts"][-1] < d["RL_distinct_concepts"][-1]
    i16 = int(np.flatnonzero(d["k"] == 16)[0])
    assert d["SD_harder"][i16] < 0.1 < 0.9 < d["RL_harder"][i16]
    assert d["SD_in"][0] > 0.9 and d["RL_in"][0] > 0.9
    # Token entropy keeps more of its starting value than the number of strategies does.
    tok, strat = d["synonym_token_entropy"], d["synonym_distinct_strategies"]
    assert tok[-1] / tok[0] > strat[-1] / strat[0]


def test_training_sd_fixes_more_often_and_loses_more_diversity_than_grpo(quick):
    d = quick["training"].data
    assert d["SD_effective_modes"][-1] < d["GRPO_effective_modes"][-1] < d["GRPO_effective_modes"][0]
    assert d["SD_fixation"].sum() > d["GRPO_fixation"].sum()
    assert d["SD_fixation"][3] == 0.0  # never on the wrong answer
    assert d["SD_fan_bands"].shape == (d["levels"].size, d["steps"].size)
    # The mean field starts where every run starts and stays inside the outer band at the end.
    assert d["SD_mean_field"][0] == pytest.approx(d["SD_fan_mean"][0], rel=1e-14)
    assert d["SD_fan_bands"][0, -1] <= d["SD_mean_field"][-1] <= d["SD_fan_bands"][-1, -1] + 1e-12
