"""Create the first admin if there is none, with a random password printed once."""

import secrets

from django.core.management.base import BaseCommand
from django.db import transaction

from accounts.models import User


class Command(BaseCommand):
    help = "Create the first admin (random password, printed once) if no admin exists."

    def add_arguments(self, parser):
        parser.add_argument("--email", default="admin@localhost")

    @transaction.atomic
    def handle(self, *args, email: str, **options):
        if (
            User.objects.filter(groups__name="admin").exists()
            or User.objects.filter(is_superuser=True).exists()
        ):
            self.stdout.write("An admin exists already; nothing to do.")
            return
        password = secrets.token_urlsafe(18)
        User.objects.create_superuser(email=email, password=password)
        self.stdout.write(
            self.style.SUCCESS(
                "Created the first admin. This password is shown once; change it after "
                f"signing in.\n  email:    {email}\n  password: {password}"
            )
        )
