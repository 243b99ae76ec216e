"""Downloads from a server on 127.0.0.1 (resume, verification), archive safety, folders, splits."""
import hashlib
import http.server
import io
import json
import threading
import zipfile

import pytest

from source.datasets import DataError, download, extract_models, fetch_shapenet, find_models, import_source
from source.splits import make_split, read_split, write_split

OBJ = "v 0 0 0\nv 1 0 0\nv 0 1 0\nv 0 0 1\nf 1 3 2\nf 1 2 4\nf 1 4 3\nf 2 3 4\n"


def _zip(members):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, text in members.items():
            zf.writestr(name, text)
    return buf.getvalue()


class _Server:
    """Serves fixed files with Range support; can cut the first transfer short."""

    def __init__(self, files, truncate_first=False):
        self.files, self.truncate, self.requests = files, truncate_first, []
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def do_GET(self):
                outer.requests.append((self.path, self.headers.get("Range"), self.headers.get("Authorization")))
                body = outer.files.get(self.path)
                if body is None:
                    self.send_error(404)
                    return
                start = 0
                if self.headers.get("Range"):
                    start = int(self.headers["Range"].split("=")[1].split("-")[0])
                    self.send_response(206)
                    self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
                else:
                    self.send_response(200)
                self.send_header("Content-Length", str(len(body) - start))
                self.send_header("X-Linked-ETag", hashlib.sha256(body).hexdigest())
                self.end_headers()
                chunk = body[start:]
                if outer.truncate:
                    outer.truncate = False
                    chunk = chunk[: len(chunk) // 2]  # the connection drops halfway
                self.wfile.write(chunk)

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def archive():
    return _zip({f"03001627/m{i}/models/model_normalized.obj": OBJ for i in range(3)} | {"03001627/m0/models/x.mtl": ""})


def test_truncated_download_resumes_and_verifies(tmp_path, archive):
    srv = _Server({"/03001627.zip": archive}, truncate_first=True)
    try:
        dest = tmp_path / "03001627.zip"
        with pytest.raises(DataError, match="run again to resume"):
            download(srv.url + "/03001627.zip", dest, token="tok", progress=False)
        part = tmp_path / "03001627.zip.part"
        assert 0 < part.stat().st_size < len(archive) and not dest.exists()
        download(srv.url + "/03001627.zip", dest, token="tok", progress=False)
        assert dest.read_bytes() == archive
        # the second request continued from where the first stopped, with the token
        assert srv.requests[1][1] == f"bytes={len(archive) // 2}-" and srv.requests[1][2] == "Bearer tok"
    finally:
        srv.close()


def test_fetch_shapenet_from_local_server(tmp_path, archive):
    srv = _Server({"/03001627.zip": archive})
    try:
        fetch_shapenet(["03001627"], tmp_path / "SN", token="t", url_template=srv.url + "/{synset}.zip",
                       progress=False, log=lambda s: None)
    finally:
        srv.close()
    models = find_models(tmp_path / "SN")
    assert [(c, i) for c, i, _ in models] == [("03001627", f"m{i}") for i in range(3)]
    assert (tmp_path / "SN/03001627/m0/models/x.mtl").exists()


def test_checksum_mismatch_is_refused(tmp_path, archive):
    srv = _Server({"/a.zip": archive})  # the served body and its stated hash agree...
    try:
        (tmp_path / "a.zip.part").write_bytes(b"X" * 10)  # ...but a corrupt partial file is continued
        with pytest.raises(DataError, match="SHA-256 mismatch"):
            download(srv.url + "/a.zip", tmp_path / "a.zip", progress=False)
        assert not (tmp_path / "a.zip.part").exists() and not (tmp_path / "a.zip").exists()
    finally:
        srv.close()


def test_no_server_or_no_token_says_what_to_do(tmp_path):
    with pytest.raises(DataError, match="cannot connect"):
        download("http://127.0.0.1:9/x.zip", tmp_path / "x.zip", progress=False)
    with pytest.raises(DataError, match="HF_TOKEN"):
        fetch_shapenet(["03001627"], tmp_path, token=None)


def test_zip_with_escaping_member_is_refused(tmp_path):
    bad = tmp_path / "bad.zip"
    bad.write_bytes(_zip({"03001627/m0/models/model_normalized.obj": OBJ, "03001627/../../evil.txt": "x"}))
    with pytest.raises(DataError, match="refused"):
        extract_models(bad, tmp_path / "out")
    assert not (tmp_path / "out").exists() and not (tmp_path.parent / "evil.txt").exists()


def test_existing_models_kept_and_no_partial_models(tmp_path, archive):
    z = tmp_path / "a.zip"
    z.write_bytes(archive)
    assert extract_models(z, tmp_path / "out") == 3
    assert extract_models(z, tmp_path / "out") == 0  # resumable: nothing redone
    assert not [p for p in (tmp_path / "out/03001627").iterdir() if p.name.startswith(".")]


def test_folder_of_meshes_becomes_a_dataset(tmp_path):
    (tmp_path / "src/mugs").mkdir(parents=True)
    (tmp_path / "src/mugs/a.obj").write_text(OBJ)
    (tmp_path / "src/mugs/b.OBJ").write_text(OBJ)
    (tmp_path / "src/notes.txt").write_text("not a mesh")
    assert import_source(tmp_path / "src", tmp_path / "ds", log=lambda s: None) == 2
    assert [(c, i) for c, i, _ in find_models(tmp_path / "ds")] == [("mugs", "a"), ("mugs", "b")]
    with pytest.raises(DataError, match="neither a folder nor a zip"):
        import_source(tmp_path / "src/mugs/a.obj", tmp_path / "x")


def test_split_is_seeded_disjoint_and_in_deepsdf_format(tmp_path):
    inst = {"ds": {"c1": [f"a{i}" for i in range(10)], "c2": ["b0", "b1"]}}
    train, test = make_split(inst, 0.2, seed=3)
    assert (train, test) == make_split(inst, 0.2, seed=3)
    assert len(test["ds"]["c1"]) == 2 and len(test["ds"]["c2"]) == 1
    assert not set(train["ds"]["c1"]) & set(test["ds"]["c1"])
    write_split(tmp_path / "s.json", train)
    assert json.loads((tmp_path / "s.json").read_text()) == train
    assert ("ds", "c2", train["ds"]["c2"][0]) in read_split(tmp_path / "s.json")
