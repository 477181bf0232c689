"""Configuration for `rq cron --path tenantry/platform/rq_cron.py`: the sweep every minute."""

from rq import cron

from tenantry.platform.jobs import execute

cron.register(
    execute,
    queue_name="maintenance",
    args=("tenantry.platform.cron:sweep_job", None, {}),
    interval=60,
    name="tenantry-sweep",
)
