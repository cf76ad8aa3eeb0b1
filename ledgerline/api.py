"""API plumbing shared by every app."""

from __future__ import annotations

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.paginator import Paginator
from django.utils.functional import cached_property
from rest_framework import exceptions
from rest_framework.pagination import PageNumberPagination
from rest_framework.views import exception_handler as drf_exception_handler


def exception_handler(exc, context):
    """Services raise Django's ValidationError / PermissionDenied; the API answers them as 400 / 403."""
    if isinstance(exc, DjangoValidationError):
        exc = exceptions.ValidationError({"detail": exc.messages})
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied(str(exc) or None)
    return drf_exception_handler(exc, context)


class CappedCountPaginator(Paginator):
    """Counts at most `cap` rows: an exact COUNT(*) over a large catalogue costs more than the page itself."""

    cap = 10_000

    @cached_property
    def count(self) -> int:
        return self.object_list[: self.cap + 1].count()


class CappedPageNumberPagination(PageNumberPagination):
    """Page-number pagination whose `count` stops at 10,000 (`count_is_exact` says whether it did)."""

    django_paginator_class = CappedCountPaginator
    page_size_query_param = "page_size"
    max_page_size = 100

    def get_paginated_response(self, data):
        response = super().get_paginated_response(data)
        response.data["count_is_exact"] = self.page.paginator.count <= CappedCountPaginator.cap
        response.data["count"] = min(self.page.paginator.count, CappedCountPaginator.cap)
        return response

    def get_paginated_response_schema(self, schema):
        schema = super().get_paginated_response_schema(schema)
        schema["properties"]["count_is_exact"] = {"type": "boolean"}
        return schema
