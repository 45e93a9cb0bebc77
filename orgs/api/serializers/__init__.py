"""Organization API bodies, one module per resource (organizations with their domains,
plans and tenants; members with their roles and permissions; teams; invitations): strict
request serializers (unknown keys are 400 ``unknown_field``) and the response objects of
docs/api.md, read from rows loaded by ``orgs.selectors`` (no query per row). What they share
(the strict base, the input rules stated for the schema, the key fields, the user reference)
is in ``common``."""
