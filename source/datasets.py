"""Getting meshes into data/<dataset>/<class>/<instance>/models/: ShapeNet downloads, archives, folders.

Downloads resume (a .part file continued with an HTTP Range request), are verified (size, and SHA-256
when the server states it) and show a progress bar. Archives are checked before anything is written:
a member whose path would leave the target folder refuses the whole archive. Each model is extracted
into a temporary folder and renamed into place, so a model folder is either whole or absent.
"""
import hashlib
import json
import os
import shutil
import tempfile
import urllib.error
import urllib.request
import zipfile
from pathlib import Path, PurePosixPath

from .mesh_io import MESH_SUFFIXES
from .paths import atomic_path

# ShapeNetCore.v2 is published as one zip per synset in a gated dataset on the Hugging Face hub.
SHAPENET_URL = "https://huggingface.co/datasets/ShapeNet/ShapeNetCore/resolve/main/{synset}.zip"
TOKEN_ENV = "HF_TOKEN"
CHUNK = 1 << 20


class DataError(RuntimeError):
    """A download or archive problem; str() is one line saying what and what to do."""


def read_classes(classes_json, names_txt):
    """Synset codes from classes.json, with their names from shapenet_classes_list.txt."""
    names = {}
    for line in Path(names_txt).read_text().splitlines():
        if line.strip():
            code, name = line.split(maxsplit=1)
            names[code] = name.strip()
    codes = json.loads(Path(classes_json).read_text())
    unknown = [c for c in codes if c not in names]
    if unknown:
        raise DataError(f"{classes_json}: unknown synset codes {unknown} (see {names_txt})")
    return {c: names[c] for c in codes}


# ---- downloading ----
def download(url, dest, token=None, progress=True):
    """Download url to dest, resuming a previous partial download; returns dest.

    The partial file is dest + '.part'; it becomes dest only once its size (and SHA-256, when the
    server sends one) is verified.
    """
    from tqdm import tqdm

    dest = Path(dest)
    if dest.exists():
        return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    have = part.stat().st_size if part.exists() else 0
    headers = {"User-Agent": "deepsdf-load-data"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    if have:
        headers["Range"] = f"bytes={have}-"
    try:
        resp = urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=60)
    except urllib.error.HTTPError as e:
        if e.code == 416 and have:  # the range starts at the end: the part file is complete
            total, sha, mode, resp = have, None, "ab", None
        elif e.code in (401, 403):
            raise DataError(f"{url}: access refused (HTTP {e.code}); accept the dataset's terms on its page "
                            f"and pass a token with --token or ${TOKEN_ENV}") from None
        else:
            raise DataError(f"{url}: HTTP {e.code} {e.reason}") from None
    except (urllib.error.URLError, OSError) as e:
        raise DataError(f"{url}: cannot connect ({getattr(e, 'reason', e)}); check the network, or use "
                        f"--source with a local folder or archive, or --default for the embedded data") from None
    if resp is not None:
        if resp.status == 206:
            mode = "ab"
            total = int(resp.headers["Content-Range"].rsplit("/", 1)[1])
        else:  # the server ignored the range: start again
            mode, have = "wb", 0
            total = int(resp.headers.get("Content-Length") or -1)
        sha = _stated_sha256(resp.headers)
        with resp, open(part, mode) as f, tqdm(total=total if total > 0 else None, initial=have, unit="B",
                                               unit_scale=True, desc=dest.name, disable=not progress) as bar:
            while True:
                chunk = resp.read(CHUNK)
                if not chunk:
                    break
                f.write(chunk)
                bar.update(len(chunk))
    size = part.stat().st_size
    if total > 0 and size != total:
        raise DataError(f"{url}: transfer stopped at {size} of {total} bytes; run again to resume")
    if sha and _sha256(part) != sha:
        part.unlink()
        raise DataError(f"{url}: SHA-256 mismatch, the partial file was removed; run again")
    os.replace(part, dest)
    return dest


def _stated_sha256(headers):
    # The hub states an LFS file's SHA-256 as its linked ETag; any 64-hex ETag is taken as one.
    for key in ("X-Linked-ETag", "ETag"):
        v = (headers.get(key) or "").strip('"').removeprefix("W/").strip('"')
        if len(v) == 64 and all(c in "0123456789abcdef" for c in v.lower()):
            return v.lower()
    return None


def _sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(CHUNK), b""):
            h.update(block)
    return h.hexdigest()


# ---- archives ----
def safe_members(zf, archive):
    """Member names of a zip, refusing the archive if any would land outside the target folder."""
    names = []
    for info in zf.infolist():
        p = PurePosixPath(info.filename.replace("\\", "/"))
        if p.is_absolute() or ".." in p.parts or (p.parts and ":" in p.parts[0]):
            raise DataError(f"{archive}: refused, member {info.filename!r} would be written outside the target folder")
        names.append(info)
    return names


def extract_models(archive, target):
    """Extract <synset>/<model>/... members model by model; models already present are kept."""
    target = Path(target)
    try:
        zf = zipfile.ZipFile(archive)
    except zipfile.BadZipFile:
        raise DataError(f"{archive}: not a zip archive (or truncated)") from None
    with zf:
        groups = {}
        for info in safe_members(zf, archive):
            parts = PurePosixPath(info.filename.replace("\\", "/")).parts
            if len(parts) >= 3 and not info.is_dir():
                groups.setdefault((parts[0], parts[1]), []).append((info, parts[2:]))
        added = 0
        for (synset, model), members in sorted(groups.items()):
            final = target / synset / model
            if final.exists():
                continue
            final.parent.mkdir(parents=True, exist_ok=True)
            tmp = Path(tempfile.mkdtemp(dir=final.parent, prefix=f".{model}."))
            try:
                for info, rest in members:
                    out = tmp.joinpath(*rest)
                    out.parent.mkdir(parents=True, exist_ok=True)
                    with zf.open(info) as src, open(out, "wb") as dst:
                        shutil.copyfileobj(src, dst)
                os.replace(tmp, final)
                added += 1
            finally:
                shutil.rmtree(tmp, ignore_errors=True)
    return added


def fetch_shapenet(synsets, target, token=None, url_template=SHAPENET_URL, downloads=None, progress=True, log=print):
    """Download and extract each synset's archive into target/<synset>/<model>/models/."""
    token = token or os.environ.get(TOKEN_ENV)
    if token is None and url_template == SHAPENET_URL:
        raise DataError(f"ShapeNetCore is gated: set ${TOKEN_ENV} or pass --token (a Hugging Face access token "
                        f"of an account that accepted the dataset's terms); offline, use --default")
    downloads = Path(downloads or Path(target) / ".downloads")
    for synset in synsets:
        archive = download(url_template.format(synset=synset), downloads / f"{synset}.zip", token, progress)
        n = extract_models(archive, target)
        log(f"{synset}: {n} new models in {target}")


# ---- local sources ----
def import_source(source, target, log=print):
    """Bring a local zip, a folder in ShapeNet's layout, or any folder of meshes into target.

    ShapeNet layout: <synset>/<model>/models/<mesh>. Any other folder: each mesh file becomes a model
    of the class named by its parent folder.
    """
    source, target = Path(source), Path(target)
    if source.is_file() and zipfile.is_zipfile(source):
        n = extract_models(source, target)
        log(f"{source}: {n} new models in {target}")
        return n
    if not source.is_dir():
        raise DataError(f"{source}: neither a folder nor a zip archive")
    meshes = [p for p in sorted(source.rglob("*")) if p.suffix.lower() in MESH_SUFFIXES and p.is_file()]
    if not meshes:
        raise DataError(f"{source}: no mesh files ({', '.join(MESH_SUFFIXES)})")
    n = 0
    for mesh in meshes:
        rel = mesh.relative_to(source).parts
        if len(rel) >= 4 and rel[2] == "models":  # ShapeNet layout: keep the model folder whole
            final = target / rel[0] / rel[1]
            if not final.exists():
                _copy_dir_atomic(source / rel[0] / rel[1], final)
                n += 1
            continue
        cls = rel[-2] if len(rel) > 1 else source.name
        final = target / cls / mesh.stem / "models" / f"model_normalized{mesh.suffix.lower()}"
        if not final.exists():
            with atomic_path(final) as tmp:
                shutil.copyfile(mesh, tmp)
            n += 1
    log(f"{source}: {n} new models in {target}")
    return n


def _copy_dir_atomic(src, final):
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=final.parent, prefix=f".{final.name}."))
    try:
        shutil.copytree(src, tmp, dirs_exist_ok=True)
        os.replace(tmp, final)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def find_models(root):
    """(class, instance, mesh path) for every model under root in ShapeNet's layout."""
    out = []
    for cls_dir in sorted(p for p in Path(root).iterdir() if p.is_dir() and not p.name.startswith(".")):
        for inst in sorted(p for p in cls_dir.iterdir() if p.is_dir() and not p.name.startswith(".")):
            meshes = sorted(p for p in (inst / "models").glob("*") if p.suffix.lower() in MESH_SUFFIXES)
            if meshes:
                preferred = [m for m in meshes if m.stem == "model_normalized"]
                out.append((cls_dir.name, inst.name, (preferred or meshes)[0]))
    return out
