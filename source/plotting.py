"""Plotly figures of meshes, surface samples and SDF samples (used by the notebooks and reports)."""
import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots


def mesh_trace(V, F, color="lightsteelblue", opacity=1.0, name="mesh"):
    return go.Mesh3d(x=V[:, 0], y=V[:, 1], z=V[:, 2], i=F[:, 0], j=F[:, 1], k=F[:, 2],
                     color=color, opacity=opacity, name=name, flatshading=True, showlegend=True)


def points_trace(P, color=None, size=1.5, name="points", colorscale=None, cmin=None, cmax=None, colorbar=None):
    marker = dict(size=size, color=color if color is not None else "black")
    if colorscale:
        marker.update(colorscale=colorscale, cmin=cmin, cmax=cmax, colorbar=colorbar)
    return go.Scatter3d(x=P[:, 0], y=P[:, 1], z=P[:, 2], mode="markers", marker=marker, name=name)


def _subsample(A, n, seed=0):
    if len(A) <= n:
        return A
    return A[np.random.default_rng(seed).choice(len(A), n, replace=False)]


def samples_figure(V, F, surface, pos, neg, max_points=15_000, band=0.1, title=""):
    """Four views side by side: the mesh, its surface samples, and the SDF samples outside (pos)
    and inside (neg), coloured by signed distance (clipped to +-band)."""
    fig = make_subplots(rows=1, cols=4, specs=[[{"type": "scene"}] * 4],
                        subplot_titles=("mesh", "surface samples", "outside (sdf > 0)", "inside (sdf < 0)"))
    fig.add_trace(mesh_trace(V, F), 1, 1)
    fig.add_trace(points_trace(_subsample(surface, max_points), color="steelblue", name="surface"), 1, 2)
    for col, S, name in ((3, pos, "outside"), (4, neg, "inside")):
        S = _subsample(S, max_points)
        fig.add_trace(points_trace(S[:, :3], color=np.clip(S[:, 3], -band, band), colorscale="RdBu_r", cmin=-band,
                                   cmax=band, name=name, colorbar=dict(title="sdf", x=1.02) if col == 4 else None), 1, col)
    scene = dict(aspectmode="data", xaxis_visible=False, yaxis_visible=False, zaxis_visible=False,
                 camera=dict(eye=dict(x=1.4, y=0.9, z=1.4), up=dict(x=0, y=1, z=0)))
    fig.update_layout(**{f"scene{i if i > 1 else ''}": scene for i in range(1, 5)}, height=420, width=1500,
                      title=title, margin=dict(l=0, r=0, t=60, b=0), showlegend=False)
    return fig


def load_sampled(data_dir, dataset, cls, instance, mesh_path):
    """Mesh (normalised frame), surface samples and SDF samples of one sampled instance."""
    import trimesh

    from . import paths
    from .mesh_io import load_mesh

    V, F = load_mesh(mesh_path)
    norm = np.load(paths.normalization(data_dir, dataset, cls, instance))
    V = (V + norm["offset"]) * norm["scale"]
    surface = np.asarray(trimesh.load(paths.surface_samples(data_dir, dataset, cls, instance)).vertices)
    s = np.load(paths.sdf_samples(data_dir, dataset, cls, instance))
    return V, F, surface, s["pos"], s["neg"]


_SCENE = dict(aspectmode="data", xaxis_visible=False, yaxis_visible=False, zaxis_visible=False,
              camera=dict(eye=dict(x=1.4, y=0.9, z=1.4), up=dict(x=0, y=1, z=0)))


def loss_figure(log_rows, title="training loss"):
    """Loss per epoch (log scale) from Logs.csv rows (dicts with epoch, loss, sdf_loss, code_loss)."""
    ep = [int(r["epoch"]) for r in log_rows]
    fig = go.Figure()
    for key in ("loss", "sdf_loss", "code_loss"):
        fig.add_trace(go.Scatter(x=ep, y=[float(r[key]) for r in log_rows], mode="lines", name=key))
    fig.update_layout(title=title, xaxis_title="epoch", yaxis_title="loss", yaxis_type="log", height=380, width=800)
    return fig


def meshes_figure(pairs, titles, height=380):
    """Meshes side by side: pairs is a list of (V, F) or None (shown empty)."""
    n = len(pairs)
    fig = make_subplots(rows=1, cols=n, specs=[[{"type": "scene"}] * n], subplot_titles=titles)
    for k, m in enumerate(pairs):
        if m is not None:
            fig.add_trace(mesh_trace(m[0], m[1], color="lightsteelblue" if k % 2 == 0 else "lightsalmon"), 1, k + 1)
    fig.update_layout(**{f"scene{i if i > 1 else ''}": _SCENE for i in range(1, n + 1)}, height=height,
                      width=min(1600, 330 * n), margin=dict(l=0, r=0, t=40, b=0), showlegend=False)
    return fig


def latent_map_figure(codes, labels, names=None, title="latent codes (first two principal components)"):
    """Codes (S, L) projected on their first two principal components, coloured by label (class)."""
    X = np.asarray(codes, dtype=np.float64)
    X = X - X.mean(0)
    _, _, vt = np.linalg.svd(X, full_matrices=False)
    P = X @ vt[:2].T if vt.shape[0] >= 2 else np.c_[X @ vt[:1].T, np.zeros(len(X))]
    fig = go.Figure()
    labels = np.asarray(labels)
    for lab in sorted(set(labels)):
        m = labels == lab
        fig.add_trace(go.Scatter(x=P[m, 0], y=P[m, 1], mode="markers", name=str(lab), marker=dict(size=9),
                                 text=None if names is None else list(np.asarray(names)[m])))
    fig.update_layout(title=title, xaxis_title="PC 1", yaxis_title="PC 2", height=420, width=650)
    return fig
