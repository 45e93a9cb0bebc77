"""Security policies at runtime (docs/api.md Part 2, "Security policies"): the platform's and
each organization's, an organization's only tighter than the platform's; the effective policy
of a user is the strictest of the platform's and of every active organization they are an
active member of. Four types (access.policies.types): ``password``
(accounts.validators.PasswordPolicyValidator reads it; its ``expiry_days`` is asked for by
the API's sign-in and the pages' login stage), ``lockout`` (accounts.flows.limits), ``mfa``
(the sign-in, refresh and the web session middleware) and ``session`` (accounts.tokens, the
web session middleware), all through accounts.policy_rules, registered from access's
AppConfig.ready()."""
