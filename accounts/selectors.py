"""Read side of users, profiles and settings (the personal data export: ``accounts.export``)."""

from __future__ import annotations

import functools
import operator
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from typing import Any

from allauth.account.models import EmailAddress
from allauth.mfa.models import Authenticator
from django.contrib.auth.models import Group
from django.core.exceptions import ValidationError
from django.db import connection, connections
from django.db.models import Exists, Model, OuterRef, QuerySet

from accounts import settings_registry
from accounts.models import (
    ROLE_NAMES,
    USER_OBJECT_FIELDS,
    SettingDefinition,
    User,
    UserSetting,
)
from accounts.sms.models import SmsDevice

# "MFA is on": the one definition. A second factor is an authenticator of one of
# ``MFA_TYPES`` (recovery codes alone do not count) or a verified phone for SMS codes
# (accounts.sms). Every form of the question is built from ``_SECOND_FACTORS`` below: the
# queryset annotation (:func:`mfa_enabled_expression`), :func:`has_mfa`, and the SQL of the
# raw statements (:func:`mfa_enabled_sql`: the user object's flags and GET /auth/status), so a
# new kind of second factor is added there and nowhere else. The sign-in doors ask for a code
# exactly then (as allauth's pages do, through accounts.sms.adapter), and the user object,
# the admin and the exports show it.
MFA_TYPES = (Authenticator.Type.TOTP.value, Authenticator.Type.WEBAUTHN.value)

# (model, field, values): the user has a row of ``model`` (keyed by its ``user`` field) whose
# ``field`` is one of ``values``; a ``field`` of None takes any row.
_SECOND_FACTORS: tuple[tuple[type[Model], str | None, tuple[str, ...]], ...] = (
    (Authenticator, "type", MFA_TYPES),
    (SmsDevice, None, ()),
)


def timestamp(value: datetime | None) -> str | None:
    """RFC 3339 in UTC with ``Z``, the same text DRF writes."""
    if value is None:
        return None
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


# --- users -----------------------------------------------------------------------------


def _second_factor_querysets(user_ref: Any) -> Iterator[QuerySet]:
    """One queryset per kind of second factor, of the rows that make MFA on for ``user_ref``."""
    for model, field, values in _SECOND_FACTORS:
        conditions = {f"{field}__in": values} if field is not None else {}
        yield model.objects.filter(user_id=user_ref, **conditions)


def mfa_enabled_expression(user_ref: Any = None) -> Exists:
    """``has_mfa`` as a queryset annotation (``user_ref``: the user's pk, default the row's)."""
    user_ref = OuterRef("pk") if user_ref is None else user_ref
    return functools.reduce(operator.or_, map(Exists, _second_factor_querysets(user_ref)))


def has_mfa(user: User) -> bool:
    """Whether a second factor (TOTP, WebAuthn or SMS) is active for ``user``: the flag when
    the user was loaded with it, else one ``EXISTS`` per kind until one is found."""
    if hasattr(user, "mfa_enabled_flag"):
        return bool(user.mfa_enabled_flag)
    return any(qs.exists() for qs in _second_factor_querysets(user.pk))


@functools.lru_cache(maxsize=8)
def _mfa_enabled_sql_text(user_ref: str) -> str:
    # Only names from the models' metadata are formatted in; values are parameters. The
    # same text on SQLite and PostgreSQL.
    exists = []
    for n, (model, field, values) in enumerate(_SECOND_FACTORS):
        alias = f"mfa{n}"
        where = f"{alias}.{model._meta.get_field('user').column} = {user_ref}"
        if field is not None:
            column = model._meta.get_field(field).column
            where += f" AND {alias}.{column} IN ({', '.join(['%s'] * len(values))})"
        table = model._meta.db_table
        exists.append(f"EXISTS (SELECT 1 FROM {table} {alias} WHERE {where})")  # noqa: S608
    return f"({' OR '.join(exists)})"


def mfa_enabled_sql(user_ref: str, user_params: Sequence[Any] = ()) -> tuple[str, list[Any]]:
    """``has_mfa`` as a SQL boolean expression and its parameters, for raw statements.

    ``user_ref`` is SQL for the user's id: a column of the outer statement (``"u.id"``), or
    ``"%s"`` with the id in ``user_params`` (then given once per kind of second factor)."""
    params: list[Any] = []
    for _model, _field, values in _SECOND_FACTORS:
        params += user_params
        params += values
    return _mfa_enabled_sql_text(user_ref), params


def _flag_expressions() -> dict[str, Exists]:
    memberships = User.groups.through.objects
    flags: dict[str, Exists] = {
        f"has_role_{role}": Exists(memberships.filter(user_id=OuterRef("pk"), group__name=role))
        for role in ROLE_NAMES
    }
    flags["email_verified_flag"] = Exists(
        EmailAddress.objects.filter(
            user_id=OuterRef("pk"), verified=True, email__iexact=OuterRef("email")
        )
    )
    flags["mfa_enabled_flag"] = mfa_enabled_expression()
    return flags


@functools.lru_cache(maxsize=1)
def _flag_columns() -> tuple[str, tuple[Any, ...]]:
    """The flags of user ``u`` as columns: one per role, email verified, MFA on (in that
    order), and their parameters."""
    # Only table names from the models' metadata are formatted in; values are parameters.
    memberships = User.groups.through._meta.db_table
    groups = Group._meta.db_table
    emails = EmailAddress._meta.db_table
    role = (
        f"EXISTS (SELECT 1 FROM {memberships} m JOIN {groups} g ON g.id = m.group_id "  # noqa: S608
        f"WHERE m.user_id = u.id AND g.name = %s)"
    )
    mfa, mfa_params = mfa_enabled_sql("u.id")
    sql = (
        f"{', '.join([role] * len(ROLE_NAMES))}, "  # noqa: S608
        f"EXISTS (SELECT 1 FROM {emails} e WHERE e.user_id = u.id AND e.verified "
        f"AND UPPER(e.email) = UPPER(u.email)), "
        f"{mfa}"
    )
    return sql, (*ROLE_NAMES, *mfa_params)


@functools.lru_cache(maxsize=256)
def _flags_sql(count: int) -> str:
    placeholders = ", ".join(["%s"] * count)
    return (
        f"SELECT u.id, {_flag_columns()[0]} "  # noqa: S608
        f"FROM {User._meta.db_table} u WHERE u.id IN ({placeholders})"
    )


def _set_flags(user: User, flags) -> None:
    for role, value in zip(ROLE_NAMES, flags, strict=False):
        setattr(user, f"has_role_{role}", bool(value))
    user.email_verified_flag = bool(flags[len(ROLE_NAMES)])
    user.mfa_enabled_flag = bool(flags[len(ROLE_NAMES) + 1])


@functools.lru_cache(maxsize=8)
def _user_row_plan(alias: str) -> tuple[str, list[str], list[tuple]]:
    """The statement, attribute names and per-column converters of :func:`user_with_flags`
    on one database, worked out once per process."""
    conn = connections[alias]
    fields = User._meta.concrete_fields
    table = User._meta.db_table
    q = conn.ops.quote_name
    columns = ", ".join(f"u.{q(f.column)}" for f in fields)
    sql = (
        f"SELECT {columns}, {_flag_columns()[0]} "  # noqa: S608
        f"FROM {q(table)} u WHERE u.{q(User._meta.pk.column)} = %s"
    )
    converters = []
    for f in fields:
        col = f.get_col(table)
        converters.append((col, tuple(conn.ops.get_db_converters(col) + f.get_db_converters(conn))))
    return sql, [f.attname for f in fields], converters


def user_with_flags(user_id: Any) -> User | None:
    """The user ``user_id`` with the flags of the user object (roles, email verified, MFA
    on), in ONE plain statement: what authenticating a token loads on every API request.

    Plain SQL and a row built with ``from_db`` because the ORM's compilation (or a
    ``RawQuerySet``'s column mapping) cost more CPU than the database's work here.
    """
    try:
        pk = User._meta.pk.get_db_prep_value(User._meta.pk.to_python(user_id), connection)
    except (ValueError, TypeError, AttributeError, ValidationError):
        return None
    sql, attnames, converters = _user_row_plan(connection.alias)
    with connection.cursor() as cursor:
        cursor.execute(sql, [*_flag_columns()[1], pk])
        row = cursor.fetchone()
    if row is None:
        return None
    values = []
    for value, (col, funcs) in zip(row, converters, strict=False):
        for func in funcs:
            value = func(value, col, connection)
        values.append(value)
    user = User.from_db(connection.alias, attnames, values)
    _set_flags(user, row[len(attnames) :])
    return user


def with_flags(users: list[User]) -> list[User]:
    """Attach roles, email verification and MFA to already loaded users in ONE query.

    Computed for the rows shown, never for the whole filtered set: as annotations of a
    100k-row list PostgreSQL would hash every membership row on each page (plans ignore the
    LIMIT), while ``id IN (<page>)`` costs a few index probes per row. The statement is
    plain SQL (the same text on SQLite and PostgreSQL) because every API request that shows
    a user runs it, and compiling the equivalent five-``Exists`` queryset cost more CPU than
    the rest of ``GET /users/me`` together.
    """
    if not users:
        return users
    pk_field = User._meta.pk
    ids = [pk_field.get_db_prep_value(u.pk, connection) for u in users]
    with connection.cursor() as cursor:
        cursor.execute(_flags_sql(len(users)), [*_flag_columns()[1], *ids])
        rows = cursor.fetchall()
    by_pk = {pk_field.to_python(row[0]): row[1:] for row in rows}
    for user in users:
        flags = by_pk.get(user.pk)
        if flags is not None:
            _set_flags(user, flags)
    return users


def user_for_api(*, user_id) -> User | None:
    """One user with the flags of the user object, in a single query."""
    return User.objects.annotate(**_flag_expressions()).filter(pk=user_id).first()


def roles_of(user: User) -> list[str]:
    return user.roles  # the loaded flags when there are (User.roles)


def email_verified_of(user: User) -> bool:
    """Whether the account's own address is verified (what mandatory verification asks)."""
    if hasattr(user, "email_verified_flag"):
        return bool(user.email_verified_flag)
    return EmailAddress.objects.filter(user=user, verified=True, email__iexact=user.email).exists()


def auth_flags(user: User) -> tuple[bool, bool]:
    """(:func:`has_mfa`, :func:`email_verified_of`) in one cheap statement, for GET
    /auth/status. Raw SQL because this runs on every status request and the ORM's
    compilation of two EXISTS subqueries costs more than the query (see
    bench/scenarios/auth.py)."""
    user_pk = User._meta.pk.get_db_prep_value(user.pk, connection)
    _, mfa_params = mfa_enabled_sql("%s", (user_pk,))
    with connection.cursor() as cursor:
        cursor.execute(_auth_flags_sql(), [*mfa_params, user_pk, user.email, True])
        mfa_enabled, verified = cursor.fetchone()
    return bool(mfa_enabled), bool(verified)


@functools.lru_cache(maxsize=1)
def _auth_flags_sql() -> str:
    """MFA on, email verified; parameters: :func:`mfa_enabled_sql`'s for the user's id, then
    the user's id, email and True."""
    q = connection.ops.quote_name
    addresses = q(EmailAddress._meta.db_table)
    return (
        f"SELECT {mfa_enabled_sql('%s')[0]}, "  # noqa: S608
        f"EXISTS(SELECT 1 FROM {addresses} WHERE {q('user_id')} = %s "
        f"AND {q('email')} = %s AND {q('verified')} = %s)"
    )


def user_as_dict(user: User, *, admin_fields: bool = False) -> dict[str, Any]:
    """The user object of docs/api.md (plus ``slot_limit`` in the administration views):
    the fields of ``USER_OBJECT_FIELDS``, in that order."""
    computed = {
        "id": str(user.pk),
        "roles": roles_of(user),
        "email_verified": email_verified_of(user),
        "mfa_enabled": has_mfa(user),
        "date_joined": timestamp(user.date_joined),
        "last_login": timestamp(user.last_login),
    }
    data = {f: computed[f] if f in computed else getattr(user, f) for f in USER_OBJECT_FIELDS}
    if admin_fields:
        data["slot_limit"] = user.slot_limit
    return data


def users_visible_to(viewer: User) -> QuerySet[User]:
    """Everyone for holders of ``accounts.view_user`` (managers, admins); else only oneself."""
    qs = User.objects.all()
    if viewer.has_perm("accounts.view_user"):
        return qs
    return qs.filter(pk=viewer.pk)


def users_with_role(qs: QuerySet[User], role: str) -> QuerySet[User]:
    # The group id as a constant (not a join on the name) lets PostgreSQL use the
    # membership statistics: with 100k members the plan walks the sort index instead of
    # hashing every membership and sorting them all.
    group_id = Group.objects.filter(name=role).values_list("pk", flat=True).first()
    memberships = User.groups.through.objects
    return qs.filter(Exists(memberships.filter(user_id=OuterRef("pk"), group_id=group_id)))


def active_admin_count() -> int:
    return User.objects.filter(groups__name="admin", status=User.Status.ACTIVE).count()


# --- settings --------------------------------------------------------------------------


def _definitions(category: str | None) -> list[SettingDefinition]:
    qs = SettingDefinition.objects.all()
    if category is not None:
        qs = qs.filter(category=category)
    return list(qs.order_by("category", "key"))


def _stored(user: User, definitions: list[SettingDefinition]) -> dict[int, Any]:
    rows = UserSetting.objects.filter(user=user, definition__in=definitions).values_list(
        "definition_id", "value"
    )
    return dict(rows)


def user_settings(*, user: User, category: str | None = None) -> list[dict[str, Any]]:
    """Every setting with the user's effective value (stored if still valid, else default)."""
    definitions = _definitions(category)
    stored = _stored(user, definitions)
    return [
        {
            "key": d.key,
            "value": settings_registry.effective_value(
                d, stored.get(d.pk), has_stored=d.pk in stored
            ),
            "type": d.type,
            "category": d.category,
            "description": d.description,
            "is_public": d.is_public,
            "default": d.default,
        }
        for d in definitions
    ]


def user_preferences(*, user: User) -> dict[str, Any]:
    """The flat ``{key: value}`` of the settings in category ``preferences``."""
    return {s["key"]: s["value"] for s in user_settings(user=user, category="preferences")}


def setting_invalid_values(
    *, definition: SettingDefinition, sample: int = 20
) -> tuple[int, list[tuple[str, Any]]]:
    """Stored values the definition no longer allows: (count, first ``sample`` as (email, value)).

    They read back as the default; the admin shows them so they can be fixed or cleared.
    """
    count = 0
    examples: list[tuple[str, Any]] = []
    rows = (
        UserSetting.objects.filter(definition=definition)
        .order_by("id")
        .values_list("user__email", "value")
    )
    for email, value in rows.iterator(chunk_size=2000):
        if not settings_registry.is_valid(definition, value):
            count += 1
            if len(examples) < sample:
                examples.append((email, value))
    return count, examples
