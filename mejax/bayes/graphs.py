"""``bayesgraph``: MCMC diagnostics as pyplot figures (host side, :mod:`mejax.graph`).

``diagnostics`` is Stata's 2×2 panel per parameter (trace, histogram,
autocorrelation, kernel density with the first and second half of the
draws); ``trace``, ``histogram``, ``kdensity``, ``ac`` draw one panel per
parameter; ``matrix`` is the scatterplot matrix of the parameters.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from scipy import stats

from ..graph import GraphOptions, export, new_figure

KINDS = ("diagnostics", "trace", "histogram", "kdensity", "ac", "matrix")
MAX_LAG = 40


def autocorrelation(x: np.ndarray, max_lag: int = MAX_LAG) -> np.ndarray:
    """Autocorrelation of one chain at lags 0..max_lag (FFT-free, short lags)."""
    x = x - x.mean()
    denom = float(x @ x) or 1.0
    lags = min(max_lag, len(x) - 1)
    return np.array([float(x[: len(x) - k] @ x[k:]) / denom for k in range(lags + 1)])


def _panel(ax, kind: str, draws: np.ndarray, name: str) -> None:
    """One panel of ``kind`` for a parameter's (chains, draws) array."""
    flat = draws.ravel()
    if kind == "trace":
        for chain in draws:
            ax.plot(chain, lw=0.5)
        ax.set_xlabel("Iteration number")
    elif kind == "histogram":
        ax.hist(flat, bins=min(50, max(10, int(np.sqrt(flat.size)))), density=True,
                color="C0", alpha=0.8)
    elif kind == "ac":
        ac = np.mean([autocorrelation(c) for c in draws], axis=0)
        ax.bar(np.arange(ac.size), ac, width=0.6)
        ax.axhline(0, color="k", lw=0.5)
        ax.set_xlabel("Lag")
        ax.set_ylabel("Autocorrelation")
    elif kind == "kdensity":
        grid = np.linspace(flat.min(), flat.max(), 200)
        ax.plot(grid, stats.gaussian_kde(flat)(grid), label="overall")
        half = draws.shape[1] // 2
        for part, label in ((draws[:, :half], "1-half"), (draws[:, half:], "2-half")):
            if part.size > 2:
                ax.plot(grid, stats.gaussian_kde(part.ravel())(grid), lw=0.8, ls="--",
                        label=label)
        ax.legend(fontsize="small")
    ax.set_title(name, fontsize="small")


def bayesgraph(res, kind: str, names: list[str] | None = None, *, title: str | None = None,
               saving: str | None = None, replace: bool = False,
               options: GraphOptions | None = None):
    """A pyplot figure of ``kind`` for the named parameters (all when None).

    ``diagnostics`` of several parameters gives a list, one figure each. Stata's
    ``title()`` and ``saving(file[, replace])`` (as keywords or ``options``);
    several figures are saved as ``file_1.png``, ``file_2.png``, ...
    """
    if options is None:
        options = GraphOptions(title=title, saving=saving, replace=replace)
    if kind not in KINDS:
        raise ValueError(f"bayesgraph {kind}: use one of {', '.join(KINDS)}")
    names = list(res.names) if not names else names
    figs = _draw(kind, names, {n: res.parameter(n) for n in names})
    for fig in figs:
        if options.title is not None:
            fig.suptitle(options.title)
    if options.saving:
        path = Path(options.saving)
        for i, fig in enumerate(figs, start=1):
            target = path if len(figs) == 1 else path.with_name(f"{path.stem}_{i}{path.suffix}")
            export(fig, target, replace=options.replace)
    return figs[0] if len(figs) == 1 else figs


def _draw(kind: str, names: list[str], draws: dict) -> list:
    """The figures of one ``bayesgraph`` kind."""
    if kind == "matrix":
        k = len(names)
        fig, axes = new_figure(k, k, figsize=(2.2 * k, 2.2 * k), squeeze=False)
        for i, a in enumerate(names):
            for j, b in enumerate(names):
                ax = axes[i, j]
                if i == j:
                    ax.hist(draws[a].ravel(), bins=30)
                    ax.set_title("{" + a.strip("{}") + "}", fontsize="small")
                else:
                    ax.plot(draws[b].ravel(), draws[a].ravel(), ".", ms=1, alpha=0.3)
        return [fig]
    if kind == "diagnostics":
        figs = []
        for name in names:
            fig, axes = new_figure(2, 2, figsize=(8, 5.5))
            for ax, panel in zip(axes.ravel(), ("trace", "histogram", "ac", "kdensity")):
                _panel(ax, panel, draws[name], panel)
            fig.suptitle("{" + name.strip("{}") + "}")
            fig.tight_layout()
            figs.append(fig)
        return figs
    cols = min(3, len(names))
    rows = int(np.ceil(len(names) / cols))
    fig, axes = new_figure(rows, cols, figsize=(3.6 * cols, 2.6 * rows), squeeze=False)
    for ax, name in zip(axes.ravel(), names):
        _panel(ax, kind, draws[name], "{" + name.strip("{}") + "}")
    for ax in axes.ravel()[len(names):]:
        ax.set_visible(False)
    fig.tight_layout()
    return [fig]
