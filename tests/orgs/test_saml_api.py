"""GET/PUT /api/v1/orgs/{id}/sso/saml and GET .../metadata; the SSO settings page; the
service's checks (certificate, URL, attribute mapping, verified domains)."""

from __future__ import annotations

import pytest
from defusedxml import ElementTree
from rest_framework.test import APIClient

from audit.models import AuditEvent
from orgs.models import Organization
from orgs.saml.models import SamlConnection
from orgs.services import domains, members, organizations
from tests.factories import UserFactory
from tests.orgs.conftest import assert_error, jwt_client, key_client, verified
from tests.orgs.test_saml import make_key_and_cert

pytestmark = pytest.mark.django_db

MD = "urn:oasis:names:tc:SAML:2.0:metadata"


@pytest.fixture
def setup(db, tmp_path):
    owner = verified(UserFactory(email="owner@acme.example"))
    org = organizations.org_create(name="Acme", slug="acme", actor=owner)
    domains.domain_add(organization=org, actor=None, domain="acme.example", verified=True)
    domains.domain_add(organization=org, actor=owner, domain="pending.example")
    member = verified(UserFactory(email="member@acme.example"))
    members.member_add(organization=org, actor=owner, user=member, roles=["member"])
    other_owner = verified(UserFactory(email="boss@other.example"))
    other = organizations.org_create(name="Other", slug="other", actor=other_owner)
    _key, _cert, pem = make_key_and_cert(tmp_path, "idp")
    body = {
        "idp_entity_id": "https://idp.acme.example/saml",
        "idp_sso_url": "https://idp.acme.example/sso",
        "idp_x509_cert": pem,
        "attribute_mapping": {"email": ["mail"], "first_name": ["givenName"]},
        "domains": ["ACME.example"],
        "enabled": True,
    }

    class S:
        pass

    s = S()
    s.owner, s.org, s.member, s.other, s.other_owner, s.body, s.pem = (
        owner,
        org,
        member,
        other,
        other_owner,
        body,
        pem,
    )
    s.url = f"/api/v1/orgs/{org.pk}/sso/saml"
    return s


def test_saml_api_unconfigured_then_put_and_get(setup):
    client = jwt_client(setup.owner)
    empty = client.get(setup.url)
    assert empty.status_code == 200
    assert empty.json()["configured"] is False and empty.json()["idp_entity_id"] is None
    assert empty.json()["sp"]["acs_url"].endswith(f"/accounts/saml/{setup.org.pk}/acs/")

    response = client.put(setup.url, setup.body, format="json")
    assert response.status_code == 200, response.content
    data = response.json()
    assert data["configured"] is True and data["enabled"] is True
    assert data["domains"] == ["acme.example"]
    assert data["attribute_mapping"] == {"email": ["mail"], "first_name": ["givenName"]}
    assert data["idp_x509_cert"].startswith("-----BEGIN CERTIFICATE-----\n")
    assert len(data["idp_x509_cert_sha256"].split(":")) == 32
    assert client.get(setup.url).json() == data

    event = AuditEvent.objects.get(action="org.sso.saml.updated")
    assert event.changes["enabled"] == [None, True]
    assert event.changes["idp_x509_cert_sha256"][1] == data["idp_x509_cert_sha256"]
    assert "BEGIN CERTIFICATE" not in str(event.changes)

    # A second PUT records only what changed.
    setup.body["enabled"] = False
    assert client.put(setup.url + "/", setup.body, format="json").status_code == 200
    second = AuditEvent.objects.filter(action="org.sso.saml.updated").order_by("-id").first()
    assert second.changes == {"enabled": [True, False]}


def test_saml_api_who(setup):
    assert APIClient().get(setup.url).status_code == 401
    assert jwt_client(setup.member).get(setup.url).status_code == 403
    assert jwt_client(setup.member).put(setup.url, setup.body, format="json").status_code == 403
    assert jwt_client(setup.other_owner).get(setup.url).status_code == 404
    assert jwt_client(setup.other_owner).get(setup.url + "/metadata").status_code == 404
    assert not SamlConnection.objects.exists()


def test_saml_api_keys_need_org_scopes(setup):
    reader = key_client(setup.owner, ["orgs:read"])
    assert reader.get(setup.url).status_code == 200
    assert_error(reader.put(setup.url, setup.body, format="json"), 403, "insufficient_scope")
    writer = key_client(setup.owner, ["orgs:read", "orgs:write"])
    assert writer.put(setup.url, setup.body, format="json").status_code == 200
    assert_error(
        key_client(setup.owner, ["profile:read"]).get(setup.url), 403, "insufficient_scope"
    )


@pytest.mark.parametrize(
    ("change", "code", "attr"),
    [
        ({"idp_x509_cert": "not a certificate"}, "invalid_certificate", "idp_x509_cert"),
        (
            {"idp_x509_cert": "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----"},
            "invalid_certificate",
            "idp_x509_cert",
        ),
        ({"idp_sso_url": "http://idp.acme.example/sso"}, "invalid_url", "idp_sso_url"),
        ({"idp_sso_url": "javascript:alert(1)"}, "invalid_url", "idp_sso_url"),
        ({"idp_entity_id": "has space"}, "invalid_entity_id", "idp_entity_id"),
        ({"domains": ["elsewhere.example"]}, "unknown_domain", "domains.0"),
        ({"domains": ["pending.example"]}, "domain_not_verified", "domains.0"),
        ({"domains": []}, "domains_required", "domains"),
        ({"attribute_mapping": {"password": ["x"]}}, "unknown_field", "attribute_mapping.password"),
        ({"enabled": "true"}, "invalid", "enabled"),
        ({"extra": 1}, "unknown_field", "extra"),
    ],
)
def test_saml_api_bad_input(setup, change, code, attr):
    body = {**setup.body, **change}
    response = jwt_client(setup.owner).put(setup.url, body, format="json")
    assert_error(response, 400, code, attr)
    assert not SamlConnection.objects.exists()
    assert not AuditEvent.objects.filter(action="org.sso.saml.updated").exists()


def test_saml_api_accepts_bare_base64_certificate(setup):
    bare = "".join(line for line in setup.pem.splitlines() if "-----" not in line)
    body = {**setup.body, "idp_x509_cert": bare}
    response = jwt_client(setup.owner).put(setup.url, body, format="json")
    assert response.status_code == 200
    assert response.json()["idp_x509_cert"].replace("\n", "") == setup.pem.replace("\n", "")


def test_saml_api_suspended_organization_is_read_only(setup):
    Organization.objects.filter(pk=setup.org.pk).update(status="suspended")
    response = jwt_client(setup.owner).put(setup.url, setup.body, format="json")
    assert response.status_code in (403, 409)
    assert not SamlConnection.objects.exists()


def test_saml_metadata(setup):
    response = jwt_client(setup.owner).get(setup.url + "/metadata")
    assert response.status_code == 200
    assert response["Content-Type"] == "application/samlmetadata+xml"
    root = ElementTree.fromstring(response.content)
    sp = root.find(f"{{{MD}}}SPSSODescriptor")
    assert sp.get("WantAssertionsSigned") == "true"
    acs = sp.find(f"{{{MD}}}AssertionConsumerService")
    assert acs.get("Location").endswith(f"/accounts/saml/{setup.org.pk}/acs/")
    assert root.get("entityID").endswith(f"/accounts/saml/{setup.org.pk}/metadata/")

    # The public metadata (for the IdP to fetch) exists once an IdP is stored, and agrees.
    assert APIClient().get(f"/accounts/saml/{setup.org.pk}/metadata/").status_code == 404
    jwt_client(setup.owner).put(setup.url, setup.body, format="json")
    public = APIClient().get(f"/accounts/saml/{setup.org.pk}/metadata/")
    assert public.status_code == 200
    assert ElementTree.fromstring(public.content).get("entityID") == root.get("entityID")


def test_sso_settings_page(setup, client):
    client.force_login(setup.owner)
    page = client.get(f"/account/organizations/{setup.org.pk}/sso/")
    assert page.status_code == 200
    assert f"/accounts/saml/{setup.org.pk}/acs/".encode() in page.content

    bad = client.post(
        f"/account/organizations/{setup.org.pk}/sso/",
        {**setup.body, "attribute_mapping": "", "idp_x509_cert": "nope", "domains": []},
    )
    assert bad.status_code == 400
    assert not SamlConnection.objects.exists()

    form = {**setup.body, "attribute_mapping": '{"email": ["mail"]}', "domains": ["acme.example"]}
    saved = client.post(f"/account/organizations/{setup.org.pk}/sso/", form)
    assert saved.status_code == 302
    connection = SamlConnection.objects.get(organization=setup.org)
    assert connection.enabled and connection.attribute_mapping == {"email": ["mail"]}

    client.force_login(setup.member)
    assert client.get(f"/account/organizations/{setup.org.pk}/sso/").status_code == 403
    client.force_login(setup.other_owner)
    assert client.get(f"/account/organizations/{setup.org.pk}/sso/").status_code == 404


def test_saml_admin_is_read_only(setup, client, admin_user):
    jwt_client(setup.owner).put(setup.url, setup.body, format="json")
    connection = SamlConnection.objects.get()
    client.force_login(admin_user)
    listing = client.get("/admin/orgs/samlconnection/")
    assert listing.status_code == 200 and b"idp.acme.example" in listing.content
    detail = client.get(f"/admin/orgs/samlconnection/{connection.pk}/change/")
    assert detail.status_code == 200
    assert b"BEGIN CERTIFICATE" not in detail.content
    assert client.get("/admin/orgs/samlconnection/add/").status_code == 403
    posted = client.post(f"/admin/orgs/samlconnection/{connection.pk}/change/", {"enabled": ""})
    assert posted.status_code == 403
    assert SamlConnection.objects.get().enabled
