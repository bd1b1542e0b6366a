"""The `regioncare` command line: one sub-command per stage of the platform.

Conventions (see CONTRACTS.md): ``--json`` prints one JSON object as the last line of
stdout and no progress; exit 0 success, 1 the work ran but found a problem, 2 bad arguments
or unreadable input; errors are one line on stderr, a traceback only with ``--debug``.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime
from enum import StrEnum
from pathlib import Path
from typing import Any

import typer
from rich.console import Console

from regioncare.errors import CheckFailed, UserError
from regioncare.settings import Settings

app = typer.Typer(help="RegionCare: regional medical collaboration platform.",
                  no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False)
features_app = typer.Typer(help="The Feast feature store.", no_args_is_help=True)
train_app = typer.Typer(help="Train models, evaluate, log and register them.",
                        no_args_is_help=True)
evaluate_app = typer.Typer(help="Evaluate the champion on another region.", no_args_is_help=True)
models_app = typer.Typer(help="Registered models and their aliases.", no_args_is_help=True)
app.add_typer(features_app, name="features")
app.add_typer(train_app, name="train")
app.add_typer(evaluate_app, name="evaluate")
app.add_typer(models_app, name="models")

err = Console(stderr=True)
STATE = {"debug": False}
JsonOpt = typer.Option(False, "--json", help="Print one JSON object as the last line.")


class Scale(StrEnum):
    tiny = "tiny"
    small = "small"
    medium = "medium"
    large = "large"


class Format(StrEnum):
    auto = "auto"
    hl7v2 = "hl7v2"
    fhir = "fhir"
    omop = "omop"
    csv = "csv"
    dicom = "dicom"


def settings() -> Settings:
    from regioncare.runtime import prepare_environment

    s = Settings()
    prepare_environment(s)
    return s


def emit(result: dict[str, Any], as_json: bool, human: Callable[[], None] | None = None) -> None:
    if as_json:
        sys.stdout.write(json.dumps(result, default=str, ensure_ascii=False) + "\n")
    elif human is not None:
        human()
    else:
        Console().print_json(json.dumps(result, default=str, ensure_ascii=False))


@contextmanager
def progress(as_json: bool, total: int | None, label: str) -> Iterator[Callable[..., None]]:
    """A progress bar on stderr for humans; nothing for ``--json``."""
    if as_json:
        yield lambda *a, **k: None
        return
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    with Progress(TextColumn("{task.description}"), BarColumn(), TimeElapsedColumn(),
                  console=err, transient=True) as bar:
        task = bar.add_task(label, total=total)

        def advance(step: int | str = 1) -> None:
            if isinstance(step, str):
                bar.update(task, description=f"{label}: {step}")
            else:
                bar.advance(task, step)

        yield advance


@app.callback()
def main_options(debug: bool = typer.Option(False, "--debug", help="Show tracebacks.")) -> None:
    STATE["debug"] = debug


@app.command()
def synth(
    out: Path = typer.Option(..., "--out", help="Folder to write the region into."),
    seed: int = typer.Option(0, "--seed", help="Random seed; same seed, same region."),
    scale: Scale = typer.Option(Scale.tiny, "--scale", help="Region size."),
    as_of: str = typer.Option(None, "--as-of", help="Reference date YYYY-MM-DD (default today)."),
    as_json: bool = JsonOpt,
) -> None:
    """Generate a synthetic region: institutions, exports, and a hidden ground truth."""
    from features.synth import generate

    day = _parse_date(as_of) if as_of else datetime.now(UTC).date()
    with progress(as_json, None, f"synthesising {scale.value} region") as step:
        step("generating")
        summary = generate(out, seed=seed, scale=scale.value, as_of=day)
    emit(summary, as_json)


def _parse_date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise UserError(f"--as-of: {text!r} is not a date (YYYY-MM-DD)") from None


@app.command()
def ingest(
    paths: list[Path] = typer.Argument(..., help="Export files or folders (a synth folder)."),
    institution: str = typer.Option(None, "--institution", help="Institution code."),
    fmt: Format = typer.Option(Format.auto, "--format", help="Input format."),
    ledger: bool = typer.Option(True, "--ledger/--no-ledger",
                                help="Index the records on the ledger afterwards."),
    as_json: bool = JsonOpt,
) -> None:
    """Normalise hospital exports into the regional record model, then index every record
    store on the ledger (only what is new or changed)."""
    from features.ingest import ingest as run_ingest

    s = settings()
    for path in paths:
        if not path.exists():
            raise UserError(f"{path}: no such file or folder")
    with progress(as_json, None, "ingesting") as step:
        report = run_ingest(paths, settings=s, institution=institution, fmt=fmt.value,
                            progress=lambda n: step(n))
    result = report.to_json()
    _remember_regions(s, paths)
    if ledger and result["accepted"]:
        result["ledger"] = _index_ledger(s, as_json)
    emit(result, as_json)
    if result["accepted"] == 0 and result["rejected"] > 0:
        raise typer.Exit(1)


def _index_ledger(s: Settings, as_json: bool) -> dict[str, Any]:
    """Register the stores' new or changed records on the ledger. A ledger held by a
    running API is no failure of the ingest: `regioncare up` indexes on its next start."""
    from ledger.indexer import count_records, index_region

    try:
        with progress(as_json, count_records(s.records_dir), "indexing on the ledger") as step:
            report = index_region(s, progress=lambda n: step(n))
    except UserError as exc:
        sys.stderr.write(f"note: records not indexed on the ledger: {exc}\n")
        return {"indexed": False, "reason": str(exc)}
    out = report.to_json()
    out["conflicts"] = out["conflicts"][:100]
    return {"indexed": True, **out}


def _remember_regions(s: Settings, paths: list[Path]) -> None:
    """Note synth folders that were ingested: evaluation finds their ground truth there."""
    regions = [str(p.resolve()) for p in paths if (p / "manifest.json").exists()]
    if regions:
        (s.home / "regions.json").write_text(json.dumps(regions))


def _ground_truth(s: Settings) -> Path | None:
    state = s.home / "regions.json"
    if not state.exists():
        return None
    for folder in json.loads(state.read_text()):
        truth = Path(folder) / "ground_truth"
        if truth.exists():
            return truth
    return None


@features_app.command("apply")
def features_apply(as_json: bool = JsonOpt) -> None:
    """Register the Feast repo (entities, sources, feature views, feature services)."""
    from features.store import apply

    s = settings()
    with progress(as_json, None, "feast apply") as step:
        step("registering")
        result = apply(s)
    emit({"feature_views": result.feature_views, "feature_services": result.feature_services,
          "repo": str(s.feast_dir)}, as_json)


@features_app.command("rebuild")
def features_rebuild(as_json: bool = JsonOpt) -> None:
    """Rebuild the offline tables from the hospitals' record stores (after an upgrade that
    adds a table or a column), without ingesting the exports again."""
    from features.offline import rebuild_offline_tables
    from features.records import list_stores

    s = settings()
    if not list_stores(s.records_dir):
        raise UserError(f"no record stores in {s.records_dir} (run `regioncare ingest` first)")
    with progress(as_json, None, "rebuilding the offline tables") as step:
        step("reading the record stores")
        tables = rebuild_offline_tables(s)
    emit({"tables": tables, "rows": sum(tables.values()), "offline": str(s.offline_dir)},
         as_json)


@features_app.command("materialize")
def features_materialize(as_json: bool = JsonOpt) -> None:
    """Load rows newer than the last materialisation into the online store."""
    from features.store import materialize, open_store

    s = settings()
    with progress(as_json, None, "materialising") as step:
        step("loading the online store")
        rows = materialize(s)
        views = len(open_store(s).list_feature_views())
    emit({"feature_views": views, "rows": rows}, as_json)


@train_app.command("referral")
def train_referral(
    epochs: int = typer.Option(20, min=1, help="Training epochs."),
    seed: int = typer.Option(7, help="Seed: same data and seed, same metrics."),
    as_json: bool = JsonOpt,
) -> None:
    """Train the referral ranker, compare it with the baselines, register it in MLflow."""
    from training.referral import TrainConfig
    from training.referral import train_referral as run

    s = settings()
    with progress(as_json, None, "training referral ranker") as step:
        result = run(s, TrainConfig(epochs=epochs, seed=seed), progress=step,
                     truth_dir=_ground_truth(s))
    emit(result.to_json(), as_json)


def _train_scheduling(epochs: int, seed: int, as_json: bool) -> None:
    from training.scheduling import TrainConfig
    from training.scheduling import train_scheduling as run

    s = settings()
    with progress(as_json, None, "training scheduling-risk model") as step:
        result = run(s, TrainConfig(epochs=epochs, seed=seed), progress=step,
                     truth_dir=_ground_truth(s))
    emit(result.to_json(), as_json)


@train_app.command("scheduling")
def train_scheduling(
    epochs: int = typer.Option(30, min=1, help="Training epochs."),
    seed: int = typer.Option(7, help="Seed: same data and seed, same metrics."),
    as_json: bool = JsonOpt,
) -> None:
    """Train the no-show and visit-length model for scheduling, compare it with the
    baselines, register it in MLflow."""
    _train_scheduling(epochs, seed, as_json)


@train_app.command("scheduler", help="Alias of `train scheduling` (the name in CONTRACTS).")
def train_scheduler(
    epochs: int = typer.Option(30, min=1, help="Training epochs."),
    seed: int = typer.Option(7, help="Seed: same data and seed, same metrics."),
    as_json: bool = JsonOpt,
) -> None:
    _train_scheduling(epochs, seed, as_json)


@evaluate_app.command("referral")
def evaluate_referral(
    data: Path = typer.Option(..., "--data", help="A region folder written by `synth`."),
    as_json: bool = JsonOpt,
) -> None:
    """Evaluate the champion and the baselines on a region it was not trained on."""
    from training.referral import evaluate_region

    s = settings()
    with progress(as_json, None, "evaluating referral champion") as step:
        result = evaluate_region(s, data, progress=step)
    emit(result, as_json)


@models_app.command("list")
def models_list(name: str = typer.Argument(None, help="Registered model name."),
                as_json: bool = JsonOpt) -> None:
    """Versions of a registered model and where its aliases point."""
    from training.registry import champion_version, list_versions

    s = settings()
    name = name or s.referral_model_name
    emit({"name": name, "champion": champion_version(s, name),
          "versions": list_versions(s, name)}, as_json)


@models_app.command("promote")
def models_promote(name: str, version: str, as_json: bool = JsonOpt) -> None:
    """Point the champion alias at a version (serving follows within seconds)."""
    from training.registry import promote

    s = settings()
    emit({"name": name, "champion": promote(s, name, version)}, as_json)


@models_app.command("rollback")
def models_rollback(name: str, as_json: bool = JsonOpt) -> None:
    """Move the champion alias back to the previous champion."""
    from training.registry import rollback

    s = settings()
    emit({"name": name, "champion": rollback(s, name)}, as_json)


@app.command()
def up(
    data: Path = typer.Option(None, "--data", help="A region folder (default: synthesise)."),
    scale: Scale = typer.Option(Scale.tiny, "--scale", help="Scale when synthesising."),
    seed: int = typer.Option(0, "--seed", help="Seed when synthesising."),
) -> None:
    """Everything on the embedded default, in the foreground until Ctrl-C."""
    from regioncare.up import run_up

    run_up(settings(), data=data, scale=scale.value, seed=seed, console=err)


@app.command()
def bench(
    name: str = typer.Argument(..., help="A benchmark in benchmarks/, e.g. ledger."),
    quick: bool = typer.Option(False, "--quick", help="Small sizes, for a smoke run."),
    as_json: bool = JsonOpt,
) -> None:
    """Run a benchmark; comparisons run both sides in this one invocation."""
    import importlib

    if not name.isidentifier():
        raise UserError(f"no benchmark named {name!r}")
    try:
        module = importlib.import_module(f"benchmarks.{name}")
    except ModuleNotFoundError as exc:
        if exc.name == f"benchmarks.{name}":
            raise UserError(f"no benchmark named {name!r} in benchmarks/") from None
        raise
    s = settings()
    with progress(as_json, None, f"bench {name}") as step:
        step("running")
        result = module.run(s, quick=quick)
    emit(result, as_json)


def _mount_optional() -> None:
    """Sub-apps of packages that own their commands (the ledger's verify)."""
    try:
        from ledger.cli import app as ledger_app
    except ImportError:
        return
    app.add_typer(ledger_app, name="ledger", help="The EMR index and access-log ledger.")


def main() -> None:
    _mount_optional()
    try:
        # Without standalone mode click returns typer.Exit's code instead of exiting.
        code = app(standalone_mode=False)
        if isinstance(code, int) and code:
            sys.exit(code)
    except UserError as exc:
        _fail(exc, 2)
    except CheckFailed as exc:
        _fail(exc, 1)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except typer.Abort:
        err.print("aborted")
        sys.exit(130)
    except KeyboardInterrupt:
        sys.exit(130)
    except typer.TyperException as exc:  # usage errors: bad option values, missing args
        show = getattr(exc, "show", None)
        if callable(show):
            show()
        else:
            sys.stderr.write(f"error: {exc}\n")
        sys.exit(int(getattr(exc, "exit_code", 2)))
    except Exception as exc:  # the last line of defence of a CLI
        _fail(exc, 1, internal=True)


def _fail(exc: BaseException, code: int, *, internal: bool = False) -> None:
    if STATE["debug"]:
        import traceback

        traceback.print_exception(exc)
    message = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    prefix = "internal error" if internal else "error"
    sys.stderr.write(f"{prefix}: {message}\n")
    sys.exit(code)


if __name__ == "__main__":
    main()
