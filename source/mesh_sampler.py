"""DeepSDF's preprocessing: normalise a mesh, draw SDF samples near the surface and in the cube.

Per mesh it writes, in DeepSDF's layout (source/paths.py):
  SdfSamples/.../<instance>.npz               pos (N+ x 4), neg (N- x 4): x, y, z, sdf; float32
  SurfaceSamples/.../<instance>.ply           surface points (for evaluation), normalised frame
  NormalizationParameters/.../<instance>.npz  offset (3,), scale (): normalised = (v + offset) * scale
"""
import multiprocessing as mp
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import trimesh

from . import paths
from .mesh_io import MeshError, load_mesh, normalization_parameters

SIGN_METHODS = ("winding", "deepsdf")


@dataclass
class MeshSampler:
    """DeepSDF's sample distribution, with a sign that survives broken meshes.

    num_samples: total samples per mesh (the original: 500,000).
    variances: the two Gaussian perturbations of surface points (0.005 and 0.0005).
    uniform_fraction: share drawn uniformly in [-1, 1]^3 (3/50); the rest (47/50) is near the surface,
        half with each variance, from the same surface points.
    sign: "winding" (generalised winding number with parts re-oriented; see signed_distance.py), or
        "deepsdf", the original's rule (virtual_scan.py): 100 virtual scans, an 11-nearest-neighbour
        vote that drops non-unanimous points (so fewer than num_samples are written) and the distance to
        the scanned points. Untrusted above 2% wrong observations or 3% bad triangles, as the original
        meant (its rejection line is commented out).
    max_ambiguous: "winding": meshes whose surface is ambiguous (open) over more than this share of its
        area are untrusted.
    min_inside: "winding": meshes with fewer near-surface samples inside than this share are untrusted
        (a solid has 20-55% of them inside; almost none means a surface whose sides cancel, such as a
        double-sided mesh whose two sides are triangulated differently).
    scan_views, scan_resolution: "deepsdf": number of virtual cameras and their pixels per side.
    keep_untrusted: sample untrusted meshes anyway (they are still reported).
    """

    num_samples: int = 500_000
    variances: tuple = (0.005, 0.0005)
    uniform_fraction: float = 3 / 50
    surface_samples: int = 30_000
    sign: str = "winding"
    max_ambiguous: float = 0.05
    min_inside: float = 0.01
    keep_untrusted: bool = False
    scan_views: int = 100
    scan_resolution: int = 400
    seed: int = 0
    stats: dict = field(default_factory=dict, repr=False)

    def __post_init__(self):
        if self.sign not in SIGN_METHODS:
            raise ValueError(f"sign must be one of {SIGN_METHODS}, not {self.sign!r}")

    def sample_points(self, V, F, rng):
        """Query points (num_samples x 3) in the normalised frame, DeepSDF's distribution."""
        mesh = trimesh.Trimesh(V, F, process=False)
        n_uniform = int(round(self.num_samples * self.uniform_fraction))
        n_near = self.num_samples - n_uniform
        surf, _ = trimesh.sample.sample_surface(mesh, (n_near + 1) // 2, seed=int(rng.integers(2**31)))
        near = [surf + rng.normal(scale=np.sqrt(v), size=surf.shape) for v in self.variances]
        near = np.concatenate(near)[:n_near]
        uniform = rng.uniform(-1.0, 1.0, size=(n_uniform, 3))
        return np.concatenate([near, uniform])

    def sample_mesh(self, V, F, name="mesh"):
        """Normalise and sample one mesh. Returns a dict of arrays and statistics.

        Raises MeshError when the mesh's sign cannot be trusted (and keep_untrusted is off).
        """
        from .signed_distance import SignedDistance

        rng = np.random.default_rng(self.seed)
        offset, scale = normalization_parameters(V, F)
        Vn = (V + offset) * scale
        Q = self.sample_points(Vn, F, rng)
        if self.sign == "deepsdf":
            Q, sdf, stats = self._scan_sign(Vn, F, Q, name)
        else:
            sdf_fn = SignedDistance(Vn, F, queries_hint=len(Q), queries=Q)
            amb = sdf_fn.ambiguous_area_fraction()
            untrusted = f"open surface: {100 * amb:.1f}% of its area has no clear inside" if amb > self.max_ambiguous else None
            if untrusted and not self.keep_untrusted:
                sdf_fn.close()
                raise UntrustedMesh(f"{name}: {untrusted}")
            sdf = sdf_fn(Q)
            n_near = self.num_samples - int(round(self.num_samples * self.uniform_fraction))
            inside = float((sdf[:n_near] < 0).mean())
            if inside < self.min_inside and untrusted is None:
                untrusted = (f"no inside: {100 * inside:.2f}% of the near-surface samples are inside "
                             f"(sides that cancel, e.g. a double-sided surface)")
                if not self.keep_untrusted:
                    raise UntrustedMesh(f"{name}: {untrusted}")
            stats = {"ambiguous_area": amb, "inside_share": inside, "untrusted": untrusted}
        samples = np.concatenate([Q, sdf[:, None]], axis=1).astype(np.float32)
        surface, _ = trimesh.sample.sample_surface(trimesh.Trimesh(Vn, F, process=False), self.surface_samples,
                                                   seed=int(rng.integers(2**31)))
        return {
            "pos": samples[sdf >= 0],
            "neg": samples[sdf < 0],
            "surface": surface.astype(np.float32),
            "offset": offset,
            "scale": np.float64(scale),
            "stats": stats,
        }

    def _scan_sign(self, Vn, F, Q, name):
        """The original's virtual-scan rule: (kept queries, their sdf, statistics)."""
        from .virtual_scan import VirtualScan

        scan = VirtualScan(Vn, F, views=self.scan_views, resolution=self.scan_resolution)
        untrusted = scan.untrusted_reason()
        if untrusted and not self.keep_untrusted:
            raise UntrustedMesh(f"{name}: {untrusted}")
        sdf, kept = scan.signed_distance(Q, stdv=np.sqrt(self.variances[0]))
        stats = {"wrong_observations": scan.wrong_observations, "bad_triangles": scan.bad_triangles,
                 "dropped": float(1.0 - kept.mean()), "untrusted": untrusted}
        return Q[kept], sdf[kept], stats

    def process_file(self, mesh_path, data_dir, dataset, cls, instance):
        """Sample one mesh file and write its three output files atomically."""
        V, F = load_mesh(mesh_path)
        out = self.sample_mesh(V, F, name=str(mesh_path))
        with paths.atomic_path(paths.normalization(data_dir, dataset, cls, instance)) as tmp:
            np.savez(tmp, offset=out["offset"], scale=out["scale"])
        with paths.atomic_path(paths.surface_samples(data_dir, dataset, cls, instance)) as tmp:
            trimesh.PointCloud(out["surface"]).export(tmp, file_type="ply")
        # The SDF file last: its presence marks the mesh as done.
        with paths.atomic_path(paths.sdf_samples(data_dir, dataset, cls, instance)) as tmp:
            np.savez(tmp, pos=out["pos"], neg=out["neg"])
        return out["stats"]


class UntrustedMesh(MeshError):
    """The mesh was read, but the sign of its distance cannot be trusted (an open surface)."""


@dataclass
class Job:
    mesh: Path
    dataset: str
    cls: str
    instance: str


def _run_job(args):
    sampler, job, data_dir = args
    t = time.perf_counter()
    try:
        stats = sampler.process_file(job.mesh, data_dir, job.dataset, job.cls, job.instance)
        return job, "done", "", stats, time.perf_counter() - t
    except UntrustedMesh as e:
        return job, "skipped", str(e), {}, time.perf_counter() - t
    except MeshError as e:
        return job, "failed", str(e), {}, time.perf_counter() - t
    except Exception as e:  # one bad mesh never stops the batch
        return job, "failed", f"{job.mesh}: {type(e).__name__}: {e}", {}, time.perf_counter() - t


def sample_dataset(sampler, jobs, data_dir, workers=1, progress=True, log=print):
    """Sample many meshes in parallel; meshes whose SDF file exists are skipped (resumable).

    Returns a summary dict: done, skipped (untrusted) and failed lists with reasons.
    """
    from tqdm import tqdm

    todo = [j for j in jobs if not paths.sdf_samples(data_dir, j.dataset, j.cls, j.instance).exists()]
    summary = {"already_done": len(jobs) - len(todo), "done": [], "skipped": [], "failed": []}
    args = [(sampler, j, str(data_dir)) for j in todo]
    bar = tqdm(total=len(todo), desc="sampling", unit="mesh", disable=not progress)
    if workers <= 1:
        results = map(_run_job, args)
        pool = None
    else:
        # Each worker gets its share of the cores for libigl's own threads; spawn so that the limit
        # is read before libigl starts any thread, and recycle workers to bound their memory.
        os.environ.setdefault("IGL_NUM_THREADS", str(max(1, (os.cpu_count() or 1) // workers)))
        pool = mp.get_context("spawn").Pool(workers, maxtasksperchild=16)
        results = pool.imap_unordered(_run_job, args)
    try:
        for job, status, reason, stats, seconds in results:
            entry = {"mesh": str(job.mesh), "class": job.cls, "instance": job.instance, "seconds": round(seconds, 2)}
            if reason:
                entry["reason"] = reason
                bar.write(f"{status}: {reason}")
            entry.update({k: v for k, v in stats.items() if v is not None})
            summary[status].append(entry)
            bar.update(1)
    finally:
        bar.close()
        if pool is not None:
            pool.close()
            pool.join()
    log(f"sampled {len(summary['done'])}, already done {summary['already_done']}, "
        f"skipped {len(summary['skipped'])} (untrusted sign), failed {len(summary['failed'])}")
    return summary
