"""SAML per organization: sign-ins with real signed SAML responses.

pysaml2 plays the organization's identity provider, with its own key and certificate made
here; it reads Roster's SP metadata from the API, parses the AuthnRequest Roster sends, and
signs (with the xmlsec1 binary) the response that is posted to allauth's ACS.
"""

from __future__ import annotations

import base64
import datetime as dt
from urllib.parse import parse_qs, urlsplit

import pytest
import time_machine
from allauth.account.models import EmailAddress
from allauth.mfa.models import Authenticator
from allauth.socialaccount.models import SocialAccount
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from django.test import Client
from saml2 import BINDING_HTTP_REDIRECT
from saml2.authn_context import PASSWORDPROTECTEDTRANSPORT
from saml2.config import IdPConfig
from saml2.saml import NAMEID_FORMAT_EMAILADDRESS, NameID
from saml2.server import Server
from saml2.xmldsig import DIGEST_SHA1, DIGEST_SHA256, SIG_RSA_SHA1, SIG_RSA_SHA256

from accounts.models import User
from audit.models import AuditEvent
from orgs.models import Membership
from orgs.saml.services import saml_connection_set
from orgs.services import domains, organizations
from tests.factories import UserFactory
from tests.orgs.conftest import verified

pytestmark = pytest.mark.django_db

HOST = "roster.example"
DOMAIN = "acme.example"
IDP_ENTITY = "https://idp.acme.example/saml/metadata"
IDP_SSO = "https://idp.acme.example/saml/sso"


def make_key_and_cert(tmp_path, name: str) -> tuple[str, str, str]:
    """A fresh RSA key and self-signed certificate: (key file, cert file, cert PEM)."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=365))
        .sign(key, hashes.SHA256())
    )
    key_file, cert_file = tmp_path / f"{name}.key", tmp_path / f"{name}.crt"
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.TraditionalOpenSSL,
            serialization.NoEncryption(),
        )
    )
    pem = cert.public_bytes(serialization.Encoding.PEM).decode()
    cert_file.write_text(pem)
    return str(key_file), str(cert_file), pem


OTHER_SP = "https://other.example/sp"


def other_sp(sp_metadata: str) -> str:
    entity_id = sp_metadata.split('entityID="', 1)[1].split('"', 1)[0]
    return sp_metadata.replace(entity_id, OTHER_SP)


class Idp:
    """pysaml2 as the organization's IdP (signing with ``key_file``)."""

    def __init__(
        self, *, key_file: str, cert_file: str, sp_metadata: str, sso_url: str = IDP_SSO
    ) -> None:
        config = IdPConfig()
        config.load(
            {
                "entityid": IDP_ENTITY,
                "service": {
                    "idp": {
                        "endpoints": {"single_sign_on_service": [(sso_url, BINDING_HTTP_REDIRECT)]},
                        "name_id_format": [NAMEID_FORMAT_EMAILADDRESS],
                    }
                },
                "key_file": key_file,
                "cert_file": cert_file,
                "xmlsec_binary": "/usr/bin/xmlsec1",
                # Roster's SP metadata, and another SP's (for a response meant for it).
                "metadata": {"inline": [sp_metadata, other_sp(sp_metadata)]},
            }
        )
        self.server = Server(config=config)

    def respond(
        self, redirect_url: str, email: str, *, audience: str | None = None, sha1: bool = False
    ) -> str:
        """The base64 SAMLResponse answering the AuthnRequest carried by ``redirect_url``."""
        query = parse_qs(urlsplit(redirect_url).query)
        request = self.server.parse_authn_request(query["SAMLRequest"][0], BINDING_HTTP_REDIRECT)
        message = request.message
        return self.response(
            email,
            in_response_to=message.id,
            destination=message.assertion_consumer_service_url,
            audience=audience or message.issuer.text,
            sha1=sha1,
        )

    def response(
        self, email: str, *, in_response_to, destination: str, audience: str, sha1: bool = False
    ) -> str:
        response = self.server.create_authn_response(
            identity={"mail": [email], "givenName": ["Ada"], "sn": ["Lovelace"]},
            in_response_to=in_response_to,
            destination=destination,
            sp_entity_id=audience,
            name_id=NameID(format=NAMEID_FORMAT_EMAILADDRESS, text=email),
            authn={"class_ref": PASSWORDPROTECTEDTRANSPORT},
            sign_response=True,
            sign_assertion=True,
            sign_alg=SIG_RSA_SHA1 if sha1 else SIG_RSA_SHA256,
            digest_alg=DIGEST_SHA1 if sha1 else DIGEST_SHA256,
        )
        return base64.b64encode(str(response).encode()).decode()


@pytest.fixture
def saml(db, tmp_path, settings):
    settings.ALLOWED_HOSTS = [HOST, "testserver"]
    owner = verified(UserFactory(email=f"owner@{DOMAIN}"))
    org = organizations.org_create(name="Acme", slug="acme", actor=owner)
    domains.domain_add(organization=org, actor=None, domain=DOMAIN, verified=True)
    key_file, cert_file, pem = make_key_and_cert(tmp_path, "idp")
    saml_connection_set(
        organization=org,
        actor=owner,
        idp_entity_id=IDP_ENTITY,
        idp_sso_url=IDP_SSO,
        idp_x509_cert=pem,
        domains=[DOMAIN],
        enabled=True,
    )
    api = Client(HTTP_HOST=HOST)
    api.force_login(owner)
    metadata = api.get(f"/api/v1/orgs/{org.pk}/sso/saml/metadata")
    assert metadata.status_code == 200, metadata.content[:500]
    idp = Idp(key_file=key_file, cert_file=cert_file, sp_metadata=metadata.content.decode())

    class World:
        pass

    world = World()
    world.org, world.owner, world.idp, world.tmp_path = org, owner, idp, tmp_path
    world.sp_metadata = metadata.content.decode()
    return world


def start(client: Client, email: str):
    response = client.post("/accounts/sso/", {"email": email})
    assert response.status_code == 302, response.content[:1000]
    assert response["Location"].startswith(IDP_SSO + "?SAMLRequest=")
    return response["Location"]


def post_response(client: Client, org, saml_response: str):
    """Post to allauth's ACS and follow its hop to the finishing view."""
    acs = client.post(f"/accounts/saml/{org.pk}/acs/", {"SAMLResponse": saml_response})
    assert acs.status_code == 302, acs.content[:500]
    return client.get(acs["Location"])


def sign_in(saml, email: str, *, idp=None, audience=None, client=None):
    client = client or Client(HTTP_HOST=HOST)
    redirect_url = start(client, email)
    saml_response = (idp or saml.idp).respond(redirect_url, email, audience=audience)
    return client, post_response(client, saml.org, saml_response)


def signed_in(client: Client) -> User | None:
    user_id = client.session.get("_auth_user_id")
    return User.objects.get(pk=user_id) if user_id else None


# --- the sign-in -----------------------------------------------------------------------


def test_saml_first_sign_in_creates_account_and_membership(saml):
    email = f"ada@{DOMAIN}"
    client, response = sign_in(saml, email)
    assert response.status_code == 302 and response["Location"] == "/account/"
    user = signed_in(client)
    assert user is not None and user.email == email
    assert EmailAddress.objects.get(user=user).verified
    account = SocialAccount.objects.get(user=user)
    assert account.provider == f"saml-{saml.org.pk}"
    membership = Membership.objects.get(organization=saml.org, user=user)
    assert [r.key for r in membership.roles.all()] == ["member"]
    login = AuditEvent.objects.filter(action="auth.login.succeeded", target_id=str(user.pk))
    assert login.count() == 1
    assert login.get().metadata.get("method") == "saml"
    added = AuditEvent.objects.get(action="org.member.added", target_id=str(user.pk))
    assert added.metadata["via"] == "saml"

    # A second sign-in is the same account, still one membership.
    client2, response2 = sign_in(saml, email)
    assert signed_in(client2) == user
    assert Membership.objects.filter(user=user).count() == 1


def test_saml_links_existing_verified_account(saml):
    user = verified(UserFactory(email=f"grace@{DOMAIN}"))
    client, response = sign_in(saml, user.email)
    assert response.status_code == 302
    assert signed_in(client) == user
    assert SocialAccount.objects.get(user=user).provider == f"saml-{saml.org.pk}"
    assert Membership.objects.filter(organization=saml.org, user=user).exists()
    assert AuditEvent.objects.filter(action="auth.social.connected", target_id=str(user.pk))


def test_saml_refuses_to_link_unverified_account(saml):
    user = UserFactory(email=f"squatter@{DOMAIN}")
    client, response = sign_in(saml, user.email)
    assert response.status_code == 403
    assert b"unverified_account" in response.content
    assert signed_in(client) is None
    assert not SocialAccount.objects.filter(user=user).exists()


def test_saml_refuses_suspended_user(saml):
    user = verified(UserFactory(email=f"suspended@{DOMAIN}"))
    client, _ = sign_in(saml, user.email)  # linked and signed in once
    client.logout()
    User.objects.filter(pk=user.pk).update(status="suspended", is_active=False)
    client, response = sign_in(saml, user.email)
    assert response.status_code == 403
    assert signed_in(client) is None
    failed = AuditEvent.objects.filter(action="auth.login.failed", target_id=str(user.pk))
    assert failed.get().metadata["reason"] == "inactive"
    assert failed.get().metadata["method"] == "saml"


def test_saml_refuses_wrong_signature(saml):
    key_file, cert_file, _pem = make_key_and_cert(saml.tmp_path, "impostor")
    impostor = Idp(key_file=key_file, cert_file=cert_file, sp_metadata=saml.sp_metadata)
    client, response = sign_in(saml, f"eve@{DOMAIN}", idp=impostor)
    assert response.status_code == 401  # allauth's sign-in error page
    assert signed_in(client) is None
    assert not User.objects.filter(email=f"eve@{DOMAIN}").exists()


def test_saml_refuses_sha1_signature(saml):
    client = Client(HTTP_HOST=HOST)
    redirect_url = start(client, f"old@{DOMAIN}")
    response = post_response(
        client, saml.org, saml.idp.respond(redirect_url, f"old@{DOMAIN}", sha1=True)
    )
    assert response.status_code == 401  # allauth's sign-in error page
    assert signed_in(client) is None


def test_saml_refuses_wrong_audience(saml):
    client, response = sign_in(saml, f"eve@{DOMAIN}", audience=OTHER_SP)
    assert response.status_code == 401  # allauth's sign-in error page
    assert signed_in(client) is None
    assert not User.objects.filter(email=f"eve@{DOMAIN}").exists()


def test_saml_refuses_expired_assertion(saml):
    client = Client(HTTP_HOST=HOST)
    redirect_url = start(client, f"late@{DOMAIN}")
    saml_response = saml.idp.respond(redirect_url, f"late@{DOMAIN}")
    with time_machine.travel(dt.datetime.now(dt.UTC) + dt.timedelta(hours=2)):
        response = post_response(client, saml.org, saml_response)
    assert response.status_code == 401  # allauth's sign-in error page
    assert signed_in(client) is None
    assert not User.objects.filter(email=f"late@{DOMAIN}").exists()


def test_saml_refuses_address_outside_the_connection_domains(saml):
    # The IdP asserts an address at a domain that is not one of the connection's.
    client = Client(HTTP_HOST=HOST)
    redirect_url = start(client, f"ada@{DOMAIN}")
    saml_response = saml.idp.respond(redirect_url, "ceo@other.example")
    response = post_response(client, saml.org, saml_response)
    assert response.status_code == 403
    assert b"domain_not_allowed" in response.content
    assert signed_in(client) is None
    assert not User.objects.filter(email="ceo@other.example").exists()


def test_sso_sign_in_unknown_domain_keeps_password_sign_in(saml):
    client = Client(HTTP_HOST=HOST)
    response = client.post("/accounts/sso/", {"email": "someone@unknown.example"})
    assert response.status_code == 400
    assert b"Sign in with your password" in response.content
    page = client.get("/accounts/login/")
    assert page.status_code == 200
    assert b'name="password"' in page.content and b"/accounts/sso/" in page.content


def test_saml_disabled_connection_refuses(saml):
    client = Client(HTTP_HOST=HOST)
    redirect_url = start(client, f"ada@{DOMAIN}")
    saml_connection_set(
        organization=saml.org,
        actor=saml.owner,
        idp_entity_id=IDP_ENTITY,
        idp_sso_url=IDP_SSO,
        idp_x509_cert=saml.org.saml_connection.idp_x509_cert,
        domains=[DOMAIN],
        enabled=False,
    )
    response = post_response(client, saml.org, saml.idp.respond(redirect_url, f"ada@{DOMAIN}"))
    assert response.status_code == 403
    assert signed_in(client) is None
    # And the sign-in page no longer routes the domain.
    assert client.post("/accounts/sso/", {"email": f"ada@{DOMAIN}"}).status_code == 400


def test_saml_seat_limit_refuses_newcomer(saml):
    type(saml.org).objects.filter(pk=saml.org.pk).update(seat_limit=1)  # the owner's seat
    client, response = sign_in(saml, f"newcomer@{DOMAIN}")
    assert response.status_code == 403
    assert b"seat_limit_reached" in response.content
    assert not User.objects.filter(email=f"newcomer@{DOMAIN}").exists()


def test_saml_sign_in_asks_for_mfa(saml):
    from allauth.mfa.totp.internal.auth import TOTP

    user = verified(UserFactory(email=f"mfa@{DOMAIN}"))
    TOTP.activate(user, "JBSWY3DPEHPK3PXP")
    assert Authenticator.objects.filter(user=user).exists()
    client, response = sign_in(saml, user.email)
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/2fa/authenticate")
    assert signed_in(client) is None
    # Not a member before the second factor is given.
    assert not Membership.objects.filter(organization=saml.org, user=user).exists()


def test_saml_locked_out_account_refused(saml, settings):
    from django.test import RequestFactory

    from accounts.flows.limits import consume_login_attempt

    user = verified(UserFactory(email=f"locked@{DOMAIN}"))
    request = RequestFactory().post("/", REMOTE_ADDR="10.9.8.7")
    for _ in range(5):
        consume_login_attempt(request, email=user.email)
    client, response = sign_in(saml, user.email)
    assert response.status_code == 429
    assert signed_in(client) is None


def test_saml_refuses_idp_initiated_sign_in(saml):
    # A response that answers no request Roster sent (IdP-initiated SSO).
    client = Client(HTTP_HOST=HOST)
    base = f"http://{HOST}/accounts/saml/{saml.org.pk}"
    saml_response = saml.idp.response(
        f"ada@{DOMAIN}",
        in_response_to=None,
        destination=f"{base}/acs/",
        audience=f"{base}/metadata/",
    )
    response = post_response(client, saml.org, saml_response)
    assert response.status_code == 401
    assert signed_in(client) is None
    assert not User.objects.filter(email=f"ada@{DOMAIN}").exists()


def test_saml_pending_invitation_gives_its_seat(saml):
    from orgs.models import Invitation
    from orgs.services.invitations import invitation_create

    type(saml.org).objects.filter(pk=saml.org.pk).update(seat_limit=2)
    invitation, _raw = invitation_create(
        organization=saml.org, actor=saml.owner, email=f"invited@{DOMAIN}"
    )
    client, response = sign_in(saml, f"invited@{DOMAIN}")
    assert response.status_code == 302
    user = signed_in(client)
    assert Membership.objects.filter(organization=saml.org, user=user).exists()
    invitation.refresh_from_db()
    assert invitation.status == Invitation.Status.CANCELED


def test_saml_sign_in_meets_the_organizations_mfa_policy(saml):
    # The organization requires a second factor with no grace: the newcomer who just
    # joined through SAML is sent to set one up, as after a password sign-in.
    from access.policies import services as policies

    policies.policy_set(
        organization=saml.org,
        policy_type="mfa",
        values={"required_for": "all", "grace_days": 0},
        actor=None,
    )
    client, response = sign_in(saml, f"nofactor@{DOMAIN}")
    assert response.status_code == 302
    assert signed_in(client) is not None
    account = client.get("/account/")
    assert account.status_code == 302 and account["Location"].startswith("/accounts/2fa/")
