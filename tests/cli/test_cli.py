"""The command line's outside: help everywhere, JSON last line, exit codes, one-line errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

COMMANDS = [[], ["synth"], ["ingest"], ["features", "apply"], ["features", "rebuild"],
            ["features", "materialize"],
            ["train", "referral"], ["train", "scheduling"], ["evaluate", "referral"],
            ["models", "list"], ["models", "promote"], ["models", "rollback"], ["up"],
            ["bench"]]


def run(args: list[str], home: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "REGIONCARE_HOME": str(home / "var"),
           "REGIONCARE_MLFLOW_DIR": str(home / "mlflow"), "REGIONCARE_ENVIRONMENT": "test"}
    return subprocess.run([sys.executable, "-m", "regioncare.cli", *args], env=env,
                          capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: " ".join(c) or "root")
def test_every_command_has_help(command: list[str], tmp_path: Path) -> None:
    result = run([*command, "--help"], tmp_path)
    assert result.returncode == 0, result.stderr
    assert "Usage" in result.stdout


def test_synth_json_is_the_last_line(tmp_path: Path) -> None:
    result = run(["synth", "--out", str(tmp_path / "r"), "--seed", "1", "--scale", "tiny",
                  "--as-of", "2026-11-01", "--json"], tmp_path)
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    assert {"institutions", "patients", "practitioners", "referrals", "files"} <= set(summary)
    assert summary["institutions"] >= 9 and summary["referrals"] > 0


@pytest.mark.parametrize("args", [
    ["ingest", "/no/such/folder", "--json"],
    ["synth", "--out", "x", "--scale", "huge"],
    ["synth", "--out", "x", "--as-of", "yesterday"],
    ["bench", "no_such_bench"],
    ["features", "apply"],  # nothing ingested yet
    ["features", "rebuild", "--json"],  # no record stores yet
    ["train", "scheduling", "--json"],  # no appointment history yet
], ids=["missing-path", "bad-scale", "bad-date", "unknown-bench", "apply-before-ingest",
        "rebuild-before-ingest", "train-scheduling-before-ingest"])
def test_bad_input_exits_2_with_one_line(args: list[str], tmp_path: Path) -> None:
    result = run(args, tmp_path)
    assert result.returncode == 2, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    assert result.stderr.strip()
