from drf_spectacular.utils import extend_schema
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.fields import empty
from rest_framework.response import Response

from ledgerline.accounts.models import Role
from ledgerline.accounts.permissions import IsCreator, organisations_for
from ledgerline.catalogue.serializers import TrackSerializer
from ledgerline.jobs.serializers import JobSerializer

from . import services
from .engine.baseline import readiness
from .models import ARCHS, TrainedModel
from .selectors import model_stats_jobs, models_visible_to


class TrainedModelSerializer(serializers.ModelSerializer):
    organisation = serializers.SlugRelatedField(slug_field="slug", read_only=True)
    job = JobSerializer(read_only=True)

    class Meta:
        model = TrainedModel
        fields = [
            "id",
            "name",
            "arch",
            "organisation",
            "status",
            "config",
            "datasets",
            "checkpoint_sha256",
            "metrics",
            "job",
            "created_at",
            "trained_at",
        ]


class TrainRequestSerializer(serializers.Serializer):
    name = serializers.SlugField(max_length=100)
    arch = serializers.ChoiceField(choices=ARCHS)
    datasets = serializers.ListField(child=serializers.IntegerField(), allow_empty=False)
    epochs = serializers.IntegerField(default=2, min_value=1, max_value=1000)
    size = serializers.ChoiceField(choices=["debug", "default"], default="default")
    frames = serializers.BooleanField(default=False, help_text="also train the frame model (harmony=frames)")
    organisation = serializers.SlugField(required=False)


class OptionalBooleanField(serializers.BooleanField):
    """A boolean whose absence from a form (multipart) request means "not given", not False."""

    default_empty_html = empty


class GenerateRequestSerializer(serializers.Serializer):
    """The wire format only: limits and defaults are `GenerationRequest.build`'s (called by the service), so the
    API, the page and the CLI say the same."""

    bars = serializers.IntegerField(required=False, help_text="length in bars (default 16; a regenerated track's)")
    tempo = serializers.FloatField(default=100)
    key = serializers.CharField(
        required=False, allow_blank=True, max_length=8, help_text="e.g. C, F#m; default C, or the prompt's key"
    )
    seed = serializers.IntegerField(required=False)
    temperature = serializers.FloatField(
        default=1.0, help_text="creativity: below 1 safer and more in key, above 1 more adventurous"
    )
    top_k = serializers.IntegerField(default=0)
    top_p = serializers.FloatField(default=0.95)
    programs = serializers.DictField(child=serializers.IntegerField(), required=False)
    anti_copy = OptionalBooleanField(default=True)
    title = serializers.CharField(required=False, allow_blank=True, max_length=200)
    arrangement = serializers.CharField(
        required=False, allow_blank=True, help_text="satb or band; default from the training data"
    )
    drums = OptionalBooleanField(required=False, allow_null=True, default=None)
    prompt_track = serializers.IntegerField(required=False, help_text="continue the melody of one of your tracks")
    prompt_file = serializers.FileField(required=False, help_text="continue the melody of a MIDI or MusicXML file")
    from_track = serializers.IntegerField(required=False, help_text="regenerate one of your tracks ...")
    from_bar = serializers.IntegerField(required=False, help_text="... from this bar on (bars count from 1)")
    # VAE models only (generation/latent.py); limits are checked by the service, so every caller gets one message.
    mode = serializers.ChoiceField(choices=["sample", "interpolate", "style_mix"], required=False)
    source_a = serializers.CharField(required=False, max_length=40, help_text="track:ID, corpus:ID or prior")
    source_b = serializers.CharField(required=False, max_length=40, help_text="track:ID, corpus:ID or prior")
    t = serializers.FloatField(required=False, help_text="interpolate: 0 is source_a, 1 is source_b")
    style_toward = serializers.IntegerField(required=False, help_text="style_mix: dataset id to move toward")
    style_away = serializers.IntegerField(required=False, help_text="style_mix: dataset id to move away from")
    strength = serializers.FloatField(required=False, help_text="style_mix: -2..2, default 1")
    latent = serializers.ListField(child=serializers.FloatField(), required=False, max_length=1024)
    harmony = serializers.CharField(
        required=False,
        allow_blank=True,
        help_text="markov (default) or frames: chords from the frame model (arrangement satb)",
    )


class ModelStatsRequestSerializer(serializers.Serializer):
    samples = serializers.IntegerField(
        default=services.MODEL_STATS_SAMPLES, help_text="pieces to compose (seeds 0..samples-1)"
    )


class ModelStatsSerializer(serializers.Serializer):
    """The latest sample summary of a model: its job (progress while it runs) and the result of the latest one
    that finished (per measure mean, median, share inside and the corpus's p5/p50/p95)."""

    job = JobSerializer(allow_null=True)
    summary = serializers.JSONField(allow_null=True)
    readiness = serializers.CharField(allow_null=True, help_text="why the model may not publish; null: it may")


class TrainedModelViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.CreateModelMixin, viewsets.GenericViewSet
):
    """Generation models: creators train them on licensed datasets and generate tracks with them."""

    serializer_class = TrainedModelSerializer

    def get_queryset(self):
        return models_visible_to(self.request.user)

    def get_permissions(self):
        if self.action in {"create", "generate"}:
            return [IsCreator()]
        return super().get_permissions()

    @extend_schema(request=TrainRequestSerializer, responses={202: TrainedModelSerializer})
    def create(self, request, *args, **kwargs):
        payload = TrainRequestSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        data = payload.validated_data
        organisations = organisations_for(request.user, Role.CREATOR)
        organisation = (
            organisations.filter(slug=data["organisation"]).first()
            if data.get("organisation")
            else organisations.first()
        )
        model = services.model_train_start(
            user=request.user,
            organisation=organisation,
            name=data["name"],
            arch=data["arch"],
            dataset_ids=data["datasets"],
            epochs=data["epochs"],
            config=services.training_config(data["size"], frames=data["frames"]),
        )
        model.refresh_from_db()
        return Response(TrainedModelSerializer(model).data, status=status.HTTP_202_ACCEPTED)

    @extend_schema(request=GenerateRequestSerializer, responses={202: TrackSerializer})
    @action(detail=True, methods=["post"])
    def generate(self, request, pk=None):
        """Generate, render and screen a four-track piece; poll the track's job for progress."""
        payload = GenerateRequestSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        track = services.generation_start(user=request.user, model=self.get_object(), params=payload.validated_data)
        track.refresh_from_db()
        return Response(TrackSerializer(track).data, status=status.HTTP_202_ACCEPTED)

    @extend_schema(methods=["GET"], responses={200: ModelStatsSerializer})
    @extend_schema(methods=["POST"], request=ModelStatsRequestSerializer, responses={202: JobSerializer})
    @action(detail=True, methods=["get", "post"])
    def stats(self, request, pk=None):
        """GET: the model's latest sample summary against its held-out corpus. POST (its owner or staff): start
        one (a job; poll it for progress)."""
        model = self.get_object()
        if request.method == "POST":
            payload = ModelStatsRequestSerializer(data=request.data)
            payload.is_valid(raise_exception=True)
            job = services.model_stats_start(user=request.user, model=model, samples=payload.validated_data["samples"])
            return Response(JobSerializer(job).data, status=status.HTTP_202_ACCEPTED)
        latest, done = model_stats_jobs(model)
        return Response(
            ModelStatsSerializer(
                {
                    "job": latest,
                    "summary": done.result if done else None,
                    "readiness": readiness(model.arch, model.metrics),
                }
            ).data
        )
