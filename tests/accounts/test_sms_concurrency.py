"""SMS codes under parallel requests (PostgreSQL; SQLite serialises writers): a code is
taken by exactly one of many requests, and parallel wrong tries all count."""

from __future__ import annotations

import threading

import pytest
from django.db import connection, connections

from accounts.sms import services
from accounts.sms.models import SmsCode, SmsDevice
from tests.accounts.test_sms_services import PHONE, _request, last_code

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        connection.vendor != "postgresql", reason="parallel writers need PostgreSQL"
    ),
]


def _parallel(count, work):
    barrier = threading.Barrier(count)
    results = []

    def run():
        try:
            barrier.wait()
            results.append(work())
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run) for _ in range(count)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results


@pytest.fixture
def sms_dir(settings, tmp_path):
    settings.SMS_BACKEND = "accounts.sms.backends.FileBackend"
    settings.SMS_FILE_PATH = str(tmp_path / "sms")
    return tmp_path / "sms"


def test_a_code_is_taken_once_by_parallel_requests(member, sms_dir):
    SmsDevice.objects.create(user=member, phone=PHONE)
    services.send_login_code(_request(member), user=member)
    code = last_code(sms_dir)
    results = _parallel(6, lambda: services.login_code_take(user=member, code=code))
    assert sum(r is not None for r in results) == 1


def test_parallel_wrong_tries_all_count(member, sms_dir):
    SmsDevice.objects.create(user=member, phone=PHONE)
    services.send_login_code(_request(member), user=member)
    code = last_code(sms_dir)
    wrong = f"{(int(code) + 1) % 10**6:06d}"
    _parallel(services.MAX_CODE_ATTEMPTS, lambda: services.login_code_take(user=member, code=wrong))
    row = SmsCode.objects.get(user=member)
    assert row.attempts == services.MAX_CODE_ATTEMPTS and row.used_at is not None
    assert services.login_code_take(user=member, code=code) is None
