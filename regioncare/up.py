"""`regioncare up`: the whole embedded default in one process, stopped by Ctrl-C."""

from __future__ import annotations

import json
import time
from pathlib import Path

from rich.console import Console

from regioncare.settings import Settings


def run_up(settings: Settings, *, data: Path | None, scale: str, seed: int,
           console: Console) -> None:
    import uvicorn

    started = time.perf_counter()

    def say(msg: str) -> None:
        # one line per message, however narrow the terminal or log (rich wraps at 80 else)
        console.print(f"[{time.perf_counter() - started:6.1f}s] {msg}", soft_wrap=True,
                      markup=False)

    region = prepare_region(settings, data=data, scale=scale, seed=seed, say=say)
    prepare_models(settings, region=region, say=say)

    from serving import app as serving_app

    say("starting Ray Serve on "
        f"{settings.serve_url} (Ray start-up takes ~15 s)")
    serving_app.start(settings)
    try:
        from collaboration_api.auth.service import seed_demo_users

        accounts = settings.home / "demo-accounts.json"
        demo = seed_demo_users(settings)  # migrates the database first
        accounts.write_text(json.dumps(demo, indent=2, ensure_ascii=False))
        say(f"demo accounts (also in {accounts}):")
        for a in demo:
            say(f"  {a['role']:<15} {a['username']:<28} {a['password']}  ({a['institution']})")
        from collaboration_api.main import create_app

        api = create_app(settings)
        index_in_background(api, say=say)
        say(f"API and console at http://{settings.api_host}:{settings.api_port} "
            f"(docs at /docs); ready after {time.perf_counter() - started:.0f} s; Ctrl-C stops")
        uvicorn.run(api, host=settings.api_host, port=settings.api_port, log_level="warning")
    finally:
        say("stopping Ray Serve")
        serving_app.stop()


def index_in_background(api, *, say) -> None:  # type: ignore[no-untyped-def]
    """Index the record stores on the ledger beside the running API: tiny's ~19,000 patient
    records take ~100 s on the embedded chain (~200 records/s), too long to wait for.
    Idempotent: a restart registers only what is new or changed since."""
    from ledger.indexer import count_records

    total = count_records(api.state.settings.records_dir)
    say(f"indexing the record stores ({total} records) on the ledger in the background "
        "(a record is readable across institutions once indexed)")

    def done(report, exc) -> None:  # type: ignore[no-untyped-def]
        if exc is not None:
            say(f"ledger indexing failed: {getattr(exc, 'detail', exc)}")
        elif report.stopped:
            say("ledger indexing interrupted; the next start continues where it stopped")
        else:
            say(f"ledger: {report.registered} records registered, {report.superseded} "
                f"superseded, {report.unchanged} unchanged, {report.homes_set} patient homes "
                f"set in {report.seconds:.0f} s ({report.records_per_s} records/s)")

    api.state.ledger.start_indexing(done)


def prepare_region(settings: Settings, *, data: Path | None, scale: str, seed: int,
                   say) -> Path:  # type: ignore[no-untyped-def]
    """Synthesise a region if none is given, and ingest it unless already ingested."""
    from datetime import UTC, datetime

    from features.ingest import ingest

    region = data or settings.data_dir / "region"
    if not (region / "manifest.json").exists():
        if data is not None:
            from regioncare.errors import UserError

            raise UserError(f"{data}: no manifest.json (not a region folder)")
        from features.synth import generate

        say(f"synthesising a {scale} region into {region}")
        generate(region, seed=seed, scale=scale, as_of=datetime.now(UTC).date())
    marker = settings.home / "regions.json"
    if not marker.exists() or str(region.resolve()) not in json.loads(marker.read_text()):
        say(f"ingesting {region}")
        report = ingest([region], settings=settings).to_json()
        say(f"ingested {report['accepted']} records, {report['rejected']} rejected")
        marker.write_text(json.dumps([str(region.resolve())]))
    return region


def prepare_models(settings: Settings, *, region: Path, say) -> None:  # type: ignore[no-untyped-def]
    """Feature store applied and materialised; a champion registered if there is none."""
    from features.store import apply, materialize
    from training.registry import champion_version

    say("feast apply + materialize")
    apply(settings)
    rows = materialize(settings)
    say(f"materialised {rows} rows")
    if champion_version(settings, settings.referral_model_name) is None:
        from training.referral import train_referral

        say("training the referral ranker (no champion yet)")
        result = train_referral(settings, truth_dir=region / "ground_truth")
        say(f"registered version {result.model_version}; NDCG@10 "
            f"{result.metrics['model']['ndcg@10']}")
    if settings.scheduling_use_risk_model and champion_version(
            settings, settings.scheduling_model_name) is None:
        from regioncare.errors import UserError
        from training.scheduling import train_scheduling

        say("training the scheduling no-show/duration model (no champion yet)")
        try:
            sched = train_scheduling(settings, truth_dir=region / "ground_truth")
        except UserError as exc:  # e.g. a region without appointment history
            say(f"scheduling model not trained: {exc}; the scheduler uses one slot per "
                "request")
        else:
            say(f"registered version {sched.model_version}; no-show AUC "
                f"{sched.metrics['model']['noshow_auc']}, duration MAE "
                f"{sched.metrics['model']['duration_mae_min']} min")
