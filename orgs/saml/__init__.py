"""SAML per organization, on allauth's SAML provider (python3-saml).

An organization admin stores the identity provider (IdP) of the organization
(:class:`~orgs.saml.models.SamlConnection`, written only by :mod:`orgs.saml.services`).
allauth sees each connection as a ``SocialApp`` built from that row
(:func:`orgs.saml.apps.saml_apps`, handed over through ``accounts.hooks``), so its ACS,
metadata and login views serve ``/accounts/saml/<organization id>/...`` with no copy of
the settings anywhere else. :mod:`orgs.saml.signin` holds what Roster adds to a SAML
sign-in: the routing by email domain, and the policy checks every door applies.
"""
