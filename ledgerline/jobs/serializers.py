from rest_framework import serializers

from .models import Job


class JobSerializer(serializers.ModelSerializer):
    class Meta:
        model = Job
        fields = [
            "id",
            "kind",
            "status",
            "progress",
            "message",
            "error",
            "result",
            "organisation",
            "created_at",
            "started_at",
            "finished_at",
        ]
        read_only_fields = fields
