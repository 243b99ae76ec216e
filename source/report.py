"""HTML reports: self-contained pages of plotly figures (open them in any browser, offline)."""
import html
from pathlib import Path

from . import paths
from .datasets import find_models
from .plotting import load_sampled, samples_figure


def write_html(figures, out, title):
    """figures: list of (heading, plotly figure). The first figure carries plotly.js; written atomically."""
    parts = [f"<html><head><meta charset='utf-8'><title>{html.escape(title)}</title></head><body>",
             f"<h1>{html.escape(title)}</h1>"]
    for k, (heading, fig) in enumerate(figures):
        parts.append(f"<h2>{html.escape(heading)}</h2>")
        parts.append(fig.to_html(full_html=False, include_plotlyjs=(k == 0)))
    parts.append("</body></html>")
    with paths.atomic_path(out) as tmp:
        Path(tmp).write_text("\n".join(parts))
    return Path(out)


def samples_report(data_dir, dataset, out, per_class=1):
    """A page with the mesh, surface samples and SDF samples of a few sampled instances per class."""
    figures, seen = [], {}
    for cls, inst, mesh in find_models(Path(data_dir) / dataset):
        if seen.get(cls, 0) >= per_class or not paths.sdf_samples(data_dir, dataset, cls, inst).exists():
            continue
        seen[cls] = seen.get(cls, 0) + 1
        figures.append((f"{cls}/{inst}", samples_figure(*load_sampled(data_dir, dataset, cls, inst, mesh))))
    return write_html(figures, out, f"SDF samples of {dataset}")
