from django.contrib import admin

from .models import Asset, Licence, LicenceOffer, Order, RevenueShare


@admin.register(Asset)
class AssetAdmin(admin.ModelAdmin):
    list_display = ["id", "track", "stem", "start_bar", "bars", "key", "tempo_bpm", "status"]
    list_filter = ["status", "kind", "bars"]
    search_fields = ["track__title", "sha256"]


@admin.register(LicenceOffer)
class LicenceOfferAdmin(admin.ModelAdmin):
    list_display = ["asset", "licence_type", "price", "currency", "active"]


@admin.register(Order)
class OrderAdmin(admin.ModelAdmin):
    list_display = ["id", "buyer", "asset", "licence_type", "amount", "currency", "status", "created_at"]
    list_filter = ["status", "licence_type"]


@admin.register(Licence)
class LicenceAdmin(admin.ModelAdmin):
    list_display = ["id", "buyer", "asset", "licence_type", "created_at"]


@admin.register(RevenueShare)
class RevenueShareAdmin(admin.ModelAdmin):
    list_display = ["order", "payee_kind", "organisation", "dataset", "amount", "currency", "created_at"]
    list_filter = ["payee_kind"]
