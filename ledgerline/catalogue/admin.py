from django.contrib import admin

from .models import CorpusItem, Dataset, DatasetUpload, Track


@admin.register(Dataset)
class DatasetAdmin(admin.ModelAdmin):
    list_display = ("name", "organisation", "status", "training_allowed", "revenue_share_percent", "created_at")
    list_filter = ("status", "training_allowed", "commercial_use")
    search_fields = ("name",)


@admin.register(DatasetUpload)
class DatasetUploadAdmin(admin.ModelAdmin):
    list_display = ("original_name", "dataset", "size", "created_at")


@admin.register(CorpusItem)
class CorpusItemAdmin(admin.ModelAdmin):
    list_display = ("title", "dataset", "kind", "format", "duration_s", "key", "tempo_bpm")
    list_filter = ("kind", "format")
    search_fields = ("title", "composer", "sha256")


@admin.register(Track)
class TrackAdmin(admin.ModelAdmin):
    list_display = ("title", "organisation", "source", "status", "duration_s", "created_at")
    list_filter = ("status", "source")
    search_fields = ("title",)
