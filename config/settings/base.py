"""Settings shared by every environment. Everything that differs comes from the environment.

Policy numbers of DOMAIN.md live in ``POLICY`` (with per-region overrides in
``POLICY_REGION_OVERRIDES``); read them through ``parties.policy.policy_value``.
"""

from decimal import Decimal
from pathlib import Path

import dj_database_url
from django.utils.translation import gettext_lazy as _

from config.env import env, env_bool, env_list

BASE_DIR = Path(__file__).resolve().parent.parent.parent

SECRET_KEY = env("DJANGO_SECRET_KEY", "dev-only-insecure-key-change-me")  # noqa: S105 - overridden in production
DEBUG = env_bool("DJANGO_DEBUG", False)
ALLOWED_HOSTS = env_list("DJANGO_ALLOWED_HOSTS", ["localhost", "127.0.0.1", "[::1]", "testserver"])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework.authtoken",
    "drf_spectacular",
    "djmoney",
    "axes",
    "parties",
    "procurement",
    "settlement",
    "price_monitor",
    "interchange",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "interchange.middleware.RejectNulMiddleware",  # NUL in a parameter → 400, never a 500
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "parties.middleware.SecurityEventMiddleware",  # every 403 → security log + SecurityEvent
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Last, as django-axes asks: it turns a locked-out login into a refusal.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "parties.web.context.shell",  # menu and unread-notification count of base.html
            ],
        },
    },
]

DATABASES = {
    "default": dj_database_url.parse(
        env("DATABASE_URL", f"sqlite:///{BASE_DIR / 'db.sqlite3'}"),
        conn_max_age=int(env("DB_CONN_MAX_AGE", "0")),
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # WAL lets the web server read while an import writes; a generous timeout
    # instead of "database is locked" under the eager task runner.
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {"timeout": 30, "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;"}
    )

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
# Covering indexes (Index.include) are a PostgreSQL read path; SQLite builds the same index
# without the included columns, which is what this warning says.
SILENCED_SYSTEM_CHECKS = ["models.W040"]
AUTH_USER_MODEL = "parties.User"

AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"

# Login throttling (django-axes): lock a username+IP after 5 failures for an hour.
AXES_FAILURE_LIMIT = int(env("AXES_FAILURE_LIMIT", "5"))
AXES_COOLOFF_TIME = float(env("AXES_COOLOFF_HOURS", "1"))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_CALLABLE = "parties.web.views.lockout_response"  # bilingual page; error shape under /api/

LANGUAGE_CODE = "zh-hans"
LANGUAGES = [("zh-hans", _("简体中文")), ("en", _("English"))]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = "Asia/Shanghai"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]

# django-money: one currency in this system.
CURRENCIES = ("CNY",)
DEFAULT_CURRENCY = "CNY"
CURRENCY_CHOICES = [("CNY", "人民币 CNY")]

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_PAGINATION_CLASS": "interchange.api.pagination.StandardPagination",
    "PAGE_SIZE": 50,
    "DEFAULT_FILTER_BACKENDS": [],
    "EXCEPTION_HANDLER": "interchange.api.errors.exception_handler",
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "COERCE_DECIMAL_TO_STRING": True,
    "DEFAULT_THROTTLE_CLASSES": ["rest_framework.throttling.UserRateThrottle"],
    "DEFAULT_THROTTLE_RATES": {"user": env("API_USER_RATE", "100000/hour")},
}
SPECTACULAR_SETTINGS = {
    "TITLE": "集采结算系统 API / Volume-based procurement settlement API",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "COMPONENT_SPLIT_REQUEST": True,
    # Several components have a "kind"/"status" field with different choices: name each set.
    "ENUM_NAME_OVERRIDES": {
        "InvoiceKindEnum": "settlement.models.invoices.InvoiceKind",
        "AlertKindEnum": "settlement.models.alerts.AlertKind",
        "AlertStatusEnum": "settlement.models.alerts.AlertStatus",
        "StatementStatusEnum": "settlement.models.statements.StatementStatus",
    },
}

# Celery: eager (inline) by default so the embedded setup needs no broker.
_BROKER = env("CELERY_BROKER_URL", "")
CELERY_TASK_ALWAYS_EAGER = not _BROKER
# Eager mode still makes a producer to learn the serializer: the in-memory transport keeps
# it from looking for a broker on localhost (and from warning that none was named).
CELERY_BROKER_URL = _BROKER or "memory://localhost/"
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_RESULT_BACKEND = env("CELERY_RESULT_BACKEND", "")
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
# A message whose worker died unacknowledged goes back to the queue after this many
# seconds (Redis broker); tasks are idempotent, so redelivery is safe.
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "visibility_timeout": int(env("CELERY_VISIBILITY_TIMEOUT", "3600")),
    # How often a worker sweeps for such messages: every interval × throttle seconds.
    "unacked_restore_interval": int(env("CELERY_RESTORE_INTERVAL", "10")),
    "unacked_restore_throttle": int(env("CELERY_RESTORE_THROTTLE", "10")),
}
CELERY_TIMEZONE = TIME_ZONE
# Beat schedule (daily alert and price scans, monthly agreement progress) is declared in code:
from config.schedule import CELERY_BEAT_SCHEDULE  # noqa: E402,F401

EMAIL_BACKEND = env("EMAIL_BACKEND", "django.core.mail.backends.console.EmailBackend")
DEFAULT_FROM_EMAIL = env("DEFAULT_FROM_EMAIL", "jicai@localhost")

# Where import error reports go when the input's folder is not writable.
IMPORT_REPORT_DIR = Path(env("IMPORT_REPORT_DIR", str(BASE_DIR / "var" / "import_reports")))

# Invoice lines per pass of a whole reconcile (settlement.services.matching.reconcile_passes):
# fewer passes read the line tables fewer times; the pass's frame peaks at ~2.5 KB per line.
RECONCILE_PASS_LINES = int(env("RECONCILE_PASS_LINES", "500000"))

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "loggers": {
        "security": {"handlers": ["console"], "level": "INFO", "propagate": False},
        "django.security": {"handlers": ["console"], "level": "WARNING"},
        "axes": {"handlers": ["console"], "level": "WARNING"},
    },
    "root": {"handlers": ["console"], "level": env("LOG_LEVEL", "WARNING")},
}

# ---------------------------------------------------------------------------
# Policy (DOMAIN.md). Money as Decimal; days as int. Sources in comments.
# ---------------------------------------------------------------------------
POLICY = {
    # 国办发〔2015〕7号: pay within 30 days of acceptance.
    "PAYMENT_TERM_DAYS": 30,
    # "days" (acceptance + PAYMENT_TERM_DAYS) or "end_of_next_month" (次月底).
    "PAYMENT_TERM_RULE": "days",
    "DUE_SOON_DAYS": 7,
    "RECEIPT_CONFIRM_DAYS": 5,
    "STATEMENT_CONFIRM_DAY": 5,
    "COLLECTION_TERM_DAYS": 15,
    # Days from batch approval to the bank executing its instructions (expected pay date shown to enterprises).
    "BANK_PAYMENT_DAYS": 1,
    "SUPPLY_DELAY_HOURS": 48,
    # 医保办函〔2024〕101号: prepay at least 30% of the annual agreed amount.
    "PREPAYMENT_RATE": Decimal("0.30"),
    "AMOUNT_TOLERANCE": Decimal("0.01"),
    "AGREEMENT_LAG": Decimal("0.10"),
    "REFERENCE_TOLERANCE": Decimal("0.05"),
    "SPIKE_THRESHOLD": Decimal("0.20"),
    "OUTLIER_Z": Decimal("3.5"),
    "OUTLIER_MIN_HOSPITALS": 5,
    "OUTLIER_MAD_ZERO_RATIO": Decimal("1.10"),
    "HIGH_VALUE_PRICE": Decimal("1000.00"),
    "OVERDUE_SEVERITY_MEDIUM_MAX_DAYS": 15,
    "OVERDUE_SEVERITY_HIGH_MAX_DAYS": 60,
    # 结余留用 share by assessment grade.
    "RETAINED_SHARE_BY_GRADE": {"A": Decimal("0.50"), "B": Decimal("0.40"), "C": Decimal("0.30"), "D": Decimal("0")},
}
# region_code → {name: value}; the most specific covering region wins (parties.policy).
# Example: {"371000": {"PAYMENT_TERM_RULE": "end_of_next_month", "PREPAYMENT_RATE": Decimal("0.50")}}
POLICY_REGION_OVERRIDES: dict[str, dict] = {}
