from rest_framework import serializers

from ledgerline.jobs.serializers import JobSerializer

from .models import Against, Screening


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
