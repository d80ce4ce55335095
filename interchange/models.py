"""Records of the exchange itself: API idempotency keys (imports add their runs here)."""

from django.conf import settings
from django.db import models


class IdempotencyRecord(models.Model):
    """The first answer to a POST carrying an ``Idempotency-Key``, replayed for repeats."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    key = models.CharField(max_length=200)
    method = models.CharField(max_length=10)
    path = models.CharField(max_length=500)
    request_hash = models.CharField(max_length=64)  # sha256 of the body
    status_code = models.PositiveSmallIntegerField()
    response = models.JSONField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "key"], name="idempotency_key_per_user")]


class ImportRun(models.Model):
    """One import of one file: who, when, what came of it (counts) and where the report is."""

    class Status(models.TextChoices):
        APPLIED = "applied", "已导入 / applied"  # rows written (lenient: the valid ones)
        REJECTED = "rejected", "已拒绝 / rejected"  # nothing written

    table = models.CharField(max_length=40)
    file_name = models.CharField(max_length=500)
    source = models.CharField(max_length=200, blank=True, default="")  # "import:<file>", "api:<file>"
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    lenient = models.BooleanField(default=False)
    status = models.CharField(max_length=10, choices=Status.choices)
    reason = models.CharField(max_length=500, blank=True, default="")  # one line, when rejected
    started_at = models.DateTimeField()
    finished_at = models.DateTimeField(auto_now_add=True)
    read = models.PositiveIntegerField(default=0)
    created = models.PositiveIntegerField(default=0)
    updated = models.PositiveIntegerField(default=0)
    unchanged = models.PositiveIntegerField(default=0)
    rejected = models.PositiveIntegerField(default=0)
    report_path = models.CharField(max_length=1000, blank=True, default="")
    warnings = models.JSONField(default=list)

    class Meta:
        ordering = ["-started_at", "-id"]
        indexes = [models.Index(fields=["table", "started_at"])]
