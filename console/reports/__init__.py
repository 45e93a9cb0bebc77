"""Reports on an organization or a team, computed by a Celery worker and checkable later.

``figures`` computes each figure from the app that owns the data (audit log, memberships,
MFA, slots, usage rollups, access requests), ``periods`` resolves a period to whole UTC
days, ``services`` asks, computes, verifies and decides who may see a report; the API
(``api/``), the "Reports" pages (``views``) and the admin all go through ``services``.
Details: docs/api.md, "Reports".
"""
