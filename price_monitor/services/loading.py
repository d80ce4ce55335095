"""Bulk writes of reference prices from imports (master data: updated in place, audited)."""

from __future__ import annotations

import pandas as pd
from django.db import transaction

from interchange.bulk import bulk_create_frame, bulk_update_frame, dates, decimals
from parties.models import User
from parties.services.loading import audit_entries_create, created_changes, updated_changes
from price_monitor.models import ReferencePrice

PRICE = 4  # 1/10000 yuan
KEY = ["product_code", "source", "region_code", "effective_from"]
FIELDS = {"price": "price"}


def _rows(frame: pd.DataFrame) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "product_id": frame["product_code"],
            "source": frame["source"],
            "region_id": frame["region_code"],
            "price": frame["price"],
            "effective_from": frame["effective_from"],
        }
    )


def _ids(frame: pd.DataFrame) -> pd.Series:
    """Natural key "product/source/region/date" → primary key, for the rows of ``frame``."""
    if frame.empty:
        return pd.Series(dtype=object)
    qs = ReferencePrice.objects.filter(product_id__in=frame["product_code"].unique().tolist()).values_list(
        "product_id", "source", "region_id", "effective_from", "id"
    )
    return pd.Series({f"{p}/{s}/{r}/{d.isoformat()}": i for p, s, r, d, i in qs}, dtype=object)


@transaction.atomic
def reference_prices_upsert(
    *, create: pd.DataFrame, update: pd.DataFrame, changes: list[dict], source: str, user: User | None
) -> tuple[int, int]:
    conv = {"price": decimals(PRICE), "effective_from": dates}
    bulk_create_frame(ReferencePrice, _rows(create), conv)
    touched = pd.concat([create, update]) if not update.empty else create
    ids = _ids(touched)
    if not update.empty:
        keys = update[KEY].astype(str).agg("/".join, axis=1)
        rows = pd.DataFrame({"id": keys.map(ids), "price": update["price"]})
        bulk_update_frame(ReferencePrice, rows, ["price"], {"price": decimals(PRICE)})
    audit_entries_create(
        model=ReferencePrice._meta.label,
        created=[(str(ids[k]), ch) for k, ch in created_changes(create, FIELDS, KEY)],
        updated=[(str(ids[c[0]]), c[1]) for c in updated_changes(changes, FIELDS)],
        source=source,
        user=user,
    )
    return len(create), len(update)
