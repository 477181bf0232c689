"""The `flask tenantry ...` command group; each area adds its own commands to it."""

from __future__ import annotations

import time
from datetime import datetime

import click
from flask.cli import AppGroup

from tenantry.platform import clock, cron

tenantry_cli = AppGroup("tenantry", help="Tenantry operations.")


def parse_when(value: str | None) -> datetime | None:
    if not value:
        return None
    parsed = datetime.fromisoformat(value)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=clock.now().tzinfo)


@tenantry_cli.command("sweep")
@click.option("--as-of", help="ISO date-time to act as if it were now (UTC unless an offset is given).")
@click.option("--every", type=int, default=0, help="Repeat every N seconds (the `make run` loop).")
def sweep_command(as_of: str | None, every: int) -> None:
    """Do whatever is due: resend failed notices, deadlines, reminders, purges."""
    while True:
        results = cron.sweep(parse_when(as_of))
        click.echo(" ".join(f"{k}={v}" for k, v in results.items()) or "nothing registered")
        if not every:
            return
        time.sleep(every)
