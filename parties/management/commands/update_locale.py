"""``update_locale``: refresh ``locale/en/LC_MESSAGES/django.po`` and compile it.

1. ``makemessages -l en`` over the project (hand-written translations already in the
   file are kept by msgmerge);
2. empty translations are filled: the short labels of the shell from ``SHORT_LABELS``,
   and every bilingual ``"中文 / English"`` string with its English half — so English
   mode shows English, not both;
3. ``compilemessages`` for ``en``.

Menu labels are short Chinese (``_("对账单")``): give their English here or in the .po.
"""

from __future__ import annotations

import re
from pathlib import Path

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand

IGNORE = [".venv", ".venv/*", "tests/*", "staticfiles/*", "var/*", "demo_data/*", "node_modules/*"]
PO_PATH = Path(settings.BASE_DIR) / "locale" / "en" / "LC_MESSAGES" / "django.po"

SHORT_LABELS = {
    # shell (base.html, login, home)
    "集采结算系统": "Procurement Settlement",
    "菜单": "Menu",
    "语言": "Language",
    "切换": "Switch",
    "通知": "Notifications",
    "未读通知": "Unread notifications",
    "退出": "Log out",
    "登录": "Log in",
    "用户名": "Username",
    "密码": "Password",
    "用户名或密码错误，或尝试次数过多已被锁定。": "Wrong username or password, or locked after too many attempts.",
    "账户已锁定": "Account locked",
    "返回登录": "Back to login",
    "角色": "Role",
    "首页": "Home",
    "系统管理": "Administration",
    "简体中文": "简体中文",
    # menu entries of the features (parties/web/navigation.py)
    "预警": "Alerts",
    "约定量进度": "Agreement progress",
    "托收单": "Collections",
    "预付金": "Prepayments",
    "收货验收": "Receipts",
    "发票明细进度": "Invoice lines",
    "逾期付款看板": "Late-payment board",
    "通报名单": "Notices",
    "支付指令": "Payment instructions",
    "价格指数": "Price index",
    "信用评价": "Credit ratings",
    # home cards per role
    "应收账款": "Receivables",
    "回款记录": "Payments received",
    "异议": "Disputes",
    "验收入库": "Receipts",
    "对账单": "Statements",
    "协议完成进度": "Agreement progress",
    "结算批次": "Settlement batches",
    "支付": "Payments",
    "逾期督办": "Late payments",
    "批次审核": "Batch review",
    "台账": "Ledger",
    "价格预警": "Price alerts",
    "价格走势": "Price trends",
    "监测报告": "Monitoring report",
    "主数据": "Master data",
    "用户": "Users",
    "审计": "Audit",
}

_ENTRY_SPLIT = re.compile(r"\n\n+")
_PLACEHOLDER = re.compile(r"%(?:\([^)]+\))?[sdif]|\{[^}]*\}")


def _unquote(lines: list[str]) -> str:
    return "".join(
        bytes(line.strip()[1:-1], "utf-8").decode("unicode_escape").encode("latin-1").decode("utf-8") for line in lines
    )


def _quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def english_for(msgid: str) -> str | None:
    """The translation to fill in for ``msgid``, or None to leave it empty."""
    if msgid in SHORT_LABELS:
        return SHORT_LABELS[msgid]
    if msgid.count(" / ") != 1:
        return None
    _zh, en = (part.strip() for part in msgid.split(" / "))
    if not en or sorted(_PLACEHOLDER.findall(en)) != sorted(_PLACEHOLDER.findall(msgid)):
        return None
    return en


def fill_entry(entry: str) -> str:
    lines = entry.split("\n")
    if any(line.startswith(("msgid_plural", "#~")) for line in lines):
        return entry
    try:
        i_id = next(i for i, line in enumerate(lines) if line.startswith("msgid "))
        i_str = next(i for i, line in enumerate(lines) if line.startswith("msgstr "))
    except StopIteration:
        return entry
    msgid = _unquote([lines[i_id][len("msgid ") :], *lines[i_id + 1 : i_str]])
    msgstr = _unquote([lines[i_str][len("msgstr ") :], *lines[i_str + 1 :]])
    fuzzy = any(line.startswith("#,") and "fuzzy" in line for line in lines)
    if not msgid or (msgstr and not fuzzy):
        return entry
    english = english_for(msgid)
    head = [
        line for line in lines[:i_id] if not (line.startswith("#,") and "fuzzy" in line) and not line.startswith("#|")
    ]
    if english is None:
        return "\n".join([*head, *lines[i_id:i_str], 'msgstr ""'])
    return "\n".join([*head, *lines[i_id:i_str], f"msgstr {_quote(english)}"])


def fill_header(header: str) -> str:
    lines = [line for line in header.split("\n") if line != "#, fuzzy"]
    return "\n".join('"Language: en\\n"' if line == '"Language: \\n"' else line for line in lines)


def fill_po(path: Path) -> int:
    text = path.read_text(encoding="utf-8")
    entries = _ENTRY_SPLIT.split(text.strip("\n"))
    filled = [fill_header(entries[0]), *(fill_entry(e) for e in entries[1:])]  # the first entry is the header
    path.write_text("\n\n".join(filled) + "\n", encoding="utf-8")
    return sum(1 for a, b in zip(entries[1:], filled[1:], strict=True) if a != b)


class Command(BaseCommand):
    help = "更新并编译英文翻译 / refresh and compile locale/en"

    def handle(self, *args, **options):
        import os

        cwd = os.getcwd()
        os.chdir(settings.BASE_DIR)
        try:
            PO_PATH.parent.mkdir(parents=True, exist_ok=True)
            call_command("makemessages", locale=["en"], ignore_patterns=IGNORE, no_obsolete=True, verbosity=0)
            changed = fill_po(PO_PATH)
            call_command("compilemessages", locale=["en"], ignore_patterns=IGNORE, verbosity=0)
        finally:
            os.chdir(cwd)
        self.stdout.write(f"{PO_PATH.relative_to(settings.BASE_DIR)}: {changed} translations filled, compiled")
