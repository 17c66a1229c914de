"""Settings for the Custom Labels console.

Every setting that differs between a laptop and production comes from the environment; the
defaults are the embedded ones `make run` uses (SQLite, filesystem Celery broker, local S3).
"""

from datetime import timedelta
from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = BASE_DIR / "var"

env = environ.Env()

# The built-in key is for `make run` with DEBUG on only: anyone can read it here, and with it forge
# sessions. With DEBUG off the console refuses to start with it; `check --deploy` fails on it too.
DEVELOPMENT_SECRET_KEY = "insecure-dev-key-change-me-for-anything-real-0123456789"
SECRET_KEY = env("SECRET_KEY", default=DEVELOPMENT_SECRET_KEY)
DEBUG = env.bool("DEBUG", default=False)
if not DEBUG and SECRET_KEY == DEVELOPMENT_SECRET_KEY:
    raise ImproperlyConfigured(
        "With DEBUG off the console does not start with the built-in development SECRET_KEY, which anyone "
        "can read in its source. Set the SECRET_KEY environment variable to a long random value, e.g. the "
        "output of: python -c 'import secrets; print(secrets.token_urlsafe(50))' (or DEBUG=true on a laptop)."
    )
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "axes",
    "django_htmx",
    "template_partials",
    "projects",
    "datasets",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.auth.middleware.LoginRequiredMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "projects.middleware.ConsoleBucketRequiredMiddleware",
    # Last, as django-axes asks: it turns a locked-out sign-in into the lockout page.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "customlabels.urls"
WSGI_APPLICATION = "customlabels.wsgi.application"

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
                "projects.context_processors.console",
            ],
            "builtins": ["template_partials.templatetags.partials", "customlabels.template_urls"],
        },
    },
]

DATABASES = {
    "default": env.db("DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'db.sqlite3'}"),
}
DATABASES["default"]["ATOMIC_REQUESTS"] = False
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # The embedded default serves one web process and one worker; WAL plus a busy timeout lets
    # them write without "database is locked" errors.
    DATABASES["default"]["OPTIONS"] = {
        "timeout": 20,
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        "transaction_mode": "IMMEDIATE",
    }
else:
    DATABASES["default"].setdefault("CONN_MAX_AGE", 60)
    # JIT compilation costs a few hundred milliseconds on the gallery's counting queries and never
    # pays back on queries this short.
    DATABASES["default"].setdefault("OPTIONS", {})["options"] = "-c jit=off"
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

# Sign-in throttling (django-axes): AxesStandaloneBackend refuses a locked-out user name or address
# before ModelBackend checks the password. See "Sign-in lockout" in the README.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
# After AXES_FAILURE_LIMIT failed sign-ins for one user name (from any address), or from one address
# (for any user names), further sign-ins for it are refused, the right password too, until
# AXES_COOLOFF_MINUTES have passed since the last failure or an administrator unlocks it.
AXES_FAILURE_LIMIT = env.int("AXES_FAILURE_LIMIT", default=5)
AXES_COOLOFF_TIME = timedelta(minutes=env.int("AXES_COOLOFF_MINUTES", default=15))
AXES_LOCKOUT_PARAMETERS = ["username", "ip_address"]
# A successful sign-in clears the failures of that user name (only: see SigninAttemptsHandler).
AXES_RESET_ON_SUCCESS = True
AXES_HANDLER = "projects.signin.SigninAttemptsHandler"
AXES_LOCKOUT_CALLABLE = "projects.signin.signin_locked_out"
AXES_CLIENT_IP_CALLABLE = "projects.signin.client_address"

LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "projects:list"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = VAR_DIR / "staticfiles"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}
if DEBUG:
    STORAGES["staticfiles"] = {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}

SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SECURE = env.bool("SESSION_COOKIE_SECURE", default=not DEBUG)
CSRF_COOKIE_SECURE = env.bool("CSRF_COOKIE_SECURE", default=not DEBUG)
# Behind HTTPS in production: set SECURE_SSL_REDIRECT=true and SECURE_HSTS_SECONDS (README,
# "Production"); `manage.py check --deploy` is clean with those. Off by default for `make run`'s http.
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=False)
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", default=True)
SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=True)
if env.bool("SECURE_PROXY_SSL_HEADER", default=False):
    # A TLS-terminating proxy in front says the request was https with X-Forwarded-Proto.
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"

# --- S3 -----------------------------------------------------------------------------------
AWS_S3_ENDPOINT_URL = env("AWS_S3_ENDPOINT_URL", default=None) or None
AWS_ACCESS_KEY_ID = env("AWS_ACCESS_KEY_ID", default=None)
AWS_SECRET_ACCESS_KEY = env("AWS_SECRET_ACCESS_KEY", default=None)
AWS_DEFAULT_REGION = env("AWS_DEFAULT_REGION", default="us-east-1")
# How long a presigned image URL stays valid, in seconds.
PRESIGNED_URL_EXPIRES = env.int("PRESIGNED_URL_EXPIRES", default=300)
# Threads one import chunk uses to read image headers concurrently, and the most S3 reads a worker
# process makes at once for all its imports.
IMPORT_HEADER_THREADS = env.int("IMPORT_HEADER_THREADS", default=16)
# While a user who has read less lately imports too, each user who has read more gets at most this
# many of those reads at once (datasets/imports/fair_share.py): a small import beside a large one
# runs almost as if alone, and the large one goes on.
IMPORT_READS_WHEN_SHARED = max(1, env.int("IMPORT_READS_WHEN_SHARED", default=2))
# Keys an S3-folder import lists at a time, and so images in one of its chunks (S3 returns at most 1,000).
IMPORT_LIST_PAGE_SIZE = min(1000, env.int("IMPORT_LIST_PAGE_SIZE", default=1000))

# --- Fair use of the shared workers ---------------------------------------------------------
# Chunk tasks of one import queued or running at a time; the next stored chunk is queued as one
# finishes, so the imports of several users interleave on the workers instead of queueing one
# behind the other's every chunk. One chunk (16 header threads) keeps a threads:4 worker process's
# interpreter busy: measured, one import runs about as fast with 1 as with 2 or 4, and
# another user's import far faster beside it (README, Configuration).
IMPORT_CHUNKS_IN_FLIGHT = max(1, env.int("IMPORT_CHUNKS_IN_FLIGHT", default=1))
# How often (seconds) a worker's interpreter lets another of its threads run (Python's default is
# 0.005). A threads pool runs one user's large import beside another's small one in one process:
# each of the small one's many short database and S3 calls waits up to this long for the
# interpreter after it returns, so the default made a 100-image import 6× slower beside a large one
# (bench_fairness; README, Configuration).
WORKER_SWITCH_INTERVAL = env.float("WORKER_SWITCH_INTERVAL", default=0.0005)
# Imports (S3 folder, manifest, copy, test dataset) one user runs at once; further ones wait.
IMPORTS_PER_USER = max(1, env.int("IMPORTS_PER_USER", default=2))
# Images a dataset may hold (spec §4: "The default is 250,000."); an import that would cross it fails.
IMAGES_PER_DATASET = env.int("IMAGES_PER_DATASET", default=250_000)
# Non-image objects an S3-folder import lists by key in its report; past this many it only counts them.
IMPORT_SKIPPED_LISTED = env.int("IMPORT_SKIPPED_LISTED", default=1000)

# --- Celery -------------------------------------------------------------------------------
CELERY_BROKER_URL = env("CELERY_BROKER_URL", default="filesystem://")
if CELERY_BROKER_URL == "filesystem://":
    _broker_dir = VAR_DIR / "broker"
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_broker_dir / "queue"),
        "data_folder_out": str(_broker_dir / "queue"),
        "processed_folder": str(_broker_dir / "processed"),
        "control_folder": str(_broker_dir / "control"),
        "store_processed": False,
    }
elif CELERY_BROKER_URL.startswith(("redis://", "rediss://", "sentinel://")):
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        # Redis hands a task a dead worker held (acks_late) to another worker after this many seconds.
        "visibility_timeout": env.int("CELERY_VISIBILITY_TIMEOUT", default=3600),
        # Look for such tasks every 10 s (kombu's unacked_restore_interval), not on every tenth look
        # only, so they come back within 10 s of the visibility timeout rather than within 100 s.
        "unacked_restore_throttle": 1,
    }
else:
    # RabbitMQ (amqp://) gives a dead worker's unacknowledged tasks to another worker as soon as its
    # connection drops: it has no visibility timeout, and needs no transport options.
    CELERY_BROKER_TRANSPORT_OPTIONS = {}
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ALWAYS_EAGER = env.bool("CELERY_TASK_ALWAYS_EAGER", default=False)
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# Fail fast when the broker is down so a submit can say so instead of hanging.
CELERY_BROKER_CONNECTION_TIMEOUT = 3
CELERY_BROKER_CONNECTION_MAX_RETRIES = 1

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env("LOG_LEVEL", default="INFO")},
    "loggers": {
        "botocore": {"level": "WARNING"},
        "urllib3": {"level": "WARNING"},
    },
}
CELERY_TASK_ROUTES = {
    "datasets.tasks.image_thumbnails_task": {"queue": "thumbnails"},
    "datasets.tasks.images_thumbnails_relocate_task": {"queue": "thumbnails"},
    "datasets.tasks.images_thumbnails_queue_task": {"queue": "thumbnails"},
}
# An import step that cannot reach S3 (or hits a database deadlock) is retried this many times,
# with exponential backoff capped at IMPORT_RETRY_BACKOFF_MAX seconds, before the import fails.
IMPORT_RETRY_MAX = env.int("IMPORT_RETRY_MAX", default=6)
IMPORT_RETRY_BACKOFF_MAX = env.int("IMPORT_RETRY_BACKOFF_MAX", default=60)
# An import no worker has touched for this long is failed (with "Retry import" offered): its worker
# died and did not come back. Longer than the visibility timeout would be pointless for one worker
# that restarts, so keep it above the slowest single step and below CELERY_VISIBILITY_TIMEOUT.
IMPORT_STALL_SECONDS = env.int("IMPORT_STALL_SECONDS", default=900)
# Threads each thumbnails worker process makes thumbnails with (read, decode, resize, encode, store),
# shared by the thumbnail tasks it runs. The Procfile's thumbnails worker has two such processes
# (prefork): in one, the interpreter's lock held for the requests and the task's own work left the
# second core a third idle (178 against 238 thumbnails/s, 4 threads each, measured).
THUMBNAIL_THREADS = max(1, env.int("THUMBNAIL_THREADS", default=4))
# Thumbnail tasks (of 100 images) of one dataset queued or running at a time; each one that ends
# queues the next, so another user's thumbnails wait behind these few, not behind a whole import's.
THUMBNAIL_TASKS_IN_FLIGHT = max(1, env.int("THUMBNAIL_TASKS_IN_FLIGHT", default=4))
# How often Celery beat queues the thumbnails nothing else will: a failed import's images, tasks lost.
THUMBNAIL_SWEEP_SECONDS = env.float("THUMBNAIL_SWEEP_SECONDS", default=300.0)
CELERY_BEAT_SCHEDULE = {
    "fail-stalled-imports": {
        "task": "datasets.tasks.imports_stalled_fail_task",
        "schedule": env.float("IMPORT_STALL_CHECK_SECONDS", default=60.0),
    },
    "queue-pending-thumbnails": {
        "task": "datasets.tasks.thumbnails_sweep_task",
        "schedule": THUMBNAIL_SWEEP_SECONDS,
    },
}
# A labeling request may carry a selection of up to a few thousand image ids.
DATA_UPLOAD_MAX_NUMBER_FIELDS = 10_000
# "You can upload up to 30 images at a time." (spec §2.3): Django stops reading a request with more
# files, and the upload view turns that into this sentence.
DATA_UPLOAD_MAX_NUMBER_FILES = 30
# The largest request body Add images reads: 30 images of 15 MB and 1 MiB for the form around them.
# A larger one, or one that does not say its size, is refused before any of it is read.
UPLOAD_MAX_BODY_BYTES = env.int("UPLOAD_MAX_BODY_BYTES", default=30 * 15 * 1024 * 1024 + 1024 * 1024)

# The Rekognition API (`POST /rekognition`, datasets/api). The secrets of users' access keys are kept
# encrypted with these Fernet keys (comma-separated, newest first: it encrypts, every one decrypts, so a
# key can be rotated in; see the README). Without any, one is derived from SECRET_KEY.
ACCESS_KEY_ENCRYPTION_KEYS = env.list("ACCESS_KEY_ENCRYPTION_KEYS", default=[])
ACCESS_KEYS_PER_USER = 2
# A signed request's X-Amz-Date may be this far from the server's clock, as AWS allows.
API_CLOCK_SKEW_SECONDS = 300
# UpdateDatasetEntries carries up to 5 MiB of Ground Truth lines, base64-encoded in JSON.
API_MAX_BODY_BYTES = env.int("API_MAX_BODY_BYTES", default=8 * 1024 * 1024)
