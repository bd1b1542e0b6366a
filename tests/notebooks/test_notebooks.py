"""The data scientists' notebooks run top to bottom against a real platform."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

pytestmark = pytest.mark.e2e
NOTEBOOKS = sorted((Path(__file__).resolve().parents[2] / "notebooks").glob("*.ipynb"))


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_runs(path: Path, platform, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("REGIONCARE_HOME", str(platform.settings.home))
    monkeypatch.setenv("REGIONCARE_MLFLOW_DIR", str(platform.settings.mlflow_dir))
    monkeypatch.setenv("REGIONCARE_ENVIRONMENT", "test")
    nb = nbformat.read(path, as_version=4)
    NotebookClient(nb, timeout=300, kernel_name="python3",
                   resources={"metadata": {"path": str(path.parent)}}).execute()
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])]
    assert not [o for o in outputs if o.get("output_type") == "error"]
