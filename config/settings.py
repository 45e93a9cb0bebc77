"""Roster settings.

Every value comes from the environment (12-factor). The embedded defaults let a fresh
checkout run with no services at all: SQLite, a file cache and a filesystem Celery broker
under ``var/``, and secrets generated once into ``var/`` so that every process (each
gunicorn worker, the Celery worker and beat) shares them.

Why one module of over 500 lines: a settings module is read top to bottom, each section
(database, cache, allauth, API, limits, security, ...) sets what the later ones read, and
Django takes it as one namespace. Split into files it would have to be imported in order
with ``from ... import *``, which hides where a name comes from; sections are marked with
``# --- ... ---`` headers instead.
"""

import os
import sys
from datetime import timedelta
from pathlib import Path

import environ
from corsheaders.defaults import default_headers as cors_default_headers

from config import keys, redis_connection

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
environ.Env.read_env(BASE_DIR / ".env", overwrite=False)

# The test suite (pytest) keeps its files apart from a running development instance.
TESTING = "pytest" in sys.modules or env.bool("ROSTER_TESTING", default=False)
VAR_DIR = Path(
    env.str("ROSTER_VAR_DIR", default=str(BASE_DIR / "var" / ("test" if TESTING else "")))
)
VAR_DIR.mkdir(parents=True, exist_ok=True)

VERSION = "0.1.0"
SERVICE_NAME = "roster"

# --- Core -------------------------------------------------------------------------------

DEBUG = env.bool("DEBUG", default=False)
SECRET_KEY = env.str("SECRET_KEY", default="") or keys.local_secret_key(VAR_DIR)
SECRET_KEY_IS_GENERATED = not env.str("SECRET_KEY", default="")
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost", "[::1]", "testserver"])
ALLOWED_HOSTS_IS_DEFAULT = "ALLOWED_HOSTS" not in env.ENVIRON
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])
SITE_URL = env.str("SITE_URL", default="http://127.0.0.1:8000")

INSTALLED_APPS = [
    "console.admin_site.RosterAdminConfig",  # Django's admin with the Roster dashboard
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "rest_framework",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "drf_standardized_errors",
    "corsheaders",
    "import_export",
    "pgtrigger",
    "django_prometheus",
    "allauth",
    "allauth.account",
    "allauth.mfa",
    "allauth.socialaccount",
    "allauth.socialaccount.providers.github",
    "allauth.socialaccount.providers.google",
    "allauth.socialaccount.providers.openid_connect",
    # SAML per organization: the apps come from orgs (orgs.saml), never from settings.
    "allauth.socialaccount.providers.saml",
    "allauth.usersessions",
    "allauth.idp.oidc",  # Roster as an OpenID Connect provider (accounts.oidc_provider)
    "audit",
    "notifications",
    "accounts",
    "orgs",
    "access",
    "slots",
    "usage",
    "support",
    "console",
]

MIDDLEWARE = [
    "config.middleware.RequestIDMiddleware",
    # Request counts and latencies by view, method and status (config/metrics.py).
    "config.metrics.RequestMetricsMiddleware",
    "django.middleware.security.SecurityMiddleware",
    # ETag on every GET (a hash of the body) and 304 for a matching If-None-Match. It must
    # see the final body, so it sits outside everything that may change it; streamed
    # responses (CSV exports) are left alone by Django.
    "django.middleware.http.ConditionalGetMiddleware",
    # django-csp, with the settings' policy built once per process (config/csp.py).
    "config.csp.CachedPolicyCSPMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "corsheaders.middleware.CorsMiddleware",
    # The browser's layers (PageOnly*), skipped by /api/ requests that present a bearer token
    # or an API key (config.middleware.is_token_api_request): the API authenticates those by
    # the credential alone. Session-cookie callers go through every one. CSRF stays as Django
    # ships it (DRF's views are exempt anyway; its session door checks CSRF itself).
    "config.middleware.PageOnlySessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "config.middleware.PageOnlyAuthenticationMiddleware",
    "allauth.account.middleware.AccountMiddleware",
    # Security policies of a web session: its lifetime, and MFA setup once required (token
    # API requests skip it, as they skip impersonation: neither has a web session).
    "access.policies.middleware.SecurityPolicyMiddleware",
    "config.middleware.PageOnlyUserSessionsMiddleware",
    # After usersessions: impersonation must not re-assign the admin's web session row.
    "accounts.impersonation.ImpersonationMiddleware",
    "config.middleware.PageOnlyMessageMiddleware",
    # Django's LocaleMiddleware, the signed-in user's profile locale first, then Accept-Language
    # (alone, read directly, for token API requests).
    "accounts.i18n.UserLocaleMiddleware",
    # The user's display preferences (theme, time zone, formats), read lazily by templates.
    "accounts.preferences.PreferencesMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "config.middleware.ApiErrorMiddleware",
    "config.api.throttling.RateLimitHeadersMiddleware",
    # Counts the exceptions views raise, before ApiErrorMiddleware answers them.
    "config.metrics.ViewExceptionMetricsMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"
ASGI_APPLICATION = "config.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# --- Database ---------------------------------------------------------------------------

_database = env.db("DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'roster.sqlite3'}")
IS_SQLITE = _database["ENGINE"] == "django.db.backends.sqlite3"
IS_POSTGRES = _database["ENGINE"].startswith("django.db.backends.postgresql")
DATABASES = {
    "default": _database
    | (
        {
            # WAL + a busy timeout let the web workers, Celery worker and beat share the file.
            "OPTIONS": _database.get("OPTIONS", {})
            | {
                "timeout": 20,
                "transaction_mode": "IMMEDIATE",
                "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
            }
        }
        if IS_SQLITE
        else {
            "CONN_MAX_AGE": _database.get(
                "CONN_MAX_AGE", env.int("DATABASE_CONN_MAX_AGE", default=60)
            ),
            "CONN_HEALTH_CHECKS": _database.get("CONN_HEALTH_CHECKS", True),
        }
    )
    | {"TEST": {"NAME": env.str("DATABASE_TEST_NAME", default=None)}},
}

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
AUTH_USER_MODEL = "accounts.User"

# --- Cache, Redis, Celery ---------------------------------------------------------------

REDIS_URL = env.str("REDIS_URL", default="")


def _redis_db(url: str, db: int) -> str:
    base = url.rstrip("/")
    scheme_and_host, _, path = base.partition("://")
    host = path.split("/", 1)[0]
    return f"{scheme_and_host}://{host}/{db}"


# Every cache call is bounded (seconds); a Redis that is down or frozen answers 503 at once
# rather than holding requests (config.redis_connection, config.outages).
REDIS_SOCKET_TIMEOUT = env.float("REDIS_SOCKET_TIMEOUT", default=0.25)

if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "django_redis.cache.RedisCache",
            # The test suite's cache has a DB of its own: clearing it is a FLUSHDB.
            "LOCATION": _redis_db(
                REDIS_URL,
                env.int("REDIS_TEST_DB", default=9)
                if TESTING
                else env.int("REDIS_CACHE_DB", default=1),
            ),
            "KEY_PREFIX": env.str("CACHE_KEY_PREFIX", default="roster"),
            "OPTIONS": {
                "CLIENT_CLASS": "django_redis.client.DefaultClient",
                "SOCKET_CONNECT_TIMEOUT": REDIS_SOCKET_TIMEOUT,
                "SOCKET_TIMEOUT": REDIS_SOCKET_TIMEOUT,
                "CONNECTION_POOL_KWARGS": {
                    "connection_class": redis_connection.connection_class_for(REDIS_URL)
                },
            },
        }
    }
    CELERY_BROKER_URL = env.str(
        "CELERY_BROKER_URL", default=_redis_db(REDIS_URL, env.int("REDIS_BROKER_DB", default=2))
    )
    CELERY_RESULT_BACKEND = env.str(
        "CELERY_RESULT_BACKEND",
        default=_redis_db(REDIS_URL, env.int("REDIS_RESULT_DB", default=3)),
    )
else:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
            "LOCATION": str(VAR_DIR / "cache"),
            "OPTIONS": {"MAX_ENTRIES": 100_000},
        }
    }
    CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default="filesystem://")
    CELERY_RESULT_BACKEND = env.str("CELERY_RESULT_BACKEND", default=None) or None
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(VAR_DIR / "broker" / "queue"),
        "data_folder_out": str(VAR_DIR / "broker" / "queue"),
        "processed_folder": str(VAR_DIR / "broker" / "processed"),
        # kombu's default is ./control, relative to the working directory.
        "control_folder": str(VAR_DIR / "broker" / "control"),
        "store_processed": False,
    }
    for sub in ("queue", "processed", "control"):
        (VAR_DIR / "broker" / sub).mkdir(parents=True, exist_ok=True)

# The web process's WebSocket side (config/asgi.py imports it by this path). With Redis,
# notifications and channel events cross processes through the Redis channel layer; without
# it there is no channel layer and each web process polls the notification table
# (notifications.ws).
WEBSOCKET_APPLICATION = "notifications.ws.application"
CHANNEL_LAYERS = (
    {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {
                "hosts": [
                    {
                        "address": _redis_db(
                            REDIS_URL,
                            env.int("REDIS_TEST_DB", default=9)
                            if TESTING
                            else env.int("REDIS_CHANNELS_DB", default=4),
                        ),
                        # Above the layer's 5 s blocking pop (redis-py's default is 5 s too,
                        # which cut the pop and closed every socket with 1011).
                        "socket_timeout": 10,
                    }
                ],
                "prefix": env.str("CACHE_KEY_PREFIX", default="roster") + ":ws",
                # Every socket of a web process shares the process's one queue: a team's
                # notification puts a message per member in it at once, and channels-redis
                # drops what is over capacity (default 100) silently.
                "capacity": 10_000,
            },
        }
    }
    if REDIS_URL
    else {}
)

# The test suite runs tasks in-process (and sees their errors) unless told otherwise.
CELERY_TASK_ALWAYS_EAGER = env.bool("CELERY_TASK_ALWAYS_EAGER", default=TESTING)
CELERY_TASK_EAGER_PROPAGATES = TESTING
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TIMEZONE = "UTC"
CELERY_TASK_ACKS_LATE = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_BEAT_SCHEDULE_FILENAME = str(VAR_DIR / "celerybeat-schedule")

SESSION_ENGINE = "django.contrib.sessions.backends.db"

# --- Auth -------------------------------------------------------------------------------

PASSWORD_HASHERS = [
    # The test suite: still argon2id, with cheap parameters, so thousands of logins stay fast.
    *(["tests.hashers.FastArgon2PasswordHasher"] if TESTING else []),
    "django.contrib.auth.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2SHA1PasswordHasher",
    "django.contrib.auth.hashers.ScryptPasswordHasher",
]
# The platform password policy's default min_length (access.policies; admins tighten it there).
PASSWORD_MIN_LENGTH = env.int("PASSWORD_MIN_LENGTH", default=10)
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    # The effective security policy: length, character classes, history.
    {"NAME": "accounts.validators.PasswordPolicyValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
    {"NAME": "accounts.validators.MaximumLengthValidator"},
]
# Passwords longer than this are refused before any hashing happens.
PASSWORD_MAX_LENGTH = 1024

AUTHENTICATION_BACKENDS = [
    "django.contrib.auth.backends.ModelBackend",
    "allauth.account.auth_backends.AuthenticationBackend",
]
LOGIN_URL = "account_login"
LOGIN_REDIRECT_URL = "/account/"
LOGOUT_REDIRECT_URL = "/"

# allauth (current setting names, see docs/architecture.md, "Libraries")
SITE_NAME = env.str("SITE_NAME", default="Roster")
ACCOUNT_LOGIN_METHODS = {"email"}
ACCOUNT_SIGNUP_FIELDS = ["email*", "password1*", "password2*"]
ACCOUNT_UNIQUE_EMAIL = True
ACCOUNT_USER_MODEL_USERNAME_FIELD = "username"
ACCOUNT_EMAIL_VERIFICATION = env.str("ACCOUNT_EMAIL_VERIFICATION", default="optional")
ACCOUNT_EMAIL_VERIFICATION_BY_CODE_ENABLED = False
ACCOUNT_LOGIN_ON_EMAIL_CONFIRMATION = True
ACCOUNT_LOGOUT_ON_PASSWORD_CHANGE = False
# One address per account; a new one replaces it only once it has been confirmed, so the
# sign-in identity never changes to an address nobody has verified.
ACCOUNT_CHANGE_EMAIL = True
# The password pages ask what happens to API keys (accounts.credentials).
ACCOUNT_FORMS = {
    "change_password": "accounts.forms.PasswordChangeForm",
    "reset_password_from_key": "accounts.forms.PasswordResetKeyForm",
}
ACCOUNT_ADAPTER = "accounts.adapters.AccountAdapter"
SOCIALACCOUNT_ADAPTER = "accounts.adapters.SocialAccountAdapter"
ACCOUNT_RATE_LIMITS = {
    "login_failed": env.str("RATE_LIMIT_LOGIN_FAILED", default="10/m/ip,5/5m/key"),
    "signup": env.str("RATE_LIMIT_SIGNUP", default="20/m/ip"),
    "reset_password": env.str("RATE_LIMIT_RESET_PASSWORD", default="20/m/ip,5/m/key"),
    # Text messages with a code (accounts.sms), per account and per number alike.
    "sms_send": env.str("RATE_LIMIT_SMS_SEND", default="3/5m/key,10/d/key"),
}
ACCOUNT_EMAIL_SUBJECT_PREFIX = f"[{SITE_NAME}] "
ACCOUNT_DEFAULT_HTTP_PROTOCOL = "https" if not DEBUG else "http"
MFA_SUPPORTED_TYPES = ["totp", "recovery_codes", "webauthn"]
MFA_PASSKEY_LOGIN_ENABLED = True
# SMS codes (accounts.sms) join allauth's MFA through its adapter and its code form.
MFA_ADAPTER = "accounts.sms.adapter.MFAAdapter"
MFA_FORMS = {"authenticate": "accounts.sms.forms.AuthenticateForm"}
MFA_TOTP_ISSUER = SITE_NAME
MFA_WEBAUTHN_ALLOW_INSECURE_ORIGIN = env.bool("MFA_WEBAUTHN_ALLOW_INSECURE_ORIGIN", default=DEBUG)
USERSESSIONS_TRACK_ACTIVITY = True
SOCIALACCOUNT_EMAIL_AUTHENTICATION = False
# Linking or unlinking a provider asks for the password (or MFA) again unless the session
# reauthenticated within ACCOUNT_REAUTHENTICATION_TIMEOUT: a linked identity is a way in.
SOCIALACCOUNT_REAUTHENTICATION_REQUIRED = True
SOCIALACCOUNT_PROVIDERS: dict = {}
if env.str("GITHUB_CLIENT_ID", default=""):
    SOCIALACCOUNT_PROVIDERS["github"] = {
        "APPS": [
            {
                "client_id": env.str("GITHUB_CLIENT_ID"),
                "secret": env.str("GITHUB_CLIENT_SECRET", default=""),
            }
        ],
        "SCOPE": ["user:email"],
    }
if env.str("GOOGLE_CLIENT_ID", default=""):
    SOCIALACCOUNT_PROVIDERS["google"] = {
        "APPS": [
            {
                "client_id": env.str("GOOGLE_CLIENT_ID"),
                "secret": env.str("GOOGLE_CLIENT_SECRET", default=""),
            }
        ],
        "SCOPE": ["openid", "email", "profile"],
    }
if env.str("OIDC_CLIENT_ID", default=""):
    SOCIALACCOUNT_PROVIDERS["openid_connect"] = {
        "APPS": [
            {
                "provider_id": env.str("OIDC_PROVIDER_ID", default="oidc"),
                "name": env.str("OIDC_PROVIDER_NAME", default="OpenID Connect"),
                "client_id": env.str("OIDC_CLIENT_ID"),
                "secret": env.str("OIDC_CLIENT_SECRET", default=""),
                "settings": {"server_url": env.str("OIDC_SERVER_URL")},
            }
        ]
    }

# --- API --------------------------------------------------------------------------------

REST_FRAMEWORK = {
    # Bearer JWT first, then API keys (Bearer rst_… or X-API-Key), then the browser session.
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "accounts.authentication.JWTAuthentication",
        "accounts.authentication.ApiKeyAuthentication",
        "accounts.authentication.CsrfSessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": [
        "rest_framework.permissions.IsAuthenticated",
        "config.api.permissions.HasScope",
    ],
    "DEFAULT_PAGINATION_CLASS": "config.api.pagination.PageNumberPagination",
    "PAGE_SIZE": 50,
    "DEFAULT_FILTER_BACKENDS": [
        "django_filters.rest_framework.DjangoFilterBackend",
        "config.api.filters.OrderingFilter",
    ],
    # Decimals (usage quantities and totals) are written as exact JSON number literals.
    "DEFAULT_RENDERER_CLASSES": [
        "config.api.renderers.JSONRenderer",
        *(["rest_framework.renderers.BrowsableAPIRenderer"] if DEBUG else []),
    ],
    "DEFAULT_PARSER_CLASSES": ["config.api.parsers.JSONParser"],
    # DRF's, answering Accept: */* or application/json without parsing it.
    "DEFAULT_CONTENT_NEGOTIATION_CLASS": "config.api.negotiation.FirstRendererContentNegotiation",
    # OpenAPI contract: one description of errors, security, scopes and limits.
    "DEFAULT_SCHEMA_CLASS": "config.api.schema.AutoSchema",
    "EXCEPTION_HANDLER": "config.api.exceptions.exception_handler",
    "DEFAULT_THROTTLE_CLASSES": [
        "config.api.throttling.RoleRateThrottle",
        "config.api.throttling.SensitiveEndpointThrottle",
    ],
    "DATETIME_FORMAT": "%Y-%m-%dT%H:%M:%S.%fZ",
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
    "TEST_REQUEST_DEFAULT_FORMAT": "json",
}

DRF_STANDARDIZED_ERRORS = {
    "EXCEPTION_FORMATTER_CLASS": "config.api.exceptions.ExceptionFormatter",
    "ALLOWED_ERROR_STATUS_CODES": ["400", "401", "403", "404", "405", "409", "413", "415", "429"],
}

SPECTACULAR_SETTINGS = {
    "TITLE": "Roster API",
    "DESCRIPTION": (
        "Accounts, sign-in, API keys, slots, usage metering and audit for one service. "
        "Errors use one envelope: `{type, errors: [{code, detail, attr}]}`. Unknown fields "
        "in request bodies are rejected with 400 `unknown_field`."
    ),
    "VERSION": VERSION,
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    "ENUM_NAME_OVERRIDES": {
        name: f"drf_standardized_errors.openapi_serializers.{name}.choices"
        for name in (
            "ValidationErrorEnum",
            "ClientErrorEnum",
            "ServerErrorEnum",
            "ErrorCode401Enum",
            "ErrorCode403Enum",
            "ErrorCode404Enum",
            "ErrorCode405Enum",
            "ErrorCode406Enum",
            "ErrorCode415Enum",
            "ErrorCode429Enum",
            "ErrorCode500Enum",
        )
    }
    | {
        # Slot enums get their own names (a bare "StatusEnum" would collide with the user's).
        "SlotStatusEnum": "slots.lifecycle.SlotStatus.choices",
        "BackupStatusEnum": "console.models.Backup.Status",
        "SlotCredentialKindEnum": "slots.models.CredentialKind.choices",
        "UserStatusEnum": "accounts.models.UserStatus",
        "OrganizationStatusEnum": "orgs.models.OrganizationStatus",
        "MembershipStatusEnum": "orgs.models.MembershipStatus",
        "InvitationStatusEnum": "orgs.models.InvitationStatus",
        "TeamRoleEnum": "orgs.models.TeamRole",
        "DomainJoinModeEnum": "orgs.models.DomainJoinMode",
        # The bulk users action keeps its name beside the access reviews' action.
        "ActionEnum": "accounts.services.bulk.BULK_ACTIONS",
        "AccessRequestStatusEnum": "access.models.AccessRequestStatus",
        "GrantStatusEnum": "access.models.GrantStatus",
        "ReviewActionEnum": "access.models.ReviewAction",
        "ReportStatusEnum": "console.models.Report.Status",
        "TicketStatusEnum": "support.models.Ticket.Status",
        "TicketPriorityEnum": "support.models.Ticket.Priority",
        # Named beside the tickets' priority (which has `urgent` too).
        "NotificationPriorityEnum": "notifications.models.Notification.Priority",
    },
    "POSTPROCESSING_HOOKS": [
        "drf_standardized_errors.openapi_hooks.postprocess_schema_enums",
        "config.api.schema.postprocess_schema",
    ],
    # Swagger UI from our static files only: no badge from the public online validator.
    "SWAGGER_UI_SETTINGS": {
        "deepLinking": True,
        "displayOperationId": True,
        "persistAuthorization": True,
        "validatorUrl": None,
    },
}

# Per-role API budgets (fixed window, shared through the cache; API keys count as their owner).
API_RATE_LIMITS_ENABLED = env.bool("API_RATE_LIMITS_ENABLED", default=not TESTING)
API_RATE_LIMITS = {
    "anonymous": env.str("API_RATE_LIMIT_ANONYMOUS", default="60/min"),
    "member": env.str("API_RATE_LIMIT_MEMBER", default="100/min"),
    "manager": env.str("API_RATE_LIMIT_MANAGER", default="200/min"),
    "admin": env.str("API_RATE_LIMIT_ADMIN", default="500/min"),
}
# Stricter per-IP budgets for the endpoints that attackers hammer.
API_SENSITIVE_RATE_LIMITS = {
    "register": env.str("API_RATE_LIMIT_REGISTER", default="20/min"),
    "token": env.str("API_RATE_LIMIT_TOKEN", default="60/min"),
    "mfa": env.str("API_RATE_LIMIT_MFA", default="30/min"),
    "password_reset": env.str("API_RATE_LIMIT_PASSWORD_RESET", default="10/min"),
}

# Browser clients on other origins (CORS_ALLOWED_ORIGINS) may send our headers and read ours.
CORS_ALLOW_HEADERS = (*cors_default_headers, "x-api-key", "x-request-id", "if-none-match")
CORS_EXPOSE_HEADERS = [
    "X-Request-ID",
    "X-RateLimit-Limit",
    "X-RateLimit-Remaining",
    "X-RateLimit-Reset",
    "Retry-After",
    "ETag",
]

# Request bodies above this size are refused with 413 before parsing.
DATA_UPLOAD_MAX_MEMORY_SIZE = env.int("DATA_UPLOAD_MAX_MEMORY_SIZE", default=2 * 1024 * 1024)

# Slow clients (config.buffered_wsgi, config.gunicorn_worker): the request line and headers
# must arrive within REQUEST_HEADER_TIMEOUT seconds of connecting, and a body within
# REQUEST_BODY_TIMEOUT seconds plus one second per REQUEST_BODY_MIN_RATE bytes received;
# otherwise the answer is 408 and the connection closes. Nothing waits for them meanwhile.
REQUEST_HEADER_TIMEOUT = env.float("REQUEST_HEADER_TIMEOUT", default=10.0)
REQUEST_BODY_TIMEOUT = env.float("REQUEST_BODY_TIMEOUT", default=20.0)
REQUEST_BODY_MIN_RATE = env.int("REQUEST_BODY_MIN_RATE", default=500)

# --- JWT (simplejwt, RS256) -------------------------------------------------------------

JWT_SIGNING_KEYS = keys.jwt_private_keys(env, VAR_DIR)
JWT_KEYS_ARE_GENERATED = not (
    env.str("JWT_PRIVATE_KEY", default="") or env.str("JWT_PRIVATE_KEY_FILE", default="")
)
JWT_ISSUER = env.str("JWT_ISSUER", default=SITE_URL)
JWT_AUDIENCE = env.str("JWT_AUDIENCE", default="roster")
# The MFA step of a token login must follow the password step within this many seconds.
AUTH_MFA_TOKEN_TTL = env.int("AUTH_MFA_TOKEN_TTL", default=300)
SIMPLE_JWT = {
    "ALGORITHM": "RS256",
    "SIGNING_KEY": JWT_SIGNING_KEYS[0],
    "VERIFYING_KEY": keys.public_pem(JWT_SIGNING_KEYS[0]),
    "AUDIENCE": JWT_AUDIENCE,
    "ISSUER": JWT_ISSUER,
    "ACCESS_TOKEN_LIFETIME": timedelta(seconds=env.int("JWT_ACCESS_TOKEN_LIFETIME", default=900)),
    "REFRESH_TOKEN_LIFETIME": timedelta(
        seconds=env.int("JWT_REFRESH_TOKEN_LIFETIME", default=30 * 24 * 3600)
    ),
    "USER_ID_FIELD": "id",
    "USER_ID_CLAIM": "sub",
    "JTI_CLAIM": "jti",
    "TOKEN_TYPE_CLAIM": "token_type",
    "UPDATE_LAST_LOGIN": False,
    "LEEWAY": 5,
}
# An API session ends this long after its token login, however often it is refreshed.
API_SESSION_MAX_LIFETIME = timedelta(
    seconds=env.int("API_SESSION_MAX_LIFETIME", default=30 * 24 * 3600)
)

# --- OpenID Connect provider (allauth.idp.oidc; accounts.oidc_provider, docs/operations.md) --
# The adapter signs ID tokens with JWT_SIGNING_KEYS (so /.well-known/jwks.json verifies them),
# names SITE_URL as the issuer and adds the ``orgs`` scope. Clients: Django admin.
IDP_OIDC_ADAPTER = "orgs.oidc_provider.OrgsOIDCProviderAdapter"
IDP_OIDC_ID_TOKEN_EXPIRES_IN = env.int("OIDC_ID_TOKEN_LIFETIME", default=300)
IDP_OIDC_ACCESS_TOKEN_EXPIRES_IN = env.int("OIDC_ACCESS_TOKEN_LIFETIME", default=900)
IDP_OIDC_REFRESH_TOKEN_EXPIRES_IN = env.int("OIDC_REFRESH_TOKEN_LIFETIME", default=30 * 24 * 3600)
IDP_OIDC_ROTATE_REFRESH_TOKEN = True
IDP_OIDC_AUTHORIZATION_CODE_EXPIRES_IN = 60
# RP-initiated logout signs out at once when the id_token_hint names the signed-in user, and
# asks otherwise (OpenID Connect RP-Initiated Logout 1.0, section 2).
IDP_OIDC_RP_INITIATED_LOGOUT_ASKS_FOR_OP_LOGOUT = False

# --- Slot credentials -------------------------------------------------------------------

CREDENTIAL_ENCRYPTION_KEYS = keys.fernet_keys(env, VAR_DIR)
CREDENTIAL_KEYS_ARE_GENERATED = not env.list("CREDENTIAL_ENCRYPTION_KEYS", default=[])

# --- Backups (console.backups; docs/operations.md) ------------------------------------------

# Fernet keys, newest first: the first encrypts, all of them decrypt (rotation). Never
# generated: an encrypted backup must be readable on another machine, so the key is yours.
BACKUP_ENCRYPTION_KEYS = env.list("BACKUP_ENCRYPTION_KEYS", default=[])
BACKUP_DIR = Path(env.str("BACKUP_DIR", default=str(VAR_DIR / "backups")))

# --- Support attachments (support.attachments) ----------------------------------------------

# Outside STATIC_ROOT and any web root: attachments are served only by the permission-checked
# API endpoint and pages.
SUPPORT_ATTACHMENT_DIR = Path(
    env.str("SUPPORT_ATTACHMENT_DIR", default=str(VAR_DIR / "support-attachments"))
)

# --- Roster policy knobs ----------------------------------------------------------------

ROSTER = {
    "ACCOUNT_ERASURE_GRACE_DAYS": env.int("ACCOUNT_ERASURE_GRACE_DAYS", default=30),
    "USAGE_LATE_ARRIVAL_DAYS": env.int("USAGE_LATE_ARRIVAL_DAYS", default=7),
    "USAGE_RETENTION_DAYS": env.int("USAGE_RETENTION_DAYS", default=90),
    "AUDIT_RETENTION_DAYS": env.int("AUDIT_RETENTION_DAYS", default=365),
    "SLOT_IDLE_SUSPEND_SECONDS": env.int("SLOT_IDLE_SUSPEND_SECONDS", default=0),
    "IMPERSONATION_ENABLED": env.bool("IMPERSONATION_ENABLED", default=False),
    "IMPERSONATION_MAX_SECONDS": env.int("IMPERSONATION_MAX_SECONDS", default=3600),
    "ADMIN_DASHBOARD_CACHE_SECONDS": env.int("ADMIN_DASHBOARD_CACHE_SECONDS", default=60),
    # Organizations a verified user may own (platform admins: no limit).
    "ORGS_PER_USER": env.int("ORGS_PER_USER", default=5),
}
METRICS_TOKEN = env.str("METRICS_TOKEN", default="")
# Every process (gunicorn workers, Celery) writes its Prometheus samples here so /metrics
# adds them up whichever worker answers. Set before prometheus_client is first imported.
PROMETHEUS_MULTIPROC_DIR = env.str("PROMETHEUS_MULTIPROC_DIR", default=str(VAR_DIR / "prometheus"))
Path(PROMETHEUS_MULTIPROC_DIR).mkdir(parents=True, exist_ok=True)
os.environ.setdefault("PROMETHEUS_MULTIPROC_DIR", PROMETHEUS_MULTIPROC_DIR)
CORS_ALLOWED_ORIGINS = env.list("CORS_ALLOWED_ORIGINS", default=[])
CORS_ALLOW_CREDENTIALS = bool(CORS_ALLOWED_ORIGINS)
CORS_URLS_REGEX = r"^/(api|\.well-known)/.*$"

# --- Sign-in and page limits (accounts.flows.limits, on allauth's counters) -------------

RATELIMIT_ENABLE = env.bool("RATELIMIT_ENABLE", default=True)

# --- Email ------------------------------------------------------------------------------

EMAIL_URL = env.str("EMAIL_URL", default="")
if EMAIL_URL:
    vars().update(env.email_url("EMAIL_URL"))
else:
    EMAIL_BACKEND = env.str(
        "EMAIL_BACKEND", default="django.core.mail.backends.filebased.EmailBackend"
    )
    EMAIL_FILE_PATH = str(VAR_DIR / "mail")
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="Roster <roster@localhost>")

# --- SMS (accounts.sms.backends) --------------------------------------------------------

SMS_BACKEND = env.str("SMS_BACKEND", default="accounts.sms.backends.FileBackend")
SMS_FILE_PATH = env.str("SMS_FILE_PATH", default=str(VAR_DIR / "sms"))
SMS_TWILIO_BASE_URL = env.str("SMS_TWILIO_BASE_URL", default="https://api.twilio.com")
SMS_TWILIO_ACCOUNT_SID = env.str("SMS_TWILIO_ACCOUNT_SID", default="")
SMS_TWILIO_AUTH_TOKEN = env.str("SMS_TWILIO_AUTH_TOKEN", default="")
SMS_TWILIO_FROM = env.str("SMS_TWILIO_FROM", default="")  # a number or a Messaging Service SID
SMS_TIMEOUT = env.float("SMS_TIMEOUT", default=5.0)
SMS_CODE_TTL = env.int("SMS_CODE_TTL", default=300)

# --- i18n, static -----------------------------------------------------------------------

LANGUAGE_CODE = "en"
TIME_ZONE = "UTC"
USE_I18N = True
# The languages Roster's own catalogues cover (locale/, compiled .mo files committed); a
# user's profile ``locale`` is one of these, and anonymous requests follow Accept-Language.
LANGUAGES = [("en", "English"), ("de", "Deutsch"), ("fr", "Français")]
LOCALE_PATHS = [BASE_DIR / "locale"]
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = VAR_DIR / "static"
STATIC_ROOT.mkdir(parents=True, exist_ok=True)
STATICFILES_DIRS = [BASE_DIR / "config" / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        # The test suite serves static files without collectstatic's manifest.
        "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"
        if TESTING
        else env.str(
            "STATICFILES_BACKEND",
            default="whitenoise.storage.CompressedManifestStaticFilesStorage"
            if not DEBUG
            else "django.contrib.staticfiles.storage.StaticFilesStorage",
        )
    },
}
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = DEBUG

# --- Security (production values are on when DEBUG is off) ------------------------------

SECURE_PROXY_SSL_HEADER = (
    ("HTTP_X_FORWARDED_PROTO", "https") if env.bool("BEHIND_TLS_PROXY", default=False) else None
)
# Client addresses (sign-in limits, sessions, audit) come from config.client_ip (allauth's
# helper): REMOTE_ADDR unless this many proxies of ours append to X-Forwarded-For. Left at 0,
# the header is ignored, since any caller can send it.
ALLAUTH_TRUSTED_PROXY_COUNT = env.int("TRUSTED_PROXY_COUNT", default=0)
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=False)
SESSION_COOKIE_SECURE = env.bool("SESSION_COOKIE_SECURE", default=not DEBUG)
CSRF_COOKIE_SECURE = env.bool("CSRF_COOKIE_SECURE", default=not DEBUG)
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=0 if DEBUG else 31536000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = True
SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=False)
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
TLS_TERMINATED_UPSTREAM = env.bool("TLS_TERMINATED_UPSTREAM", default=False)

SILENCED_SYSTEM_CHECKS = [
    # TLS is redirected by the proxy in front of Roster; Django must not redirect again.
    *(["security.W008"] if TLS_TERMINATED_UPSTREAM and not SECURE_SSL_REDIRECT else []),
]

# --- Account pages: Content-Security-Policy -------------------------------------------

# Scripts only from our own static files: no inline scripts, no eval, nothing from a CDN.
# form-action is left out on purpose: social sign-in POSTs a form that redirects to the
# provider's origin, which form-action would block.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "img-src": ["'self'", "data:"],
        "font-src": ["'self'"],
        "connect-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'self'"],
        "frame-ancestors": ["'none'"],
    },
}
MFA_RECOVERY_CODES_SHOW_ONCE = False

# --- Logging ----------------------------------------------------------------------------

LOG_LEVEL = env.str("LOG_LEVEL", default="INFO")
# Error reports (the DEBUG page, mail to ADMINS) redact URL secrets as the logs do.
DEFAULT_EXCEPTION_REPORTER = "config.error_reports.RedactingExceptionReporter"
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"request_id": {"()": "config.logging.RequestIDFilter"}},
    "formatters": {"json": {"()": "config.logging.JSONFormatter"}},
    "handlers": {
        "stdout": {
            "class": "logging.StreamHandler",
            "stream": "ext://sys.stdout",
            "formatter": "json",
            "filters": ["request_id"],
        }
    },
    "root": {"handlers": ["stdout"], "level": LOG_LEVEL},
    "loggers": {
        "django.db.backends": {"level": "WARNING"},
        "django.request": {"level": "ERROR"},
    },
}
