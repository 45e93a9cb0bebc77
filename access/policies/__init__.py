"""Security policies at runtime (docs/api.md Part 2, "Security policies"): the platform's and
each organization's, an organization's only tighter than the platform's; the effective policy
of a user is the strictest of the platform's and of every active organization they are an
active member of. Implemented: ``password`` (accounts.validators.PasswordPolicyValidator reads
it) and ``lockout`` (accounts.flows.limits reads it), both through accounts.policy_rules,
registered from access's AppConfig.ready(). Not yet: ``mfa``, ``session``, and the
password policy's ``expiry_days``."""
