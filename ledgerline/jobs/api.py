from django.db.models import Q
from rest_framework import viewsets

from ledgerline.accounts.permissions import organisations_for

from .models import Job
from .serializers import JobSerializer


def jobs_visible_to(user):
    if user.is_staff:
        return Job.objects.all()
    return Job.objects.filter(Q(created_by=user) | Q(organisation__in=organisations_for(user)))


class JobViewSet(viewsets.ReadOnlyModelViewSet):
    """Jobs of the caller and of the caller's organisations, with status and progress."""

    serializer_class = JobSerializer
    queryset = Job.objects.none()  # for the schema; requests use get_queryset
    filterset_fields = ["kind", "status"]

    def get_queryset(self):
        return jobs_visible_to(self.request.user)
