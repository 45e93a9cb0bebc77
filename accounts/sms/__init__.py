"""SMS codes as a second factor: a verified phone number per account, codes sent through a
pluggable gateway (``SMS_BACKEND``), accepted by the same MFA step as TOTP and recovery codes.

Why a model of Roster's own and not an allauth ``Authenticator`` of a new type: allauth's
``Authenticator.wrap()`` maps only its own three types to their classes, and its
``AuthenticateForm`` calls ``wrap()`` on every authenticator of the user, so a row of type
"sms" would break the sign-in of everyone who has one. The phone lives in
:class:`accounts.sms.models.SmsDevice` instead, and is joined to allauth through its public
hooks: the MFA adapter's ``is_mfa_enabled`` (so allauth's login stage asks for a code) and
``MFA_FORMS["authenticate"]`` (so the same code field accepts an SMS code).
"""
