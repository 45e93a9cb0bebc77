"""One rule for "MFA is on": every form of the question gives the same answer for every kind
of second factor (the annotation, has_mfa, the raw statements of the user object's flags and of
GET /auth/status, and the question allauth's pages ask through the MFA adapter)."""

from __future__ import annotations

import pytest
from allauth.mfa.adapter import get_adapter
from allauth.mfa.models import Authenticator

from accounts import selectors
from accounts.models import User
from accounts.sms.models import SmsDevice

PAGES_QUESTION = [Authenticator.Type.TOTP, Authenticator.Type.WEBAUTHN]


def _totp(user):
    Authenticator.objects.create(user=user, type=Authenticator.Type.TOTP, data={})


def _webauthn(user):
    Authenticator.objects.create(user=user, type=Authenticator.Type.WEBAUTHN, data={})


def _sms(user):
    SmsDevice.objects.create(user=user, phone="+14155550123")


def _recovery_codes(user):
    Authenticator.objects.create(user=user, type=Authenticator.Type.RECOVERY_CODES, data={})


FACTORS = {
    "totp": ([_totp], True),
    "webauthn": ([_webauthn], True),
    "sms": ([_sms], True),
    "recovery_codes_only": ([_recovery_codes], False),
    "none": ([], False),
}


def _answers(user_id) -> dict[str, bool]:
    def fresh() -> User:
        return User.objects.get(pk=user_id)

    annotated = User.objects.annotate(mfa=selectors.mfa_enabled_expression())
    [listed] = [u for u in selectors.with_flags(list(User.objects.all())) if u.pk == user_id]
    return {
        "has_mfa": selectors.has_mfa(fresh()),
        "annotation": annotated.get(pk=user_id).mfa,
        "user_for_api": selectors.user_for_api(user_id=user_id).mfa_enabled_flag,
        "auth_flags": selectors.auth_flags(fresh())[0],
        "user_list_flags": listed.mfa_enabled_flag,
        "user_with_flags": selectors.user_with_flags(user_id).mfa_enabled_flag,
        "user_object": selectors.user_as_dict(fresh())["mfa_enabled"],
        "allauth_pages": get_adapter().is_mfa_enabled(fresh(), PAGES_QUESTION),
    }


@pytest.mark.parametrize("factor", list(FACTORS))
def test_mfa_is_on_every_form_agrees(member, other_member, factor):
    makers, expected = FACTORS[factor]
    for make in makers:
        make(member)
    # Another account with every factor: no form may answer for the wrong user.
    _totp(other_member)
    _webauthn(other_member)
    _sms(other_member)
    _recovery_codes(other_member)

    answers = _answers(member.pk)
    assert answers == dict.fromkeys(answers, expected)
    others = _answers(other_member.pk)
    assert others == dict.fromkeys(others, True)


def test_mfa_is_on_has_mfa_asks_one_exists_per_kind_until_found(member, django_assert_num_queries):
    user = User.objects.get(pk=member.pk)
    with django_assert_num_queries(2):
        assert selectors.has_mfa(user) is False
    _totp(member)
    user = User.objects.get(pk=member.pk)
    with django_assert_num_queries(1):
        assert selectors.has_mfa(user) is True
    user = User.objects.get(pk=member.pk)
    Authenticator.objects.filter(user=member).delete()
    _sms(member)
    with django_assert_num_queries(2):
        assert selectors.has_mfa(user) is True
