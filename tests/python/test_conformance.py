"""Cross-language conformance: stock Python OAuth clients, unmodified, against `tokenlab serve`.

authlib, requests-oauthlib and PyJWT (versions pinned in requirements.txt next to this file)
drive refresh, upm-oauth (code + PKCE + state), tenant-secret and global-secret over real
HTTP on 127.0.0.1: tokens, refresh on expiry by the client library itself (a 3 s token
lifetime via `--set ttl=3s`), standard errors (RFC 6749 §5.2) and the access token's claims
checked by PyJWT against the real clock.

Run: TOKENLAB_BIN=target/debug/tokenlab python -m unittest -v tests/python/test_conformance.py
(`.ci/run` installs the pinned libraries in a venv under target/ and runs it as a stage).

Only configuration a user would give: the `key = value` lines serve prints, and
OAUTHLIB_INSECURE_TRANSPORT=1, oauthlib's documented switch for http:// on loopback.
"""

import html.parser
import os
import signal
import subprocess
import time
import unittest
import urllib.parse

os.environ.setdefault("OAUTHLIB_INSECURE_TRANSPORT", "1")

import jwt  # PyJWT
import requests
from authlib.integrations.requests_client import OAuth2Session as AuthlibSession
from authlib.integrations.base_client.errors import OAuthError
from authlib.oauth2.rfc6749.errors import MismatchingStateException
from oauthlib.oauth2 import BackendApplicationClient
from oauthlib.oauth2.rfc6749.errors import InvalidClientError, InvalidGrantError
from requests_oauthlib import OAuth2Session as OAuthlibSession

BIN = os.environ.get("TOKENLAB_BIN", "target/debug/tokenlab")
TTL_S = 3
LIMIT_S = 60  # guards against a hang only


class Serve:
    """`tokenlab serve` in the background; `shared` and `tenants[i]` are its printed lines."""

    def __init__(self, mechanism, tenants=1):
        self.proc = subprocess.Popen(
            [BIN, "serve", "--mechanism", mechanism, "--tenants", str(tenants),
             "--set", f"ttl={TTL_S}s"],
            stdout=subprocess.PIPE, text=True)
        self.shared, self.tenants = {}, []
        deadline = time.time() + LIMIT_S
        for line in self.proc.stdout:
            if time.time() > deadline:
                raise TimeoutError("serve did not come up")
            line = line.rstrip("\n")
            if line == "serving until Ctrl-C":
                break
            if line.startswith("  ") and " = " in line:
                k, v = line.strip().split(" = ", 1)
                if k == "tenant":
                    self.tenants.append({"tenant": v})
                elif self.tenants:
                    self.tenants[-1][k] = v
                else:
                    self.shared[k] = v
        else:
            raise RuntimeError("serve exited before serving")

    def get(self, key, tenant=0):
        return self.tenants[tenant].get(key) or self.shared[key]

    def stop(self):
        self.proc.send_signal(signal.SIGINT)
        self.proc.communicate(timeout=LIMIT_S)
        assert self.proc.returncode == 0, self.proc.returncode


def assert_claims(test, access_token, tenant):
    """PyJWT against the real clock. The signature is the platform's own HMAC key, which no
    client holds; issuer, audience, iat, exp, scope and the tenant binding are checked."""
    claims = jwt.decode(
        access_token,
        options={"verify_signature": False, "verify_exp": True, "verify_iat": True,
                 "verify_aud": True, "verify_iss": True,
                 "require": ["exp", "iat", "iss", "aud"]},
        audience="product-api", issuer="tokenlab-platform", leeway=0)
    now = time.time()
    test.assertLessEqual(claims["iat"], now + 1)
    test.assertGreater(claims["iat"], now - 120, "iat is the real time, not a fixed epoch")
    test.assertEqual(claims["exp"] - claims["iat"], TTL_S)
    test.assertEqual(claims["inst"], tenant)
    test.assertEqual(claims["scope"], "app-system")
    return claims


def assert_standard_token_response(test, resp):
    """RFC 6749 §5.1 on the raw response."""
    test.assertEqual(resp.status_code, 200, resp.text)
    test.assertIn("no-store", resp.headers.get("Cache-Control", ""))
    test.assertEqual(resp.headers.get("Pragma"), "no-cache")
    body = resp.json()
    test.assertEqual(body["token_type"], "Bearer")
    test.assertIsInstance(body["expires_in"], int)
    test.assertLessEqual(body["expires_in"], TTL_S)
    test.assertEqual(body["scope"], "app-system")
    test.assertNotIn("expires_at", body, "no model-time field a client would misread")


def assert_error(test, resp, status, code):
    test.assertEqual(resp.status_code, status, resp.text)
    test.assertEqual(resp.json()["error"], code)


class FormParser(html.parser.HTMLParser):
    """The consent page's form, as a browser would read it."""

    def __init__(self):
        super().__init__()
        self.action, self.fields = None, {}

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "form":
            self.action = a.get("action")
        elif tag == "input" and a.get("name"):
            self.fields[a["name"]] = a.get("value", "")


def browser_consents(authorize_url, approve="yes"):
    """A person opens the URL, sees the page, approves; returns the redirect's Location."""
    page = requests.get(authorize_url, headers={"Accept": "text/html"}, timeout=LIMIT_S)
    assert page.status_code == 200, page.text
    assert page.headers["content-type"].startswith("text/html")
    form = FormParser()
    form.feed(page.text)
    fields = dict(form.fields, approve=approve)
    action = urllib.parse.urljoin(authorize_url, form.action)
    resp = requests.post(action, data=fields, allow_redirects=False, timeout=LIMIT_S)
    return resp


class Refresh(unittest.TestCase):
    def test_authlib_refreshes_on_expiry_and_errors_are_standard(self):
        s = Serve("refresh")
        try:
            token_url, api = s.get("token_endpoint"), s.get("api_endpoint")
            updates = []
            # A partner configured with the refresh token only: the client refreshes at once.
            sess = AuthlibSession(
                client_id=s.get("client_id"), token_endpoint=token_url,
                token_endpoint_auth_method="none", leeway=0,
                token={"access_token": "none", "token_type": "Bearer",
                       "refresh_token": s.get("refresh_token"), "expires_at": 0},
                update_token=lambda t, **kw: updates.append(t))
            r = sess.get(api, timeout=LIMIT_S)
            self.assertEqual(r.status_code, 200, r.text)
            self.assertEqual(len(updates), 1)
            first = sess.token
            assert_claims(self, first["access_token"], 0)
            self.assertNotEqual(first["refresh_token"], s.get("refresh_token"), "rotation")
            # Expiry: the library sees it from expires_in and refreshes by itself.
            time.sleep(TTL_S + 0.5)
            r = sess.get(api, timeout=LIMIT_S)
            self.assertEqual(r.status_code, 200, r.text)
            self.assertEqual(len(updates), 2)
            self.assertNotEqual(sess.token["access_token"], first["access_token"])
            assert_claims(self, sess.token["access_token"], 0)
            # The expired token is refused by the API.
            r = requests.get(api, headers={"Authorization": f"Bearer {first['access_token']}"},
                             timeout=LIMIT_S)
            self.assertEqual(r.status_code, 401, r.text)
            # §5.1 on the wire, with a fresh refresh.
            raw = requests.post(token_url, data={"grant_type": "refresh_token",
                                                 "refresh_token": sess.token["refresh_token"]},
                                timeout=LIMIT_S)
            assert_standard_token_response(self, raw)
            # §5.2: unknown or malformed refresh token, missing grant_type, unknown grant.
            for bogus in ["not-a-token", "tlsec_rt_00000000000000000000000000000000"]:
                with self.assertRaises(OAuthError) as e:
                    sess.refresh_token(token_url, refresh_token=bogus)
                self.assertEqual(e.exception.error, "invalid_grant")
            assert_error(self, requests.post(token_url, data={"refresh_token": "x"},
                                             timeout=LIMIT_S), 400, "invalid_request")
            assert_error(self, requests.post(token_url, data={"grant_type": "password"},
                                             timeout=LIMIT_S), 400, "unsupported_grant_type")
            # requests-oauthlib refreshes on expiry by itself too (auto_refresh_url).
            saved = []
            ol = OAuthlibSession(
                client_id=s.get("client_id"),
                token={"access_token": "none", "token_type": "Bearer", "expires_in": -1,
                       "refresh_token": raw.json()["refresh_token"]},
                auto_refresh_url=token_url,
                auto_refresh_kwargs={"client_id": s.get("client_id")},
                token_updater=saved.append)
            r = ol.get(api, timeout=LIMIT_S)
            self.assertEqual(r.status_code, 200, r.text)
            self.assertEqual(len(saved), 1)
            assert_claims(self, saved[0]["access_token"], 0)
            # requests-oauthlib maps the same answer onto its own exception.
            ol = OAuthlibSession(client_id=s.get("client_id"))
            with self.assertRaises(InvalidGrantError):
                ol.refresh_token(token_url, refresh_token="not-a-token",
                                 client_id=s.get("client_id"), include_client_id=True)
        finally:
            s.stop()


class UpmOAuth(unittest.TestCase):
    def session(self, s, method, **kw):
        return AuthlibSession(
            client_id=s.get("client_id"), client_secret=s.get("client_secret"),
            redirect_uri=s.get("redirect_uri"), token_endpoint=s.get("token_endpoint"),
            code_challenge_method="S256", token_endpoint_auth_method=method, leeway=0, **kw)

    def test_authlib_code_with_pkce_and_state_then_refresh_on_expiry(self):
        s = Serve("upm-oauth")
        try:
            for method in ["client_secret_basic", "client_secret_post"]:
                updates = []
                sess = self.session(s, method, update_token=lambda t, **kw: updates.append(t))
                verifier = "v" * 20 + os.urandom(16).hex()
                url, state = sess.create_authorization_url(
                    s.get("authorization_endpoint"), code_verifier=verifier)
                resp = browser_consents(url)
                self.assertEqual(resp.status_code, 302, resp.text)
                location = resp.headers["Location"]
                # Back to the redirect URI the client registered (§4.1.2).
                self.assertTrue(location.startswith(s.get("redirect_uri") + "?"), location)
                token = sess.fetch_token(authorization_response=location, state=state,
                                         code_verifier=verifier)
                assert_claims(self, token["access_token"], 0)
                self.assertIn("refresh_token", token)
                r = sess.get(s.get("api_endpoint"), timeout=LIMIT_S)
                self.assertEqual(r.status_code, 200, r.text)
                time.sleep(TTL_S + 0.5)
                r = sess.get(s.get("api_endpoint"), timeout=LIMIT_S)
                self.assertEqual(r.status_code, 200, r.text)
                self.assertEqual(len(updates), 1, f"{method}: refreshed by itself")
                # The code is single-use (§4.1.2, §5.2).
                with self.assertRaises(OAuthError) as e:
                    sess.fetch_token(authorization_response=location, state=state,
                                     code_verifier=verifier)
                self.assertEqual(e.exception.error, "invalid_grant")
            # A forged state is caught by the client; a wrong verifier by the server (PKCE).
            sess = self.session(s, "client_secret_basic")
            verifier = "w" * 43
            url, state = sess.create_authorization_url(
                s.get("authorization_endpoint"), code_verifier=verifier)
            location = browser_consents(url).headers["Location"]
            with self.assertRaises(MismatchingStateException):
                sess.fetch_token(authorization_response=location, state="forged",
                                 code_verifier=verifier)
            with self.assertRaises(OAuthError) as e:
                sess.fetch_token(authorization_response=location, state=state,
                                 code_verifier="x" * 43)
            self.assertEqual(e.exception.error, "invalid_grant")
            # Client authentication at the refresh grant: a wrong secret is invalid_client.
            bad = AuthlibSession(client_id=s.get("client_id"), client_secret="wrong",
                                 token_endpoint_auth_method="client_secret_basic")
            with self.assertRaises(OAuthError) as e:
                bad.refresh_token(s.get("token_endpoint"), refresh_token=s.get("refresh_token"))
            self.assertEqual(e.exception.error, "invalid_client")
            # A denied consent gets no code.
            resp = browser_consents(url, approve="no")
            self.assertEqual(resp.status_code, 403, resp.text)
        finally:
            s.stop()


class TenantSecret(unittest.TestCase):
    def test_client_credentials_with_both_libraries(self):
        s = Serve("tenant-secret", tenants=2)
        try:
            token_url, api = s.get("token_endpoint"), s.get("api_endpoint")
            for t in [0, 1]:
                cid, secret = s.get("client_id", t), s.get("client_secret", t)
                self.assertNotIn(":", cid)
                # requests-oauthlib: HTTP Basic, unencoded, as it always sends it.
                ol = OAuthlibSession(client=BackendApplicationClient(client_id=cid))
                token = ol.fetch_token(token_url=token_url, client_id=cid, client_secret=secret)
                assert_claims(self, token["access_token"], t)
                r = ol.get(api, timeout=LIMIT_S)
                self.assertEqual(r.status_code, 200, r.text)
            # authlib re-fetches by itself on expiry (client_secret_post this time).
            updates = []
            sess = AuthlibSession(client_id=s.get("client_id"),
                                  client_secret=s.get("client_secret"),
                                  token_endpoint=token_url, grant_type="client_credentials",
                                  token_endpoint_auth_method="client_secret_post", leeway=0,
                                  update_token=lambda t, **kw: updates.append(t))
            sess.fetch_token()
            time.sleep(TTL_S + 0.5)
            r = sess.get(api, timeout=LIMIT_S)
            self.assertEqual(r.status_code, 200, r.text)
            self.assertEqual(len(updates), 1)
            assert_claims(self, sess.token["access_token"], 0)
            # Another tenant's secret under this tenant's id: invalid_client.
            ol = OAuthlibSession(client=BackendApplicationClient(client_id=s.get("client_id")))
            with self.assertRaises(InvalidClientError):
                ol.fetch_token(token_url=token_url, client_id=s.get("client_id"),
                               client_secret=s.get("client_secret", 1))
            assert_error(self, requests.post(token_url, data={"client_id": "x"},
                                             timeout=LIMIT_S), 400, "invalid_request")
        finally:
            s.stop()


class GlobalSecret(unittest.TestCase):
    def test_client_credentials_naming_the_site(self):
        s = Serve("global-secret", tenants=2)
        try:
            cid, secret = s.get("client_id"), s.get("client_secret")
            api = s.get("api_endpoint")
            # One secret for every site: the site is a parameter of the token endpoint's URL,
            # so even a library's automatic re-fetch names it.
            for t in [0, 1]:
                token_url = f"{s.get('token_endpoint')}?tenant={t}"
                ol = OAuthlibSession(client=BackendApplicationClient(client_id=cid))
                token = ol.fetch_token(token_url=token_url, client_id=cid, client_secret=secret)
                assert_claims(self, token["access_token"], t)
                self.assertEqual(ol.get(api, timeout=LIMIT_S).status_code, 200)
            updates = []
            sess = AuthlibSession(client_id=cid, client_secret=secret,
                                  token_endpoint=f"{s.get('token_endpoint')}?tenant=1",
                                  grant_type="client_credentials", leeway=0,
                                  update_token=lambda t, **kw: updates.append(t))
            sess.fetch_token()
            time.sleep(TTL_S + 0.5)
            self.assertEqual(sess.get(api, timeout=LIMIT_S).status_code, 200)
            self.assertEqual(len(updates), 1)
            assert_claims(self, sess.token["access_token"], 1)
            with self.assertRaises(InvalidClientError):
                OAuthlibSession(client=BackendApplicationClient(client_id=cid)).fetch_token(
                    token_url=f"{s.get('token_endpoint')}?tenant=0", client_id=cid,
                    client_secret="wrong")
            # No site named: the request is incomplete (§5.2 invalid_request).
            r = requests.post(s.get("token_endpoint"), auth=(cid, secret),
                              data={"grant_type": "client_credentials"}, timeout=LIMIT_S)
            assert_error(self, r, 400, "invalid_request")
        finally:
            s.stop()


if __name__ == "__main__":
    unittest.main(verbosity=2)
