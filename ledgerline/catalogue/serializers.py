from rest_framework import serializers

from ledgerline.accounts.models import Organisation
from ledgerline.contributions import contributions
from ledgerline.jobs.serializers import JobSerializer

from .models import CorpusItem, Dataset, NotesSource, Track

# Unbound: `self.fields` would build (deep-copy) every field of the serializer on each request.
_DATETIME = serializers.DateTimeField()


class TermsField(serializers.JSONField):
    """Licence terms as a JSON object; validated by the service (`terms_parse`)."""


class DatasetSerializer(serializers.ModelSerializer):
    organisation = serializers.SlugRelatedField(slug_field="slug", queryset=Organisation.objects.all())
    terms = serializers.SerializerMethodField()
    ingest_job = JobSerializer(read_only=True)
    item_count = serializers.SerializerMethodField()

    class Meta:
        model = Dataset
        fields = [
            "id",
            "organisation",
            "name",
            "description",
            "is_public",
            "status",
            "terms",
            "item_count",
            "ingest_job",
            "created_at",
        ]
        read_only_fields = ["id", "status", "terms", "item_count", "ingest_job", "created_at"]

    def get_terms(self, dataset: Dataset) -> dict:
        return dataset.terms()

    def get_item_count(self, dataset: Dataset) -> int:
        # Lists annotate it (`datasets_with_item_counts`); a dataset just created or uploaded to is counted here.
        counted = getattr(dataset, "item_count", None)
        return dataset.items.count() if counted is None else counted

    def to_representation(self, dataset: Dataset) -> dict:
        """The declared fields in one dict: DRF's field-by-field walk was most of a dataset list's time under load
        (same output: `test_dataset_representation_is_drfs`)."""
        job = dataset.ingest_job
        return {
            "id": dataset.pk,
            "organisation": dataset.organisation.slug,
            "name": dataset.name,
            "description": dataset.description,
            "is_public": dataset.is_public,
            "status": dataset.status,
            "terms": dataset.terms(),
            "item_count": self.get_item_count(dataset),
            "ingest_job": JobSerializer(job).data if job is not None else None,
            "created_at": _DATETIME.to_representation(dataset.created_at),
        }


class DatasetWriteSerializer(serializers.Serializer):
    organisation = serializers.SlugRelatedField(slug_field="slug", queryset=Organisation.objects.all())
    name = serializers.CharField(max_length=200)
    description = serializers.CharField(required=False, allow_blank=True, default="")
    is_public = serializers.BooleanField(required=False, default=False)
    terms = TermsField(required=False, default=dict)


class DatasetUpdateSerializer(serializers.Serializer):
    description = serializers.CharField(required=False, allow_blank=True)
    is_public = serializers.BooleanField(required=False)
    terms = TermsField(required=False)


class UploadSerializer(serializers.Serializer):
    files = serializers.ListField(child=serializers.FileField(allow_empty_file=True), allow_empty=False)
    ingest = serializers.BooleanField(required=False, default=True)


def _notes_source_field() -> serializers.ChoiceField:
    return serializers.ChoiceField(
        choices=[*NotesSource.choices, ("", "Not transcribed yet")],
        read_only=True,
        help_text='"score", "transcribed" (Basic Pitch\'s estimate from the recording), or "" before transcription.',
    )


class CorpusItemSerializer(serializers.ModelSerializer):
    notes_source = _notes_source_field()

    class Meta:
        model = CorpusItem
        fields = [
            "id",
            "dataset",
            "sha256",
            "original_name",
            "format",
            "kind",
            "title",
            "composer",
            "duration_s",
            "key",
            "tempo_bpm",
            "time_signature",
            "instruments",
            "notes_source",
            "created_at",
        ]
        read_only_fields = fields


class TrackSerializer(serializers.ModelSerializer):
    organisation = serializers.SlugRelatedField(slug_field="slug", read_only=True)
    corpus_comparison = serializers.SerializerMethodField(
        help_text="A generated track's melody against its model's held-out corpus (5-95 % ranges); null otherwise."
    )
    notes_source = _notes_source_field()

    class Meta:
        model = Track
        fields = [
            "id",
            "organisation",
            "title",
            "source",
            "status",
            "status_reason",
            "model",
            "generation_params",
            "provenance",
            "tempo_bpm",
            "key",
            "time_signature",
            "bars",
            "duration_s",
            "stems",
            "notes_source",
            "content_sha256",
            "created_at",
            "published_at",
            "corpus_comparison",
        ]
        read_only_fields = fields

    def get_corpus_comparison(self, track) -> dict | None:
        # The generation app contributes the comparison with its model's reference in force (it can grow after
        # the track was made); the comparison stored at generation otherwise.
        stored = (track.provenance or {}).get("corpus_comparison")
        return contributions("track_api", track=track).get("corpus_comparison", stored)
