import subprocess
import sys
from pathlib import Path

from django.conf import settings

ROOT = Path(__file__).resolve().parents[2]


def _run_check(env_extra: dict, tmp_path, *args) -> subprocess.CompletedProcess:
    env = {
        "PATH": "/usr/bin:/bin",
        "ROSTER_VAR_DIR": str(tmp_path),
        "ROSTER_TESTING": "false",
        **env_extra,
    }
    return subprocess.run(
        [sys.executable, "manage.py", "check", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_settings_argon2id_is_the_first_password_hasher():
    real = [h for h in settings.PASSWORD_HASHERS if not h.startswith("tests.")]
    assert real[0] == "django.contrib.auth.hashers.Argon2PasswordHasher"


def test_settings_embedded_defaults_use_sqlite_and_file_cache_without_services():
    if settings.IS_POSTGRES:
        return  # this run is the PostgreSQL one; the defaults are covered by the SQLite run
    assert settings.DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3"
    assert settings.CACHES["default"]["BACKEND"].endswith("FileBasedCache")
    assert settings.CELERY_BROKER_URL == "filesystem://"
    assert str(settings.CACHES["default"]["LOCATION"]).startswith(str(settings.VAR_DIR))


def test_settings_generated_secrets_are_shared_between_processes(tmp_path):
    code = (
        "import django, os; os.environ['DJANGO_SETTINGS_MODULE']='config.settings';"
        "from django.conf import settings as s;"
        "print(s.SECRET_KEY, s.CREDENTIAL_ENCRYPTION_KEYS[0], hash(s.JWT_SIGNING_KEYS[0]))"
    )
    env = {"PATH": "/usr/bin:/bin", "ROSTER_VAR_DIR": str(tmp_path), "PYTHONHASHSEED": "0"}
    outputs = {
        subprocess.run(
            [sys.executable, "-c", code],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        for _ in range(2)
    }
    assert len(outputs) == 1
    assert (tmp_path / "secret_key").exists()
    assert (tmp_path / "jwt" / "current.pem").stat().st_mode & 0o077 == 0


def test_insecure_defaults_refused_when_debug_is_off(tmp_path):
    result = _run_check({"DEBUG": "false"}, tmp_path)
    assert result.returncode != 0
    for check_id in ("roster.E001", "roster.E002", "roster.E003", "roster.E004"):
        assert check_id in result.stderr


def test_insecure_defaults_check_passes_with_production_settings(tmp_path):
    from cryptography.fernet import Fernet

    from config.keys import _new_rsa_pem

    pem_file = tmp_path / "jwt.pem"
    pem_file.write_text(_new_rsa_pem())
    result = _run_check(
        {
            "DEBUG": "false",
            "SECRET_KEY": "x" * 20 + "a-long-random-production-secret-key-value-1234567890",
            "ALLOWED_HOSTS": "roster.example.com",
            "JWT_PRIVATE_KEY_FILE": str(pem_file),
            "CREDENTIAL_ENCRYPTION_KEYS": Fernet.generate_key().decode(),
            "BEHIND_TLS_PROXY": "true",
            "SECURE_SSL_REDIRECT": "true",
            "SECURE_HSTS_PRELOAD": "true",
        },
        tmp_path,
        "--deploy",
        "--fail-level",
        "WARNING",
    )
    assert result.returncode == 0, result.stderr
