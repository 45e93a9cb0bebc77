from __future__ import annotations

from django.contrib.auth.base_user import BaseUserManager

# accounts.roles is imported inside the methods below, a real cycle: accounts.models imports
# this module to define User, and accounts.roles imports accounts.models.


def normalize_email(email: str) -> str:
    """Emails are compared and stored lower-cased and trimmed."""
    return (email or "").strip().lower()


class UserManager(BaseUserManager):
    use_in_migrations = True

    def get_by_natural_key(self, email):
        return self.get(email__iexact=normalize_email(email))

    def _create_user(
        self,
        email: str,
        password: str | None,
        *,
        password_hash: str | None = None,
        unique_checked: bool = False,
        **extra,
    ):
        """``password_hash`` is a password already hashed (``make_password``), so that a
        caller can do the argon2 work before opening its transaction: on SQLite a
        write transaction holds the database's one write lock until it commits.

        ``unique_checked``: the caller has checked that the email address and the username
        are free and turns the database's refusal (``IntegrityError``, a concurrent
        creation) into its answer, as sign-up does; the fields are still validated, but the
        uniqueness and the model's constraints are left to the database instead of being
        asked again (five queries before the insert)."""
        if not email:
            raise ValueError("An email address is required.")
        username = (extra.pop("username", None) or "").strip() or None
        user = self.model(email=normalize_email(email), username=username, **extra)
        if password_hash is not None:
            user.password = password_hash
        elif password:
            user.set_password(password)
        else:
            user.set_unusable_password()
        user.full_clean(
            exclude=["password"],
            validate_unique=not unique_checked,
            validate_constraints=not unique_checked,
        )
        user.save(using=self._db)
        from accounts.roles import assign_default_role

        assign_default_role(user)
        return user

    def create_user(self, email: str, password: str | None = None, **extra):
        extra.setdefault("is_staff", False)
        extra.setdefault("is_superuser", False)
        return self._create_user(email, password, **extra)

    def create_superuser(self, email: str, password: str | None = None, **extra):
        extra["is_staff"] = True
        extra["is_superuser"] = True
        user = self._create_user(email, password, **extra)
        from accounts.roles import assign_roles

        assign_roles(user, ["admin"])
        return user
