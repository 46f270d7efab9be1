"""Figure ``stability``: the S8 eigenvalue at the uniform point, closed form against numerics."""

from __future__ import annotations

import numpy as np

from .. import plot as mp
from ..stability import map_jacobian
from ..task import zipf_task
from ..teachers import CopyTeacher
from ..theorems.formulas import s8_eigenvalue
from ._common import sd
from ._registry import FigureResult, register


def _numeric_eigenvalues(alphas, K, beta=0.0):
    """Eigenvalues of :func:`modesim.map_jacobian` at the uniform point, shape (A, K − 1).

    S8's map uses the current policy as teacher base, demonstration source *and* KL
    reference (theory §3.5); with the frozen base as reference the uniform point is a
    different map's fixed point (stable for large enough β).
    """
    task = zipf_task(K, 0.0)
    return np.array([
        np.sort(np.linalg.eigvals(map_jacobian(
            sd(teacher=CopyTeacher(a), beta=beta, reference="current"), task, np.full(K, 1.0 / K)
        )).real)
        for a in alphas
    ])


@register("stability", "Eigenvalue of the compounding self-distillation map at the uniform "
          "point against copy strength α (closed form S8, lines; numerical tangent-space "
          "Jacobian, hollow markers): above 1 for every α, so uniform diversity is unstable.",
          width="single")
def stability(*, quick: bool, width: str) -> FigureResult:
    """Theory S8's eigenvalue at the uniform point against :func:`modesim.map_jacobian`
    (``data["max_abs_error"]`` is the largest gap over every K, β and α drawn; theory §3.5,
    statement S8).

    Raises
    ------
    ValueError
        ``quick`` not a boolean or ``width`` not ``"single"``/``"double"`` (checked by the
        registry's wrapper before anything is computed).
    """
    alpha = np.linspace(0.01, 0.99, 25 if quick else 99)
    alpha_num = np.array([0.1, 0.5, 0.9]) if quick else np.array([0.1, 0.3, 0.5, 0.7, 0.9])
    Ks = (2, 3, 10) if quick else (2, 3, 5, 10)
    betas = (0.0, 1.0) if quick else (0.0, 0.5, 2.0)
    data = {"alpha": alpha, "alpha_numeric": alpha_num}
    errors = []
    for K in Ks:
        data[f"closed_K{K}"] = s8_eigenvalue(K, alpha)
        num = _numeric_eigenvalues(alpha_num, K)
        data[f"numeric_K{K}"] = num
        errors.append(np.abs(num - s8_eigenvalue(K, alpha_num)[:, None]).max())
    for b in betas:
        data[f"closed_beta{b:g}"] = s8_eigenvalue(3, alpha, b)
        num = _numeric_eigenvalues(alpha_num, 3, b)
        data[f"numeric_beta{b:g}"] = num
        errors.append(np.abs(num - s8_eigenvalue(3, alpha_num, b)[:, None]).max())
    data["max_abs_error"] = np.array(max(errors))
    fig, ax = mp.panel_figure(2, width=width, panel_height=2.0)
    method = mp.method_style("SD")
    mp.plot_eigenvalues(
        alpha, {f"SD, K = {K}": data[f"closed_K{K}"] for K in Ks},
        {f"SD, K = {K}": (alpha_num, data[f"numeric_K{K}"].max(axis=1)) for K in Ks},
        styles=method.variants(len(Ks)), ax=ax[0],
    )
    mp.plot_eigenvalues(
        alpha, {f"SD, β = {b:g}": data[f"closed_beta{b:g}"] for b in betas},
        {f"SD, β = {b:g}": (alpha_num, data[f"numeric_beta{b:g}"].max(axis=1)) for b in betas},
        styles=method.variants(len(betas)), ax=ax[1],
    )
    ax[1].set_ylabel("")
    ax[1].get_legend().set_title("line: S8, marker:\nnumeric Jacobian")
    mp.panel_letters(ax, ["β = 0, K modes", "K = 3, KL to π_t"])
    return FigureResult(data, fig)
