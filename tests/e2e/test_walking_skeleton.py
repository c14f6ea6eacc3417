"""The whole shape, driven as people use it: sign up, log in, own JupyterLab, kernel, API, isolation."""

from __future__ import annotations

import os
import pwd
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from tests.e2e.conftest import NewPerson, RunningHub
from tests.e2e.fake_github import FakeGitHub
from tests.e2e.hub_client import HubUserSession

pytestmark = pytest.mark.e2e


def test_two_people_get_isolated_servers_and_the_api_knows_them(hub: RunningHub, new_person: NewPerson) -> None:
    alice, alice_password = new_person()
    bob, _ = new_person()
    # Sign-up logged each of them in; a fresh login with the password works too.
    assert alice.log_in(alice_password).status_code == 302
    for person in (alice, bob):
        person.request_token()
    with ThreadPoolExecutor(2) as pool:
        list(pool.map(lambda person: person.start_server(), (alice, bob)))

    # Each landed in their own JupyterLab.
    lab = alice.http.get(f"/user/{alice.name}/lab")
    assert lab.status_code == 200 and "JupyterLab" in lab.text

    kernel = alice.start_kernel("alphabook-research")
    assert alice.execute(kernel, "1+1").text == "2"
    # Only the sandboxed kernelspecs start: an unsandboxed python3 is refused, and says why.
    refused = alice.api("POST", f"/user/{alice.name}/api/kernels", json={"name": "python3"})
    assert refused.status_code == 403 and "not allowed" in refused.json()["message"], refused.text
    assert alice.execute(kernel, "import getpass, os; print(getpass.getuser(), os.getuid())").text.split() == [
        alice.name, str(pwd.getpwnam(alice.name).pw_uid)
    ]

    # Bob keeps a file in his home; Alice's kernel cannot read it, nor list his home.
    saved = bob.api("PUT", f"/user/{bob.name}/api/contents/secret.txt",
                    json={"type": "file", "format": "text", "content": "bob's strategy"})
    assert saved.status_code in (200, 201), saved.text
    bob_home = pwd.getpwnam(bob.name).pw_dir
    attempt = alice.execute(kernel, f"open({bob_home + '/secret.txt'!r}).read()")
    assert "PermissionError" in attempt.text
    assert "PermissionError" in alice.execute(kernel, f"import os; os.listdir({bob_home!r})").text
    assert alice.execute(kernel, f"oct(os.stat({bob_home!r}).st_mode & 0o777)").text == "'0o700'"
    # The sandbox kernel sees neither home, only the folder that holds its own connection sockets.
    sandbox = alice.start_kernel("alphabook-sandbox")
    alice_home = pwd.getpwnam(alice.name).pw_dir
    seen = alice.execute(sandbox, f"import os; print(1+1, os.listdir({alice_home!r}), os.path.exists({bob_home!r}))")
    assert seen.text == "2 ['.local'] False\n"

    # The API service knows who is calling.
    me = alice.api("GET", "/services/api/api/me")
    assert me.status_code == 200, me.text
    assert me.json()["name"] == alice.name and me.json()["roles"] == ["user"]
    bad = alice.api("GET", "/services/api/api/me", headers={"Authorization": "token not-a-real-token"})
    assert bad.status_code == 401
    assert bad.headers["content-type"].startswith("application/problem+json")

    # An API key made with the hub token works on its own, and stops working once deleted.
    created = alice.api("POST", "/services/api/api/keys", json={"name": "notebook cron", "scopes": ["read"]})
    assert created.status_code == 201, created.text
    key = created.json()["key"]
    by_key = httpx.get(f"{hub.url}/services/api/api/me", headers={"Authorization": f"Bearer {key}"})
    assert by_key.status_code == 200 and by_key.json()["name"] == alice.name
    assert alice.api("DELETE", f"/services/api/api/keys/{created.json()['id']}").status_code == 204
    assert httpx.get(f"{hub.url}/services/api/api/me", headers={"Authorization": f"Bearer {key}"}).status_code == 401


def test_browser_reaches_the_api_through_hub_oauth(hub: RunningHub, new_person: NewPerson) -> None:
    person, _ = new_person()
    # A logged-in browser (hub cookie only, no token) follows the OAuth redirects and lands on /api/me.
    reply = person.http.get("/services/api/api/me", headers={"Accept": "text/html"})
    assert reply.status_code == 200, reply.text
    assert reply.json()["name"] == person.name
    assert any("oauth2/authorize" in str(step.url) for step in reply.history)
    # The service's cookie now authenticates plain API calls from that browser.
    assert person.http.get("/services/api/api/keys").status_code == 200
    # A browser that is not logged in is sent to the hub's login page.
    stranger = httpx.get(f"{hub.url}/services/api/api/me", headers={"Accept": "text/html"}, follow_redirects=True)
    assert "/hub/login" in str(stranger.url)


def test_sign_up_rules_and_lockout(hub: RunningHub, new_person: NewPerson) -> None:
    weak = HubUserSession(hub.url, "weakling")
    try:
        reply = weak.sign_up("password123")
        assert reply.status_code == 400 and "too weak" in reply.text
        reply = weak.sign_up("short")
        assert reply.status_code == 400 and "at least 10 characters" in reply.text
        reply = weak.sign_up("a-long-unusual-passphrase-42", confirm="something else entirely")
        assert reply.status_code == 400 and "differ" in reply.text
        assert HubUserSession(hub.url, "root").sign_up("a-long-unusual-passphrase-42").status_code == 400
    finally:
        weak.close()

    person, password = new_person()
    for _ in range(5):
        assert person.log_in("wrong-password-123").status_code == 403
    locked = person.log_in(password)
    assert locked.status_code == 403 and "locked" in locked.text


def test_admin_makes_a_creator_and_reads_metrics(hub: RunningHub, new_person: NewPerson) -> None:
    admin = HubUserSession(hub.url, hub.admin_name)
    person, _ = new_person()
    person.request_token()
    try:
        assert admin.log_in(hub.admin_password).status_code == 302
        admin.request_token()
        assert admin.api("GET", "/services/api/api/me").json()["roles"] == ["user", "creator", "admin"]
        assert person.api("GET", "/services/api/api/me").json()["roles"] == ["user"]
        # Membership of the hub group 'creators' makes a creator (after the 1 s identity cache expires).
        added = admin.api("POST", "/hub/api/groups/creators/users", json={"users": [person.name]})
        assert added.status_code == 200, added.text
        time.sleep(1.5)
        assert person.api("GET", "/services/api/api/me").json()["roles"] == ["user", "creator"]
        metrics = admin.api("GET", "/hub/metrics")
        assert metrics.status_code == 200 and "jupyterhub_" in metrics.text
        assert person.api("GET", "/hub/metrics").status_code == 403
    finally:
        admin.close()


def test_sign_in_with_github(hub: RunningHub, github: FakeGitHub) -> None:
    person = HubUserSession(hub.url, "gh-octo-cat")
    hub.unix_users.append(person.name)
    try:
        assert "Sign in with GitHub" in person.http.get("/hub/login").text
        to_github = person.http.get("/hub/github/oauth_login", follow_redirects=False)
        assert to_github.status_code == 302 and to_github.headers["location"].startswith(github.url)
        back = person.http.get(to_github.headers["location"], follow_redirects=False)
        assert back.headers["location"].startswith(f"{hub.url}/hub/github/oauth_callback")
        landed = person.http.get(back.headers["location"], follow_redirects=False)
        assert landed.status_code == 302, landed.text
        # GitHub's 'Octo-Cat' is the hub user 'gh-octo-cat', with a private Unix account of their own.
        person.request_token()
        assert person.api("GET", "/services/api/api/me").json()["name"] == "gh-octo-cat"
        home = pwd.getpwnam("gh-octo-cat").pw_dir
        assert oct(os.stat(home).st_mode & 0o777) == "0o700"
    finally:
        person.close()
