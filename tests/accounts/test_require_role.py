"""`has_role` / `require_role` and their siblings: who may act in a role, and who may not."""

import pytest
from django.contrib.auth.models import AnonymousUser
from django.core.exceptions import PermissionDenied

from ledgerline.accounts.models import Role
from ledgerline.accounts.permissions import (
    has_role,
    has_role_anywhere,
    holds_role,
    organisations_acting_as,
    require_role,
    require_role_anywhere,
)
from tests import factories

pytestmark = pytest.mark.django_db

ROLES = [role.value for role in Role]


@pytest.mark.parametrize("role", ROLES)
def test_member_may_act_only_in_the_role_they_hold(role):
    organisation = factories.OrganisationFactory()
    user = factories.user_with_role(role, organisation)
    for other in ROLES:
        assert has_role(user, organisation, other) == (other == role), (role, other)
        assert has_role_anywhere(user, other) == (other == role), (role, other)
    require_role(user, organisation, role)
    for other in set(ROLES) - {role}:
        with pytest.raises(PermissionDenied):
            require_role(user, organisation, other)
        with pytest.raises(PermissionDenied):
            require_role_anywhere(user, other)


@pytest.mark.parametrize("role", ROLES)
def test_role_in_another_organisation_does_not_count(role):
    own, other = factories.OrganisationFactory(), factories.OrganisationFactory()
    user = factories.user_with_role(role, own)
    assert not has_role(user, other, role)
    assert not has_role(user, other.pk, role)
    with pytest.raises(PermissionDenied, match="Only creators of elsewhere"):
        require_role(user, other, role, message="Only creators of elsewhere may do this.")
    assert list(organisations_acting_as(user, role)) == [own]


def test_any_of_several_roles_suffices():
    organisation = factories.OrganisationFactory()
    reviewer = factories.user_with_role(Role.REVIEWER, organisation)
    require_role(reviewer, organisation, Role.LABEL, Role.CREATOR, Role.REVIEWER)
    with pytest.raises(PermissionDenied, match="label or creator role"):
        require_role(reviewer, organisation, Role.LABEL, Role.CREATOR)


@pytest.mark.parametrize("role", ROLES)
def test_staff_may_act_in_every_role_of_every_organisation(role):
    organisation = factories.OrganisationFactory()
    staff = factories.UserFactory(is_staff=True)
    assert has_role(staff, organisation, role)
    assert has_role_anywhere(staff, role)
    require_role(staff, organisation, role)
    require_role_anywhere(staff, role)
    assert organisation in organisations_acting_as(staff, role)


def test_staff_status_is_not_a_membership():
    """`holds_role` is for the rules staff do not bypass (a flag's appeal belongs to the flagged organisation)."""
    organisation = factories.OrganisationFactory()
    staff = factories.UserFactory(is_staff=True)
    assert not holds_role(staff, organisation, *ROLES)
    factories.MembershipFactory(user=staff, organisation=organisation, role=Role.BUYER)
    assert holds_role(staff, organisation, Role.BUYER)
    assert not holds_role(staff, organisation, Role.CREATOR)


def test_anonymous_and_no_organisation_may_not():
    organisation = factories.OrganisationFactory()
    for role in ROLES:
        assert not has_role(AnonymousUser(), organisation, role)
        assert not has_role_anywhere(AnonymousUser(), role)
        assert not has_role(None, organisation, role)
        with pytest.raises(PermissionDenied):
            require_role(AnonymousUser(), organisation, role)
        user = factories.user_with_role(role, organisation)
        assert not has_role(user, None, role)
    assert not organisations_acting_as(AnonymousUser(), Role.CREATOR).exists()
