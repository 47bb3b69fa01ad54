"""django-oauth-toolkit (versions pinned in requirements.txt next to this file) for tokenlab's
probe tests (tests/probe.rs). A minimal Django project whose SQLite database lives in a
temporary directory: migrates, mints FAMILIES independent refresh-token families through the
ORM (one user, one access token + refresh token each, the refresh token in its own
token_family), binds 127.0.0.1 on a free port, prints `key = value` lines (the format
`tokenlab serve` uses) and serves until killed.

  python server.py --dir TMPDIR --families N --rotate 1|0 --grace SECONDS --reuse-protection 1|0

The switches are django-oauth-toolkit's own settings: ROTATE_REFRESH_TOKEN,
REFRESH_TOKEN_GRACE_PERIOD_SECONDS, REFRESH_TOKEN_REUSE_PROTECTION.
"""

import argparse
import os
import secrets
import sys
import uuid
from datetime import timedelta

ap = argparse.ArgumentParser()
ap.add_argument("--dir", required=True)
ap.add_argument("--families", type=int, default=4)
ap.add_argument("--rotate", type=int, default=1)
ap.add_argument("--grace", type=int, default=0)
ap.add_argument("--reuse-protection", type=int, default=1)
ap.add_argument("--at-ttl", type=int, default=300)
opts = ap.parse_args()

import django
from django.conf import settings

settings.configure(
    DEBUG=False,
    SECRET_KEY=secrets.token_hex(32),
    ALLOWED_HOSTS=["127.0.0.1"],
    ROOT_URLCONF=__name__,
    INSTALLED_APPS=[
        "django.contrib.auth",
        "django.contrib.contenttypes",
        "oauth2_provider",
    ],
    MIDDLEWARE=[],
    DATABASES={
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": os.path.join(opts.dir, "db.sqlite3"),
        }
    },
    USE_TZ=True,
    OAUTH2_PROVIDER={
        "ROTATE_REFRESH_TOKEN": bool(opts.rotate),
        "REFRESH_TOKEN_GRACE_PERIOD_SECONDS": opts.grace,
        "REFRESH_TOKEN_REUSE_PROTECTION": bool(opts.reuse_protection),
        "ACCESS_TOKEN_EXPIRE_SECONDS": opts.at_ttl,
    },
)
django.setup()

from django.urls import include, path  # noqa: E402

urlpatterns = [path("o/", include("oauth2_provider.urls", namespace="oauth2_provider"))]

from django.contrib.auth import get_user_model  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.core.wsgi import get_wsgi_application  # noqa: E402
from django.utils import timezone  # noqa: E402
from oauth2_provider.models import AccessToken, Application, RefreshToken  # noqa: E402
from wsgiref.simple_server import WSGIRequestHandler, make_server  # noqa: E402

call_command("migrate", verbosity=0, interactive=False)
client_secret = secrets.token_hex(24)
user = get_user_model().objects.create_user("probe-user")
app = Application.objects.create(
    name="probe",
    client_id="probe-client",
    client_secret=client_secret,
    # Stored in clear: a hashed secret costs a PBKDF2 run (~0.5 s) per request, which would
    # blur the grace window's timing; the refresh-token logic under test is the same.
    hash_client_secret=False,
    client_type=Application.CLIENT_CONFIDENTIAL,
    authorization_grant_type=Application.GRANT_AUTHORIZATION_CODE,
    redirect_uris="http://127.0.0.1/cb",
    user=user,
)
tokens = []
for _ in range(opts.families):
    at = AccessToken.objects.create(
        user=user,
        application=app,
        token=secrets.token_urlsafe(30),
        expires=timezone.now() + timedelta(seconds=opts.at_ttl),
        scope="read write",
    )
    rt_value = secrets.token_urlsafe(30)
    RefreshToken.objects.create(
        user=user, application=app, token=rt_value, access_token=at, token_family=uuid.uuid4()
    )
    tokens.append(rt_value)


class Quiet(WSGIRequestHandler):
    def log_message(self, *args):
        pass


httpd = make_server("127.0.0.1", 0, get_wsgi_application(), handler_class=Quiet)
port = httpd.server_address[1]
lines = [
    f"django-oauth-toolkit on 127.0.0.1:{port} (rotate {opts.rotate}, grace {opts.grace} s, "
    f"reuse protection {opts.reuse_protection})",
    f"  token_endpoint = http://127.0.0.1:{port}/o/token/",
    "  client_id = probe-client",
    f"  client_secret = {client_secret}",
    *[f"  refresh_token = {t}" for t in tokens],
    "serving until killed",
]
print("\n".join(lines), flush=True)
httpd.serve_forever()
