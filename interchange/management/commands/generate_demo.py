"""manage.py generate_demo --scale S|M|L --seed N --out DIR [--months K]"""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from interchange.synthetic import generate
from interchange.synthetic.scales import SCALES


class Command(BaseCommand):
    help = "Write a synthetic province as interchange CSV files, with faults.csv and manifest.json."

    def add_arguments(self, parser):
        parser.add_argument("--scale", choices=sorted(SCALES), default="S")
        parser.add_argument("--seed", type=int, default=0)
        parser.add_argument("--out", required=True, help="directory to write <table>.csv into")
        parser.add_argument("--months", type=int, default=None, help="months of orders (default: the scale's)")

    def handle(self, *args, **opts):
        try:
            result = generate(opts["out"], scale=opts["scale"], seed=opts["seed"], months=opts["months"])
        except (ValueError, OSError) as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(
            f"scale {result.scale}, seed {result.seed}, months {', '.join(result.months)}, as of {result.as_of}"
        )
        for table, count in result.row_counts.items():
            self.stdout.write(f"  {table + '.csv':<24}{count:>12,}")
        self.stdout.write(f"  {'faults.csv':<24}{sum(result.fault_counts.values()):>12,}")
        timings = ", ".join(f"{k} {v:.1f}s" for k, v in result.timings.items())
        self.stdout.write(f"time: {sum(result.timings.values()):.1f}s ({timings})")
        self.stdout.write(self.style.SUCCESS(f"written to {result.out_dir}"))
