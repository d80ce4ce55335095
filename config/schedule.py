"""Celery beat schedule, declared in code (INTERFACES.md "Running parts": alert scan
daily, price scan daily, agreement progress monthly). Times are Asia/Shanghai
(CELERY_TIMEZONE). Every scheduled task is idempotent: a beat that fires twice, or a
worker that reruns a lost message, changes nothing the second time.
"""

from celery.schedules import crontab

CELERY_BEAT_SCHEDULE = {
    # Late payment, receipts, statements, collections, agreements and supply (settlement.tasks.alerts).
    "alerts-scan-daily": {
        "task": "settlement.alerts_scan_daily",
        "schedule": crontab(hour=1, minute=30),
    },
    # Price rules for the current month (and the previous one early in a month).
    "prices-scan-daily": {
        "task": "price_monitor.price_scan_daily",
        "schedule": crontab(hour=3, minute=0),
    },
    # Agreement progress on the 1st: the month's AGREEMENT_BEHIND verdicts (the daily scan
    # also keeps them current; this run marks the monthly assessment even if a day was missed).
    "agreement-progress-monthly": {
        "task": "settlement.alerts_scan_daily",
        "schedule": crontab(hour=2, minute=30, day_of_month=1),
        "kwargs": {"kinds": ["AGREEMENT_BEHIND"]},
    },
}
