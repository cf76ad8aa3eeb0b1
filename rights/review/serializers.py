from rest_framework import serializers

from fingerprint.models import SimilarityFlag
from tracks.lifecycle import Decision


class FlagSerializer(serializers.ModelSerializer):
    decided_by = serializers.SlugRelatedField(slug_field="username", read_only=True)
    appealed_by = serializers.SlugRelatedField(slug_field="username", read_only=True)

    class Meta:
        model = SimilarityFlag
        fields = [
            "id",
            "screening",
            "track",
            "corpus_item",
            "matched_track",
            "level",
            "score",
            "evidence",
            "status",
            "reason",
            "decided_by",
            "decided_at",
            "appeal",
            "appealed_by",
            "appealed_at",
            "created_at",
        ]


class FlagAppealSerializer(serializers.Serializer):
    note = serializers.CharField(max_length=2000, help_text="The flagged track's creator's answer to the reviewer.")


class FlagDecisionSerializer(serializers.Serializer):
    decision = serializers.ChoiceField(choices=Decision.values)
    reason = serializers.CharField(max_length=2000)
