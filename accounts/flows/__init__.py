"""The one sign-in policy, as flows every door calls: the allauth pages (through
:class:`accounts.adapters.AccountAdapter`), ``POST /api/v1/auth/token``, the MFA step, the
API's sign-up and password reset, and API-key authentication.

- :mod:`~accounts.flows.login`: who may sign in (an ``active`` account with the right
  password; with email verification ``mandatory``, a verified address). Unknown email,
  wrong password and inactive account look the same (``invalid_credentials``) and cost the
  same: a password hash runs in every case.
- :mod:`~accounts.flows.limits`: the ``login_failed`` limits, on allauth's counters, so a
  lockout earned through one door holds at every door.
- :mod:`~accounts.flows.mfa`: allauth's authenticators and forms. A password alone never
  yields tokens when TOTP or WebAuthn is active.
- :mod:`~accounts.flows.signup` and :mod:`~accounts.flows.password`: allauth's adapter,
  validators and forms.
- :mod:`~accounts.flows.metrics`: sign-ins counted by door and result.
"""
