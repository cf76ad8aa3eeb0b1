from django.contrib.auth import get_user_model
from rest_framework import serializers

from .models import Membership, Organisation
from .services import api_token_expires_at


class OrganisationSerializer(serializers.ModelSerializer):
    class Meta:
        model = Organisation
        fields = ["id", "slug", "name", "created_at"]
        read_only_fields = ["id", "created_at"]


class MembershipSerializer(serializers.ModelSerializer):
    organisation = serializers.SlugRelatedField(slug_field="slug", read_only=True)

    class Meta:
        model = Membership
        fields = ["organisation", "role"]


class MeSerializer(serializers.ModelSerializer):
    memberships = MembershipSerializer(many=True, read_only=True)

    class Meta:
        model = get_user_model()
        fields = ["id", "username", "email", "is_staff", "memberships"]


class ApiTokenSerializer(serializers.Serializer):
    token = serializers.CharField(source="key", read_only=True)
    expires = serializers.SerializerMethodField()

    def get_expires(self, token) -> str:
        return api_token_expires_at(token).isoformat()
