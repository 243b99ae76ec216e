"""The notebooks run top to bottom on the embedded data."""
from pathlib import Path

import nbclient
import nbformat

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"


def test_sampling_visualization_notebook_runs():
    nb = nbformat.read(NOTEBOOKS / "sampling_visualization.ipynb", as_version=4)
    nbclient.NotebookClient(nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(NOTEBOOKS)}}).execute()
    text = "".join(o.get("text", "") for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", []))
    assert "sign right on" in text
    assert any("application/vnd.plotly.v1+json" in o.get("data", {}) for c in nb.cells for o in c.get("outputs", []))


import json  # noqa: E402

import pytest  # noqa: E402


@pytest.fixture(scope="module")
def tiny_experiments(tmp_path_factory):
    """Two small experiments (latent 32 and 16) trained on a few embedded shapes."""
    import load_data
    import sample_points
    import train
    from tests.sdf_fixtures import tiny_specs
    root = tmp_path_factory.mktemp("nb")
    data = root / "data"
    assert load_data.main(["--default", "--per-family", "3", "--data-dir", str(data), "--no-progress"]) == 0
    assert sample_points.main(["--dataset", "EmbeddedShapes", "--data-dir", str(data), "--workers", "1",
                               "--num-samples", "8000", "--surface-samples", "3000", "--no-progress"]) == 0
    out = {}
    for latent in (32, 16):
        specs = tiny_specs(data, data / "splits" / "EmbeddedShapes_train.json", CodeLength=latent, NumEpochs=40,
                           TestSplit=str(data / "splits" / "EmbeddedShapes_test.json"), SnapshotFrequency=1000,
                           LogFrequency=1000, ScenesPerBatch=4, SamplesPerScene=512)
        specs["NetworkSpecs"]["dims"] = [64] * 4
        (root / f"s{latent}.json").write_text(json.dumps(specs))
        exp = root / f"exp{latent}"
        assert train.main(["-e", str(exp), "--specs", str(root / f"s{latent}.json"), "--no-progress"]) == 0
        out[latent] = exp
    return out


@pytest.mark.parametrize("name, latent", [("narrow_net_reconstruction", 32), ("very_narrow_net_reconstruction", 16)])
def test_reconstruction_notebooks_run(tiny_experiments, monkeypatch, name, latent):
    monkeypatch.setenv("DEEPSDF_EXPERIMENT", str(tiny_experiments[latent]))
    monkeypatch.setenv("DEEPSDF_ITERATIONS", "40")
    monkeypatch.setenv("DEEPSDF_SHAPES", "2")
    nb = nbformat.read(NOTEBOOKS / f"{name}.ipynb", as_version=4)
    nbclient.NotebookClient(nb, timeout=600, kernel_name="python3",
                            resources={"metadata": {"path": str(NOTEBOOKS)}}).execute()
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])]
    text = "".join(o.get("text", "") for o in outputs)
    assert f"latent size {latent}" in text and "mean chamfer" in text
    plots = sum("application/vnd.plotly.v1+json" in o.get("data", {}) for o in outputs)
    assert plots >= 5  # loss curve, 2 comparisons, interpolation, latent map
