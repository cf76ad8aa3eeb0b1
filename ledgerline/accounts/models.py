from __future__ import annotations

from django.conf import settings
from django.db import models


class Role(models.TextChoices):
    LABEL = "label", "Label"
    CREATOR = "creator", "Creator"
    REVIEWER = "reviewer", "Rights reviewer"
    BUYER = "buyer", "Buyer"


class Organisation(models.Model):
    """A label, a studio of creators, a rights team or a buyer's company. Roles are held per organisation."""

    slug = models.SlugField(unique=True)
    name = models.CharField(max_length=200)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["slug"]

    def __str__(self) -> str:
        return self.name


class Membership(models.Model):
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships")
    organisation = models.ForeignKey(Organisation, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=16, choices=Role.choices)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "organisation", "role"], name="membership_unique_role"),
        ]

    def __str__(self) -> str:
        return f"{self.user} · {self.organisation} · {self.role}"
