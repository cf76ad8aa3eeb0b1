from rest_framework import serializers

from ledgerline.jobs.serializers import JobSerializer

from .models import Against, Screening, SimilarityFlag


class ScreeningCreateSerializer(serializers.Serializer):
    file = serializers.FileField()
    organisation = serializers.SlugField(required=False, help_text="Slug; defaults to your only organisation.")
    against = serializers.ChoiceField(choices=Against.choices, default=Against.ALL)


class ScreeningSerializer(serializers.ModelSerializer):
    job = JobSerializer(read_only=True)
    organisation = serializers.SlugRelatedField(slug_field="slug", read_only=True)
    plots = serializers.SerializerMethodField()

    class Meta:
        model = Screening
        fields = [
            "id",
            "organisation",
            "track",
            "original_name",
            "against",
            "verdict",
            "result",
            "job",
            "plots",
            "created_at",
        ]

    def get_plots(self, screening: Screening) -> list[dict]:
        matches = (screening.result or {}).get("matches", [])
        return [
            {
                "match": i,
                "kinds": ["chroma", "dtw", "pianoroll"],
                "url": f"/api/screenings/{screening.pk}/plots/{i}/chroma.png",
            }
            for i in range(len(matches))
        ]


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
    decision = serializers.ChoiceField(choices=["clear", "block", "require_licence"])
    reason = serializers.CharField(max_length=2000)
