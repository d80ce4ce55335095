"""The fund's double-entry ledger of direct settlement (DOMAIN.md "Money").

Chart of accounts (code, normal side, what a balance means; ``party`` says which
sub-ledger a line names):

==== =========================== ===== ========================================================
code account                     side  meaning (party)
==== =========================== ===== ========================================================
1001 基金结算户 BANK               Dr    the fund's settlement bank account
1122 应收医院托收款 COLLECTION       Dr    collection orders issued and not yet paid (hospital)
1123 医院预付金 PREPAYMENT          Dr    prepayments paid out into each hospital's prepayment
                                        account, not yet used, recovered or cleared (hospital)
2202 应付配送企业款 PAYABLE          Cr    approved batch lines not yet paid (distributor)
2241 应拨付医院款 ALLOCATION         Cr    fund allocations recognised less what batches deducted
                                        (hospital, period)
5001 医保基金支出 EXPENSE            Dr    what the fund has spent: allocations recognised, and
                                        settlement funded from a hospital's prepayment
==== =========================== ===== ========================================================

Movements (one balanced ``JournalEntry`` each; ``kind`` names it):

- allocation recognised:  Dr 5001 / Cr 2241 (hospital, period)
- prepayment paid out:    Dr 1123 (hospital) / Cr 1001
- batch approved+funded:  Cr 2202 per distributor (Σ its lines);
  Dr 2241 deducted per hospital (a net credit where red lines gave allocation back);
  Dr 1122 collected per hospital; Dr 5001 + Dr 1001 / Cr 1123 the part from the
  hospital's prepayment (spent from its prepayment account, through the bank)
- payment confirmed:      Dr 2202 (distributor) / Cr 1001
- collection paid:        Dr 1001 / Cr 1122 (hospital)
- prepayment recovered:   Dr 1001 / Cr 1123 (hospital)
- year-end clearing:      Dr 5001 / Cr 1122 and Dr 1001 / Cr 1123 (hospital): the
  remaining prepayment pays the hospital's open collection orders
- reversal:               the mirror of an earlier entry (corrections are new entries)

Entries and lines are immutable: ``save`` of an existing row, ``delete`` and queryset
``update``/``delete`` raise; on PostgreSQL a trigger refuses UPDATE/DELETE as well
(installed after migrate by ``install_immutability_triggers``, which also guards
approved batches and their lines).
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.db.models.signals import post_migrate
from django.utils.translation import gettext_lazy as _

from parties.models import Enterprise, Hospital
from procurement.models import amount_field

MSG_LEDGER_IMMUTABLE = _("已过账的分录不可修改或删除，请做冲销分录 / posted entries are immutable: post a reversal")


class Account(models.TextChoices):
    BANK = "1001", _("1001 基金结算户 / fund bank account")
    COLLECTION = "1122", _("1122 应收医院托收款 / collection receivable")
    PREPAYMENT = "1123", _("1123 医院预付金 / hospital prepayment")
    PAYABLE = "2202", _("2202 应付配送企业款 / payable to distributors")
    ALLOCATION = "2241", _("2241 应拨付医院款 / allocation payable to hospitals")
    EXPENSE = "5001", _("5001 医保基金支出 / fund expense")


# account → normal balance side ("D" debit, "C" credit).
NORMAL_SIDE = {
    Account.BANK: "D",
    Account.COLLECTION: "D",
    Account.PREPAYMENT: "D",
    Account.PAYABLE: "C",
    Account.ALLOCATION: "C",
    Account.EXPENSE: "D",
}


class EntryKind(models.TextChoices):
    ALLOCATION = "allocation", _("基金应拨付额确认 / fund allocation recognised")
    PREPAYMENT_PAID = "prepayment_paid", _("预付金拨付 / prepayment paid out")
    BATCH_FUNDED = "batch_funded", _("批次审核与资金来源 / batch approved and funded")
    PAYMENT = "payment", _("支付企业 / payment to distributor")
    COLLECTION_PAID = "collection_paid", _("托收到账 / collection paid")
    PREPAYMENT_RECOVERED = "prepayment_recovered", _("收回预付金 / prepayment recovered")
    PREPAYMENT_CLEARED = "prepayment_cleared", _("预付金年终清算 / prepayment cleared")
    REVERSAL = "reversal", _("冲销 / reversal")


class ImmutableQuerySet(models.QuerySet):
    def update(self, **kwargs):
        raise PermissionError(str(MSG_LEDGER_IMMUTABLE))

    def delete(self):
        raise PermissionError(str(MSG_LEDGER_IMMUTABLE))


class ImmutableModel(models.Model):
    objects = ImmutableQuerySet.as_manager()

    class Meta:
        abstract = True

    def save(self, *args, **kwargs):
        if self.pk is not None and not self._state.adding:
            raise PermissionError(str(MSG_LEDGER_IMMUTABLE))
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise PermissionError(str(MSG_LEDGER_IMMUTABLE))


class JournalEntry(ImmutableModel):
    """One money movement. ``key`` makes posting idempotent (one entry per source event)."""

    key = models.CharField(max_length=120, unique=True)  # e.g. "batch:JS2026000001", "payment:ZF2026000003"
    kind = models.CharField(max_length=24, choices=EntryKind.choices)
    posted_at = models.DateTimeField(auto_now_add=True, db_index=True)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    reason = models.TextField(blank=True, default="")
    batch = models.ForeignKey(
        "settlement.SettlementBatch", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    instruction = models.ForeignKey(
        "settlement.PaymentInstruction", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    collection = models.ForeignKey(
        "settlement.CollectionOrder", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    prepayment = models.ForeignKey(
        "procurement.Prepayment", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    reverses = models.OneToOneField("self", null=True, blank=True, on_delete=models.PROTECT, related_name="reversed_by")

    class Meta:
        verbose_name = _("记账凭证 / journal entry")
        verbose_name_plural = _("记账凭证 / journal entries")
        ordering = ["posted_at", "id"]


class JournalLine(ImmutableModel):
    """One side of an entry: an account, optionally a party, and a debit or a credit."""

    entry = models.ForeignKey(JournalEntry, on_delete=models.PROTECT, related_name="lines")
    account = models.CharField(max_length=4, choices=Account.choices)
    hospital = models.ForeignKey(Hospital, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    enterprise = models.ForeignKey(Enterprise, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    period = models.CharField(max_length=7, blank=True, default="")  # allocation month (2241 lines)
    debit = amount_field(_("借方 / debit"), default=0)
    credit = amount_field(_("贷方 / credit"), default=0)

    class Meta:
        verbose_name = _("分录行 / journal line")
        verbose_name_plural = _("分录行 / journal lines")
        constraints = [
            models.CheckConstraint(
                name="journal_line_one_side",
                condition=Q(debit__gt=0, credit=0) | Q(debit=0, credit__gt=0),
            ),
        ]
        indexes = [models.Index(fields=["account", "hospital"]), models.Index(fields=["account", "enterprise"])]


# --- PostgreSQL triggers: the database refuses what the models refuse ---------------

_TRIGGER_SQL = """
CREATE OR REPLACE FUNCTION jicai_refuse_change() RETURNS trigger AS $$
BEGIN
  RAISE EXCEPTION 'ledger rows are immutable (% on %)', TG_OP, TG_TABLE_NAME USING ERRCODE = '23514';
END; $$ LANGUAGE plpgsql;

DROP TRIGGER IF EXISTS journalentry_immutable ON settlement_journalentry;
CREATE TRIGGER journalentry_immutable BEFORE UPDATE OR DELETE ON settlement_journalentry
  FOR EACH ROW EXECUTE FUNCTION jicai_refuse_change();
DROP TRIGGER IF EXISTS journalline_immutable ON settlement_journalline;
CREATE TRIGGER journalline_immutable BEFORE UPDATE OR DELETE ON settlement_journalline
  FOR EACH ROW EXECUTE FUNCTION jicai_refuse_change();

CREATE OR REPLACE FUNCTION jicai_batch_guard() RETURNS trigger AS $$
BEGIN
  IF OLD.status IN ('approved', 'paid') THEN
    IF TG_OP = 'DELETE'
       OR NEW.status NOT IN ('approved', 'paid')
       OR NEW.amount <> OLD.amount OR NEW.deducted_amount <> OLD.deducted_amount
       OR NEW.prepayment_amount <> OLD.prepayment_amount OR NEW.collection_amount <> OLD.collection_amount
       OR NEW.line_count <> OLD.line_count OR NEW.approved_by_id <> OLD.approved_by_id
       OR NEW.created_by_id <> OLD.created_by_id OR NEW.cutoff <> OLD.cutoff OR NEW.region_id <> OLD.region_id THEN
      RAISE EXCEPTION 'an approved batch is immutable (% on %)', TG_OP, OLD.no USING ERRCODE = '23514';
    END IF;
  END IF;
  IF TG_OP = 'DELETE' THEN RETURN OLD; END IF;
  RETURN NEW;
END; $$ LANGUAGE plpgsql;
DROP TRIGGER IF EXISTS settlementbatch_guard ON settlement_settlementbatch;
CREATE TRIGGER settlementbatch_guard BEFORE UPDATE OR DELETE ON settlement_settlementbatch
  FOR EACH ROW EXECUTE FUNCTION jicai_batch_guard();

CREATE OR REPLACE FUNCTION jicai_batchline_guard() RETURNS trigger AS $$
DECLARE st text;
BEGIN
  -- Fast path (no look-up): the one write a line gets after creation, its funding once.
  IF TG_OP = 'UPDATE' AND NEW.amount = OLD.amount AND NEW.live = OLD.live
     AND NEW.invoice_line_id = OLD.invoice_line_id AND NEW.batch_id = OLD.batch_id
     AND (OLD.deducted_amount IS NULL OR (NEW.deducted_amount = OLD.deducted_amount
          AND NEW.prepayment_amount = OLD.prepayment_amount AND NEW.collection_amount = OLD.collection_amount)) THEN
    RETURN NEW;
  END IF;
  SELECT status INTO st FROM settlement_settlementbatch WHERE id = OLD.batch_id;
  IF st IN ('approved', 'paid') THEN
    IF TG_OP = 'DELETE'
       OR NEW.amount <> OLD.amount OR NEW.live <> OLD.live
       OR NEW.invoice_line_id <> OLD.invoice_line_id OR NEW.batch_id <> OLD.batch_id
       OR NEW.deducted_amount IS DISTINCT FROM OLD.deducted_amount
       OR NEW.prepayment_amount IS DISTINCT FROM OLD.prepayment_amount
       OR NEW.collection_amount IS DISTINCT FROM OLD.collection_amount THEN
      RAISE EXCEPTION 'lines of an approved batch are immutable (% on batch line %)', TG_OP, OLD.id
        USING ERRCODE = '23514';
    END IF;
  END IF;
  IF TG_OP = 'DELETE' THEN RETURN OLD; END IF;
  RETURN NEW;
END; $$ LANGUAGE plpgsql;
DROP TRIGGER IF EXISTS batchline_guard ON settlement_batchline;
CREATE TRIGGER batchline_guard BEFORE DELETE ON settlement_batchline
  FOR EACH ROW EXECUTE FUNCTION jicai_batchline_guard();
-- The fast path again as the trigger's WHEN (evaluated without calling the function): the
-- funding write of a whole batch costs no PL/pgSQL call per row.
DROP TRIGGER IF EXISTS batchline_guard_update ON settlement_batchline;
CREATE TRIGGER batchline_guard_update BEFORE UPDATE ON settlement_batchline
  FOR EACH ROW WHEN ((NEW.amount = OLD.amount AND NEW.live = OLD.live
     AND NEW.invoice_line_id = OLD.invoice_line_id AND NEW.batch_id = OLD.batch_id
     AND (OLD.deducted_amount IS NULL OR (NEW.deducted_amount = OLD.deducted_amount
          AND NEW.prepayment_amount = OLD.prepayment_amount AND NEW.collection_amount = OLD.collection_amount))) IS NOT TRUE)
  EXECUTE FUNCTION jicai_batchline_guard();

-- A batch line's batch and invoice line, checked per statement instead of per row (the
-- columns carry no foreign-key constraint: settlement.models.batches.BatchLine); neither
-- column ever changes; a batch or an invoice line that batch lines name cannot be deleted.
-- The batches: the few distinct ids named, each probed once. The invoice lines: one
-- anti-join over the rows the INSERT added. For a province batch (2.76M lines at L) the
-- planner probes the invoice-line key once per row (2.5 s); a merge of the sorted ids with
-- that key takes 1.2 s, so a large statement is planned afresh (EXECUTE) without nested
-- loops or hashing, the settings restored after. (One query joined by OR: 4.1 s.) The
-- size from which it does so is jicai.batchline_merge_above (rows; tests set it to 0).
CREATE OR REPLACE FUNCTION jicai_batchline_parents() RETURNS trigger AS $$
DECLARE
  missing boolean;
  nestloop text := current_setting('enable_nestloop');
  hashjoin text := current_setting('enable_hashjoin');
BEGIN
  IF EXISTS (SELECT 1 FROM (SELECT DISTINCT batch_id FROM jicai_new_lines) n
             WHERE NOT EXISTS (SELECT 1 FROM settlement_settlementbatch b WHERE b.id = n.batch_id)) THEN
    missing := true;
  ELSIF (SELECT count(*) FROM jicai_new_lines)
        > COALESCE(NULLIF(current_setting('jicai.batchline_merge_above', true), '')::bigint, 100000) THEN
    PERFORM set_config('enable_nestloop', 'off', true), set_config('enable_hashjoin', 'off', true);
    EXECUTE 'SELECT EXISTS (SELECT 1 FROM jicai_new_lines n WHERE NOT EXISTS '
            '(SELECT 1 FROM settlement_invoiceline i WHERE i.id = n.invoice_line_id))' INTO missing;
    PERFORM set_config('enable_nestloop', nestloop, true), set_config('enable_hashjoin', hashjoin, true);
  ELSE
    missing := EXISTS (SELECT 1 FROM jicai_new_lines n
                       WHERE NOT EXISTS (SELECT 1 FROM settlement_invoiceline i WHERE i.id = n.invoice_line_id));
  END IF;
  IF missing THEN
    RAISE EXCEPTION 'a batch line names an invoice line or a batch that does not exist'
      USING ERRCODE = '23503';
  END IF;
  RETURN NULL;
END; $$ LANGUAGE plpgsql;
DROP TRIGGER IF EXISTS batchline_parents ON settlement_batchline;
CREATE TRIGGER batchline_parents AFTER INSERT ON settlement_batchline
  REFERENCING NEW TABLE AS jicai_new_lines FOR EACH STATEMENT EXECUTE FUNCTION jicai_batchline_parents();

CREATE OR REPLACE FUNCTION jicai_batchline_parents_fixed() RETURNS trigger AS $$
BEGIN
  RAISE EXCEPTION 'a batch line keeps its batch and invoice line (batch line %)', OLD.id USING ERRCODE = '23514';
END; $$ LANGUAGE plpgsql;
DROP TRIGGER IF EXISTS batchline_parents_fixed ON settlement_batchline;
CREATE TRIGGER batchline_parents_fixed BEFORE UPDATE ON settlement_batchline
  FOR EACH ROW WHEN (NEW.invoice_line_id <> OLD.invoice_line_id OR NEW.batch_id <> OLD.batch_id)
  EXECUTE FUNCTION jicai_batchline_parents_fixed();

CREATE OR REPLACE FUNCTION jicai_batchline_parent_kept() RETURNS trigger AS $$
BEGIN
  IF (TG_TABLE_NAME = 'settlement_invoiceline'
      AND EXISTS (SELECT 1 FROM jicai_old_rows o JOIN settlement_batchline l ON l.invoice_line_id = o.id))
     OR (TG_TABLE_NAME = 'settlement_settlementbatch'
      AND EXISTS (SELECT 1 FROM jicai_old_rows o JOIN settlement_batchline l ON l.batch_id = o.id)) THEN
    RAISE EXCEPTION 'batch lines still name a deleted row of %', TG_TABLE_NAME USING ERRCODE = '23503';
  END IF;
  RETURN NULL;
END; $$ LANGUAGE plpgsql;
DROP TRIGGER IF EXISTS invoiceline_batchline_kept ON settlement_invoiceline;
CREATE TRIGGER invoiceline_batchline_kept AFTER DELETE ON settlement_invoiceline
  REFERENCING OLD TABLE AS jicai_old_rows FOR EACH STATEMENT EXECUTE FUNCTION jicai_batchline_parent_kept();
DROP TRIGGER IF EXISTS settlementbatch_batchline_kept ON settlement_settlementbatch;
CREATE TRIGGER settlementbatch_batchline_kept AFTER DELETE ON settlement_settlementbatch
  REFERENCING OLD TABLE AS jicai_old_rows FOR EACH STATEMENT EXECUTE FUNCTION jicai_batchline_parent_kept();
"""


# A batch's whole line set is read through a BRIN index on batch_id (no B-tree leads with
# batch: settlement.models.batches.BatchLine): one INSERT writes a batch's lines into pages
# of their own, so the index is nearly exact and costs next to nothing to keep
# (batch_create summarises the new pages; VACUUM those a funding split anew adds). Not
# autosummarize: a province batch crosses ~1,300 page ranges in one INSERT, autovacuum's
# queue holds 256 requests, and each refused one logged a line with the whole statement.
# Installed here rather than in a migration so that a schema built from the models has it too.
# (Lines are written once and not updated after, but for a funding split anew at approval:
# their pages are filled, the default fillfactor; migration 0009.)
BATCH_LINE_BRIN = "settlement_batchline_batch_brin"


def install_immutability_triggers(connection) -> bool:
    """Create (or replace) the PostgreSQL triggers, and the batch lines' BRIN index; a
    no-op elsewhere. True when installed.

    The index is created only when missing, and a failure to create it is raised, not
    passed over: a migrate that ends without the index would leave batch_create to fail
    later. (Tests call this inside a transaction with pending trigger events, where
    CREATE INDEX is refused; there it exists.)

    TRUNCATE (test flushes) does not fire row triggers, so tests can still reset tables.
    """
    if connection.vendor != "postgresql":
        return False
    from settlement.models.alerts import ALERT_TALLY_SQL

    with connection.cursor() as cursor:
        cursor.execute(_TRIGGER_SQL)
        cursor.execute(ALERT_TALLY_SQL)
        cursor.execute(
            "SELECT to_regclass(%s) IS NOT NULL, "
            "COALESCE((SELECT 'autosummarize=on' = ANY(reloptions) FROM pg_class WHERE oid = to_regclass(%s)), false)",
            [BATCH_LINE_BRIN, BATCH_LINE_BRIN],
        )
        exists, autosummarized = cursor.fetchone()
        if not exists:
            cursor.execute(
                f"CREATE INDEX {BATCH_LINE_BRIN} ON settlement_batchline USING brin (batch_id) "
                "WITH (pages_per_range = 32, autosummarize = off)"
            )
        elif autosummarized:  # created so before
            cursor.execute(f"ALTER INDEX {BATCH_LINE_BRIN} SET (autosummarize = off)")
    return True


def _install_after_migrate(sender, using="default", **kwargs):
    if getattr(sender, "name", "") != "settlement":
        return
    from django.db import connections

    install_immutability_triggers(connections[using])


post_migrate.connect(_install_after_migrate, dispatch_uid="settlement_ledger_immutability_triggers")
