"""Stress meshes for the signed distance: embedded shapes whose holed parts are subdivided whole.

  python bench/sliver_meshes.py OUT_DIR [--shapes chair_002 lamp_001 ...]
The embedded generator cuts a cylinder's hole in a part meshed in rings. Subdividing the whole part to the
hole's size instead (as the generator did before) quarters each of the 192 long side faces down to slivers
1e-5 wide: chair_002 becomes 283k faces, lamp_001 845k, the same solids. Writes OUT_DIR/<shape>.obj for
bench_sdf.py and bench_sdf_ab.py to time.
"""
import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from source.shape_families import embedded_shape  # noqa: E402

# the embedded shapes (seed 0) with a holed cylinder, largest first: 845,474, 845,055, 289,506, 287,348 and 283,345 faces
DEFAULT = ["lamp_010", "lamp_001", "airplane_004", "lamp_004", "chair_002"]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("out", type=Path, help="folder for the .obj files")
    ap.add_argument("--shapes", nargs="+", default=DEFAULT, help="embedded shape names, <family>_<index>")
    ap.add_argument("--seed", type=int, default=0, help="seed of the embedded dataset (load_data.py --seed)")
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    for name in args.shapes:
        family, i = name.rsplit("_", 1)
        mesh = embedded_shape(family, int(i), args.seed, subdivide_holed=True)[2]
        mesh.export(args.out / f"{name}.obj", file_type="obj", include_normals=False, include_texture=False)
        print(f"{name}: {len(mesh.faces):,} faces")


if __name__ == "__main__":
    main()
