"""``create_user USERNAME --role R [--hospital CODE|--enterprise CODE|--region CODE] [--password P]``."""

from __future__ import annotations

import secrets

from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from parties.models import Role, User
from parties.services.users import user_create


def _one_line(error: ValidationError) -> str:
    if hasattr(error, "message_dict"):
        return "; ".join(f"{field}: {' '.join(map(str, msgs))}" for field, msgs in error.message_dict.items())
    return " ".join(str(m) for m in error.messages)


class Command(BaseCommand):
    help = "创建用户并关联机构 / create a user in its organisation (bureau created for a region if missing)"

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument("--role", required=True, choices=Role.values)
        org = parser.add_mutually_exclusive_group()
        org.add_argument("--hospital", metavar="CODE", help="医疗机构编码 / hospital code (role hospital)")
        org.add_argument("--enterprise", metavar="CODE", help="统一社会信用代码 / credit code (role enterprise)")
        org.add_argument("--region", metavar="CODE", help="区划代码 / region code (bureau roles)")
        parser.add_argument("--password", help="不填则生成并打印 / generated and printed when omitted")
        parser.add_argument("--email", default="")
        parser.add_argument("--name", default="", help="姓名 / full name")
        parser.add_argument("--superuser", action="store_true", help="同时设为超级用户 / also a superuser")
        parser.add_argument(
            "--no-password-check",
            action="store_true",
            help="跳过密码强度校验(仅限演示) / skip the password validators (demo only)",
        )

    def handle(self, *args, username, role, hospital, enterprise, region, password, email, name, superuser, **options):
        generated = password is None
        if generated:
            password = secrets.token_urlsafe(12)
        elif not options["no_password_check"]:
            try:
                validate_password(password, User(username=username, email=email))
            except ValidationError as exc:
                raise CommandError(f"password: {_one_line(exc)}") from None
        try:
            user = user_create(
                username=username,
                role=role,
                password=password,
                hospital_code=hospital,
                enterprise_code=enterprise,
                region_code=region,
                email=email,
                full_name=name,
                superuser=superuser,
            )
        except ValidationError as exc:
            raise CommandError(_one_line(exc)) from None
        org = user.organisation
        where = f" @ {org}" if org is not None else ""
        self.stdout.write(f"created {user.username} ({user.get_role_display()}){where}")
        if generated:
            self.stdout.write(f"password: {password}")
