import pytest

from fingerprint.selectors import flag_may_decide, flags_visible_to
from ledgerline.accounts.permissions import has_role, organisations_for
from tests import factories
from tests.fingerprint.flags import POLICY, flag_world

pytestmark = pytest.mark.django_db


def test_role_is_held_per_organisation_not_globally():
    org_a, org_b = factories.OrganisationFactory(), factories.OrganisationFactory()
    user = factories.user_with_role("label", org_a)
    assert has_role(user, org_a, "label")
    assert not has_role(user, org_b, "label")
    assert not has_role(user, org_a, "buyer")


def test_one_user_may_hold_several_roles_in_several_organisations():
    org_a, org_b = factories.OrganisationFactory(), factories.OrganisationFactory()
    user = factories.user_with_role("creator", org_a)
    factories.MembershipFactory(user=user, organisation=org_b, role="buyer")
    assert set(organisations_for(user)) == {org_a, org_b}
    assert list(organisations_for(user, "buyer")) == [org_b]


def test_me_endpoint_lists_roles_and_requires_login(api_client):
    assert api_client.get("/api/me/").status_code in (401, 403)
    user = factories.user_with_role("reviewer")
    api_client.force_authenticate(user)
    body = api_client.get("/api/me/").json()
    assert body["memberships"][0]["role"] == "reviewer"


def test_token_auth_works_for_api_clients(api_client):
    user = factories.user_with_role("buyer")
    token = api_client.post("/api/auth/token/", {"username": user.username, "password": factories.PASSWORD}).json()[
        "token"
    ]
    api_client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    assert api_client.get("/api/me/").json()["username"] == user.username


@pytest.mark.parametrize("who", sorted(POLICY))
def test_who_sees_and_decides_each_similarity_flag(who):
    """The rights holder's reviewers and staff decide a flag; its own organisation only sees it; nobody else."""
    world = flag_world()
    user = world.users[who]
    for name, (sees, decides) in POLICY[who].items():
        flag = getattr(world, name)
        assert flags_visible_to(user).filter(pk=flag.pk).exists() == sees, (who, name)
        assert flag_may_decide(user, flag) == decides, (who, name)
