"""Start-up checks that refuse an insecure production configuration."""

from django.conf import settings
from django.core.checks import Error, Tags, register


@register(Tags.security, deploy=False)
def insecure_defaults(app_configs, **kwargs):
    if settings.DEBUG:
        return []
    errors = []
    if getattr(settings, "SECRET_KEY_IS_GENERATED", False):
        errors.append(
            Error(
                "SECRET_KEY is the development key generated into var/.",
                hint="Set SECRET_KEY in the environment (50+ random characters).",
                id="roster.E001",
            )
        )
    if getattr(settings, "ALLOWED_HOSTS_IS_DEFAULT", False):
        errors.append(
            Error(
                "ALLOWED_HOSTS is not set.",
                hint="Set ALLOWED_HOSTS to the host names Roster is served under.",
                id="roster.E002",
            )
        )
    if getattr(settings, "JWT_KEYS_ARE_GENERATED", False):
        errors.append(
            Error(
                "The JWT signing key is the development key generated into var/.",
                hint="Set JWT_PRIVATE_KEY or JWT_PRIVATE_KEY_FILE (RSA PEM).",
                id="roster.E003",
            )
        )
    if getattr(settings, "CREDENTIAL_KEYS_ARE_GENERATED", False):
        errors.append(
            Error(
                "The slot credential encryption key is the development key generated into var/.",
                hint="Set CREDENTIAL_ENCRYPTION_KEYS (Fernet keys, newest first).",
                id="roster.E004",
            )
        )
    return errors
