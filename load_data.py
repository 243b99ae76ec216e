"""Get meshes into data/: ShapeNetCore.v2 classes, a URL, a local folder or zip, or the embedded default.

  python load_data.py --default                        # offline: the embedded parametric dataset
  HF_TOKEN=... python load_data.py                     # ShapeNetCore.v2 classes listed in classes.json
  python load_data.py --source ~/meshes --name MyMeshes  # any folder (or zip) of meshes
Meshes land in data/<name>/<class>/<instance>/models/. Runs are resumable: finished models are kept.
"""
import argparse
import sys
from pathlib import Path

from source.datasets import DataError, SHAPENET_URL, download, fetch_shapenet, import_source, read_classes
from source.shape_families import write_default_dataset

DEFAULT_NAME = "EmbeddedShapes"


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--default", action="store_true", help="write the embedded default dataset (no network)")
    ap.add_argument("--per-family", type=int, default=12, help="shapes per family in the default dataset")
    ap.add_argument("--seed", type=int, default=0, help="seed of the default dataset's shapes")
    ap.add_argument("--source", help="URL of a zip, local zip, or local folder of meshes instead of ShapeNet")
    ap.add_argument("--name", help="dataset name under --data-dir (default: ShapeNetCoreV2, "
                    f"{DEFAULT_NAME} with --default, the source's name with --source)")
    ap.add_argument("--classes", default="classes.json", help="JSON list of ShapeNet synset codes to download")
    ap.add_argument("--class-names", default="shapenet_classes_list.txt", help="synset code to name table")
    ap.add_argument("--token", help="Hugging Face access token (default: $HF_TOKEN)")
    ap.add_argument("--url-template", default=SHAPENET_URL, help="where each synset's zip is; {synset} is replaced")
    ap.add_argument("--data-dir", default="data", help="root of the data folder")
    ap.add_argument("--no-progress", action="store_true", help="no progress bars")
    args = ap.parse_args(argv)

    data = Path(args.data_dir)
    try:
        if args.default:
            write_default_dataset(data / (args.name or DEFAULT_NAME), args.per_family, args.seed)
        elif args.source:
            src = args.source
            name = args.name or Path(src.rstrip("/")).stem
            if src.startswith(("http://", "https://")):
                src = download(src, data / ".downloads" / Path(src).name, args.token, not args.no_progress)
            import_source(src, data / name)
        else:
            classes = read_classes(args.classes, args.class_names)
            print("classes: " + ", ".join(f"{c} ({n})" for c, n in classes.items()))
            fetch_shapenet(list(classes), data / (args.name or "ShapeNetCoreV2"), args.token, args.url_template,
                           progress=not args.no_progress)
    except DataError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
