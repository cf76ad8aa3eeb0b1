from drf_spectacular.utils import extend_schema
from rest_framework import permissions, viewsets
from rest_framework.decorators import api_view, permission_classes
from rest_framework.response import Response

from .models import Organisation
from .permissions import organisations_for
from .serializers import MeSerializer, OrganisationSerializer


class OrganisationViewSet(viewsets.ReadOnlyModelViewSet):
    """Organisations the caller belongs to (staff: all)."""

    serializer_class = OrganisationSerializer
    lookup_field = "slug"

    def get_queryset(self):
        user = self.request.user
        return Organisation.objects.all() if user.is_staff else organisations_for(user)


@extend_schema(responses={200: MeSerializer})
@api_view(["GET"])
@permission_classes([permissions.IsAuthenticated])
def me(request):
    """The caller's account with its roles per organisation."""
    return Response(MeSerializer(request.user).data)
