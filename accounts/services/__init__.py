"""Write side of users, profiles, typed settings and roles, one module per job:
:mod:`~accounts.services.fields` (the profile's field rules), :mod:`~accounts.services.users`
(create, edit, password, status, roles), :mod:`~accounts.services.erasure` (deleting an
account), :mod:`~accounts.services.bulk` and :mod:`~accounts.services.settings`.

Every function opens its own transaction, enforces its rule, records the audit event in that
transaction, and is the one path the API, the pages, the admin and the tasks use.
"""
