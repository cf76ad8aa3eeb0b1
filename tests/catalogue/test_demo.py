import pytest
from django.core.management import call_command

from ledgerline.accounts.models import Membership
from ledgerline.catalogue.models import Dataset

pytestmark = pytest.mark.django_db


def test_load_demo_creates_every_role_and_ingests_chorales_and_is_idempotent(settings):
    settings.LEDGERLINE_DEMO_STEPS = ["ledgerline.catalogue.demo.load"]
    call_command("load_demo", "--chorales", "2", "--quiet")
    call_command("load_demo", "--chorales", "2", "--quiet")
    assert set(Membership.objects.values_list("user__username", "role")) == {
        ("label", "label"), ("creator", "creator"), ("reviewer", "reviewer"), ("buyer", "buyer")
    }
    # The reviewer may decide flags on the label's chorales: it reviews for the rights holder.
    assert Membership.objects.filter(user__username="reviewer", organisation__slug="demo-label", role="reviewer").exists()
    dataset = Dataset.objects.get(name="Bach chorales")
    assert dataset.status == "ready" and dataset.items.count() == 2 and dataset.uploads.count() == 2
    item = dataset.items.first()
    assert len(item.stems) == 4 and item.key and item.time_signature
