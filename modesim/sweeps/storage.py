"""Sweeps on disk: a Zarr store written chunk by chunk and resumed after an interruption.

**Layout.** A store is an xarray dataset in Zarr format 2 (a stable specification that every
Zarr implementation reads, with string coordinates and consolidated metadata; Zarr 3 still
marks both as unstable).  Each result variable is chunked as the sweep is: one Zarr chunk
per sweep chunk along the grid dimensions, whole along the others.  Besides the results the
store holds a marker array ``_sweep_done`` (dimension ``_sweep_chunk``, one bool per sweep
chunk, the chunk layout in its attributes).

**Writing.** :func:`prepare` writes the template (coordinates, static variables, attributes;
result arrays only as metadata, read back as NaN until written) and then the marker, all
False (a store with a marker has its whole template; a store of the same sweep without one
was interrupted while being created and is made again).
After each chunk the engine writes the chunk's results into their region and *then* sets
the chunk's marker (:func:`write_chunk`), so a process killed at any moment leaves every
marked chunk complete.

**Resuming.** Running the same sweep (same fingerprint: rule, grid, task, rounds, metrics,
seed, modesim version) with the same ``out`` skips the marked chunks and recomputes the
others; results do not depend on the order in which chunks ran, so the finished store is
identical to one written without interruption.  A store holding a different sweep is never
overwritten unless asked (``overwrite=True``), and only a Zarr store is ever deleted.

**netCDF.** ``out`` ending in ``.nc`` writes the finished dataset once, at the end (netCDF
has no cheap region writes here, so it is not resumable).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np

from .. import _checks as chk

__all__ = ["MARKER", "MARKER_DIM", "is_netcdf", "stored_layout", "prepare", "write_chunk", "load_sweep"]

MARKER = "_sweep_done"
MARKER_DIM = "_sweep_chunk"
FINGERPRINT = "fingerprint"


def require(*modules: str) -> None:
    """Import ``modules`` (xarray, zarr, dask, ...) or say how to install them."""
    import importlib

    for name in modules:
        try:
            importlib.import_module(name)
        except ImportError as exc:
            raise ImportError(
                f"modesim sweeps need {name} (xarray, zarr and dask[distributed]): pip install 'modesim[sweep]' (in a checkout: pip install -e '.[sweep]')"
            ) from exc


def is_netcdf(path) -> bool:
    """Whether ``path`` names a netCDF file (``.nc``, ``.nc4``, ``.netcdf``)."""
    return Path(path).suffix.lower() in (".nc", ".nc4", ".netcdf")


def _is_zarr(path: Path) -> bool:
    return path.is_dir() and any((path / f).exists() for f in (".zgroup", "zarr.json", ".zmetadata"))


def _open_attrs(path: Path):
    """``(group attributes, (done flags, stored layout))``; Nones for what is not there."""
    import zarr

    try:
        group = zarr.open_group(str(path), mode="r")
    except Exception:  # noqa: BLE001 - any unreadable store is "not a sweep store"
        return None, (None, None)
    attrs = dict(group.attrs)
    done, layout = None, None
    if MARKER in group:
        marker = group[MARKER]
        done = np.asarray(marker[:], dtype=bool)
        layout = dict(marker.attrs).get("chunks")
    return attrs, (done, layout)


def stored_layout(path, fingerprint: str) -> dict | None:
    """The chunk layout of the sweep with ``fingerprint`` stored at ``path`` (None if there is none)."""
    path = Path(path)
    if not _is_zarr(path):
        return None
    attrs, (done, layout) = _open_attrs(path)
    if attrs is None or attrs.get(FINGERPRINT) != fingerprint or done is None:
        return None
    return layout


def prepare(path, template, *, layout: dict, n_chunks: int, overwrite: bool) -> np.ndarray:
    """Create the store at ``path`` from ``template``, or reopen the same sweep there.

    ``template`` is the whole dataset with dask-backed result variables (written as
    metadata only).  Returns the done flag of each chunk (all False for a new store).

    Raises
    ------
    ValueError
        When ``path`` holds another sweep or something that is not a Zarr store (naming
        ``out``), or the same sweep cut into other chunks (naming ``chunks``).
    """
    path = Path(path)
    fingerprint = template.attrs[FINGERPRINT]
    if path.exists():
        if not _is_zarr(path):
            raise ValueError(f"out {str(path)!r} exists and is not a Zarr store; choose another path (it is never deleted)")
        attrs, (done, stored) = _open_attrs(path)
        ours = attrs is not None and attrs.get(FINGERPRINT) == fingerprint
        if ours and done is not None and not overwrite:
            if stored != layout or done.size != n_chunks:
                raise ValueError(
                    f"out {str(path)!r} holds this sweep cut into other chunks ({stored}); pass chunks=None "
                    f"(the store's) to resume it, or overwrite=True (--overwrite) to start again"
                )
            return done
        if not (overwrite or ours):  # ours without a marker: its template was never finished
            what = "a different sweep" if attrs and FINGERPRINT in attrs else "a Zarr store that is not a modesim sweep"
            raise ValueError(f"out {str(path)!r} holds {what}; pass overwrite=True (--overwrite on the command line) to replace it, or choose another path")
        shutil.rmtree(path)
    marker = template[MARKER].copy()
    marker.attrs = {"chunks": layout}
    template.drop_vars(MARKER).to_zarr(str(path), mode="w", compute=False, zarr_format=2, consolidated=True)
    # The marker last: a store with a marker has its whole template.
    type(template)({MARKER: marker}, attrs=template.attrs).to_zarr(str(path), mode="a", zarr_format=2, consolidated=True)
    return np.zeros(n_chunks, dtype=bool)


def write_chunk(path, index: int, region: tuple[slice, ...], results: dict) -> None:
    """Write one chunk's results into their region, then mark the chunk done."""
    import zarr

    group = zarr.open_group(str(path), mode="r+", zarr_format=2)
    for name, arr in results.items():
        group[name][region + (slice(None),) * (arr.ndim - len(region))] = arr
    group[MARKER][index] = True


def load_sweep(path, *, allow_incomplete: bool = False):
    """Read a stored sweep back as an :class:`xarray.Dataset` (lazily; ``.load()`` reads it all).

    The dataset is the one :func:`modesim.sweep` returned: the grid's entries and the
    prompts as dimensions (theory §1, parameter grids), ``round`` and ``k`` or ``mode``.

    Parameters
    ----------
    path : str or path
        A Zarr store written by :func:`modesim.sweep` (``out=``), or a netCDF file.
    allow_incomplete : bool
        Read a sweep that was interrupted: unfinished chunks read as NaN.  By default an
        unfinished sweep is an error (run the same sweep again to finish it).

    Returns
    -------
    xarray.Dataset
        Dimensions, variables and attributes as :func:`modesim.sweep` describes them.

    Raises
    ------
    ValueError
        If ``allow_incomplete`` is not a boolean, ``path`` is not a path, does not exist,
        cannot be read, is not a sweep, or is unfinished.
    ImportError
        xarray is not installed (``pip install 'modesim[sweep]'``).
    """
    require("xarray")
    import xarray as xr


    allow_incomplete = chk.boolean(allow_incomplete, "allow_incomplete")
    if not isinstance(path, (str, os.PathLike)):
        raise ValueError(f"path must be a file path (str or os.PathLike) of a stored sweep; got {chk.describe(path)}")
    p = Path(path)
    if not p.exists():
        raise ValueError(f"path {str(path)!r} does not exist")
    if is_netcdf(p):
        try:
            ds = xr.open_dataset(p)
        except (OSError, ValueError, TypeError) as exc:
            raise ValueError(f"path {str(path)!r} cannot be read as netCDF ({exc})") from None
        if FINGERPRINT not in ds.attrs:
            ds.close()
            raise ValueError(f"path {str(path)!r} is a netCDF file but not a modesim sweep (no fingerprint attribute)")
        return ds
    if not _is_zarr(p):
        raise ValueError(f"path {str(path)!r} is neither a Zarr store nor a netCDF file")
    ds = xr.open_zarr(str(p), chunks=None, zarr_format=2)
    if FINGERPRINT not in ds.attrs:
        raise ValueError(f"path {str(path)!r} is a Zarr store but not a modesim sweep (no fingerprint attribute)")
    if MARKER not in ds:
        if not allow_incomplete:
            raise ValueError(
                f"{str(path)!r} holds an unfinished sweep (interrupted while the store was created); run "
                f"the same sweep again with out={str(path)!r}"
            )
        return ds
    done = np.asarray(ds[MARKER].values, dtype=bool)
    if not done.all() and not allow_incomplete:
        raise ValueError(
            f"{str(path)!r} holds an unfinished sweep: {int(done.sum())} of {done.size} chunks are done; "
            f"run the same sweep again with out={str(path)!r} to finish it (or pass allow_incomplete=True "
            "to read it with NaN where chunks are missing)"
        )
    return ds.drop_vars(MARKER)


def layout_json(chunks: tuple[int, ...], names: tuple[str, ...]) -> dict:
    """The chunk layout as stored in the marker's attributes (a JSON-able mapping)."""
    return {n: int(c) for n, c in zip(names, chunks)}
