"""``regioncare ledger ...``: mounted by the shared CLI as ``app.add_typer(app, name="ledger")``."""

from __future__ import annotations

import json
import sqlite3
import sys
from pathlib import Path
from typing import Any

import typer

from regioncare.errors import CheckFailed, UserError

app = typer.Typer(
    help="The record index, access grants and access log on the ledger.", no_args_is_help=True
)


def _settings(ctx: typer.Context) -> Any:
    obj = ctx.obj
    if obj is not None and hasattr(obj, "home"):
        return obj
    settings = getattr(obj, "settings", None) if obj is not None else None
    if settings is not None:
        return settings
    from regioncare.settings import Settings

    return Settings()  # type: ignore[call-arg]  # fields come from the environment


@app.command()
def verify(
    ctx: typer.Context,
    json_out: bool = typer.Option(False, "--json", help="print one JSON object as the last line"),
    records_dir: Path | None = typer.Option(
        None, help="record stores, <dir>/<INSTITUTION>/records.sqlite (default: settings)"
    ),
    ledger_dir: Path | None = typer.Option(None, help="ledger state (default: <home>/ledger)"),
    rpc_url: str | None = typer.Option(
        None, help="EVM JSON-RPC endpoint instead of the embedded chain"
    ),
    chain_sample: int = typer.Option(
        200, help="records re-read from the contract itself (-1: all)"
    ),
    debug: bool = typer.Option(False, "--debug", help="show tracebacks"),
) -> None:
    """Recompute every indexed record's hash at its holder; check the access log against
    the roots anchored on chain. Exit 0 ok, 1 mismatches (CheckFailed), 2 bad input
    (UserError); the shared CLI turns those into one line on stderr and the exit status."""
    from ledger.service import open_ledger
    from ledger.stores import store_lister
    from ledger.verify import verify as run_verify

    try:
        settings = _settings(ctx)
        lister = store_lister(records_dir or settings.records_dir)
        with open_ledger(settings, rpc_url=rpc_url, read_only=True, path=ledger_dir) as ledger:
            total = ledger.client.index.record_count()
            if json_out:
                report = run_verify(
                    ledger.client,
                    list_records=lister,
                    log=ledger.log.tree,
                    chain_sample=None if chain_sample < 0 else chain_sample,
                )
            else:
                from rich.progress import Progress

                with Progress(transient=True, console=_stderr_console()) as bar:
                    task = bar.add_task("verifying records", total=total)
                    report = run_verify(
                        ledger.client,
                        list_records=lister,
                        log=ledger.log.tree,
                        chain_sample=None if chain_sample < 0 else chain_sample,
                        progress=lambda n: bar.update(task, completed=n),
                    )
    except (sqlite3.Error, OSError, ValueError) as exc:  # unreadable input
        if debug:
            raise
        raise UserError(f"{type(exc).__name__}: {exc}") from None
    if json_out:
        typer.echo(json.dumps(report.to_dict(), sort_keys=True))
    else:
        typer.echo(
            f"records checked: {report.records_checked}  mismatches: "
            f"{len(report.mismatches)}  unindexed: {report.unindexed}"
        )
        for m in report.mismatches[:50]:
            typer.echo(f"  {m['holder']} {m['record_id']}: {m['reason']}")
        typer.echo(
            f"access log: {report.log_size} entries, {report.anchors_checked} anchors "
            f"checked, {'consistent' if report.log_consistent else 'INCONSISTENT'}"
        )
        for problem in report.log_problems:
            typer.echo(f"  {problem}")
    if not report.ok:
        problems = len(report.mismatches) + len(report.log_problems)
        raise CheckFailed(f"ledger verification found {problems} problem(s)")


@app.callback()
def main() -> None:
    """The ledger: record index, grants, access log."""


def _stderr_console() -> Any:
    from rich.console import Console

    return Console(file=sys.stderr)
