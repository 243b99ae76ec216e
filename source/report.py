"""HTML reports: self-contained pages of plotly figures (open them in any browser, offline)."""
import html
from pathlib import Path

import numpy as np

from . import paths
from .datasets import find_models
from .plotting import load_sampled, samples_figure


def write_html(figures, out, title):
    """figures: list of (heading, plotly figure or an HTML string). The first figure carries plotly.js;
    written atomically."""
    parts = [f"<html><head><meta charset='utf-8'><title>{html.escape(title)}</title></head><body>",
             f"<h1>{html.escape(title)}</h1>"]
    first = True
    for heading, fig in figures:
        parts.append(f"<h2>{html.escape(heading)}</h2>")
        if isinstance(fig, str):
            parts.append(fig)
        else:
            parts.append(fig.to_html(full_html=False, include_plotlyjs=first))
            first = False
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


def table_html(rows, columns, digits=5):
    """A plain HTML table of dict rows."""
    fmt = lambda v: f"{v:.{digits}g}" if isinstance(v, float) else html.escape(str(v))
    head = "".join(f"<th>{html.escape(c)}</th>" for c in columns)
    body = "".join("<tr>" + "".join(f"<td>{fmt(r.get(c, ''))}</td>" for c in columns) + "</tr>" for r in rows)
    return f"<table border='1' cellpadding='4' style='border-collapse:collapse'><tr>{head}</tr>{body}</table>"


def summary_rows(summary):
    """Rows class / shapes / mean and median Chamfer / mean F-score, EMD, normal consistency."""
    out = []
    for cls, m in summary["per_class"].items():
        out.append({"class": cls, "shapes": m["chamfer"]["count"], "chamfer mean": m["chamfer"]["mean"],
                    "chamfer median": m["chamfer"]["median"], "EMD mean": m["earth_movers"]["mean"],
                    "F-score mean": m["f_score"]["mean"], "normal consistency": m["normal_consistency"]["mean"]})
    return out


def experiment_report(experiment, name, data_dir, rows, summary, out, shapes=6):
    """Training curve, ground truth beside reconstruction for a few test shapes, the latent map of the
    training codes and the metrics table, on one page."""
    import csv

    import trimesh

    from . import checkpoints
    from .plotting import latent_map_figure, loss_figure, meshes_figure
    from .reference_meshes import normalisation, normalised_mesh

    experiment = Path(experiment)
    figures = []
    log = experiment / paths.LOGS_CSV
    if log.exists():
        with open(log) as f:
            figures.append(("Training loss", loss_figure(list(csv.DictReader(f)))))
    figures.append(("Reconstruction quality per class", table_html(summary_rows(summary), list(summary_rows(summary)[0]))))
    for r in sorted(rows, key=lambda r: r["chamfer"])[:: max(1, len(rows) // shapes)][:shapes]:
        scene = (r["dataset"], r["class"], r["instance"])
        mesh = trimesh.load(paths.reconstruction_mesh(experiment, name, *scene), process=False, force="mesh")
        offset, scale = normalisation(data_dir, *scene, V=mesh.vertices, F=mesh.faces)
        try:
            gt = normalised_mesh(data_dir, *scene)
        except (FileNotFoundError, ValueError):
            gt = None
        rec = ((np.asarray(mesh.vertices) + offset) * scale, np.asarray(mesh.faces))
        figures.append((f"{'/'.join(scene)}: Chamfer {r['chamfer']:.5f}, F-score {r['f_score']:.3f}",
                        meshes_figure([gt, rec], ["ground truth", "reconstruction"])))
    try:
        codes, scenes, _ = checkpoints.load_codes(experiment)
        if scenes:
            figures.append(("Training codes", latent_map_figure(codes.numpy(), [s[1] for s in scenes],
                                                                ["/".join(s) for s in scenes])))
    except checkpoints.CheckpointError:
        pass
    figures.append(("Every shape", table_html(rows, ["class", "instance", "chamfer", "earth_movers", "f_score",
                                                     "normal_consistency"])))
    return write_html(figures, out, f"DeepSDF experiment {experiment.name}: reconstructions {name}")
