from axes.helpers import get_lockout_message
from django.conf import settings
from django.contrib.auth.signals import user_logged_in
from drf_spectacular.utils import extend_schema
from rest_framework import exceptions, permissions, status, viewsets
from rest_framework.authtoken.views import ObtainAuthToken
from rest_framework.decorators import api_view, permission_classes
from rest_framework.response import Response

from .models import Organisation
from .permissions import organisations_for
from .serializers import ApiTokenSerializer, MeSerializer, OrganisationSerializer
from .services import api_token_issue, api_token_revoke


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


class ApiTokenObtainView(ObtainAuthToken):
    """A token for a username and password, valid for `LEDGERLINE_API_TOKEN_TTL_S` seconds from issue.

    Too many failed attempts for one username from one address lock that pair out (429) until the cool-off
    has passed; django-axes counts them, as for the login page.
    """

    @extend_schema(responses={200: ApiTokenSerializer})
    def post(self, request, *args, **kwargs):
        serializer = self.get_serializer(data=request.data)
        if not serializer.is_valid():
            # Set by axes' failed-login handler on the request that `authenticate` was given (this DRF one).
            if getattr(request, "axes_locked_out", False):
                return Response(
                    {"detail": get_lockout_message()},
                    status=status.HTTP_429_TOO_MANY_REQUESTS,
                    headers={"Retry-After": str(settings.LEDGERLINE_LOGIN_COOLOFF_S)},
                )
            raise exceptions.ValidationError(serializer.errors)
        user = serializer.validated_data["user"]
        # A token log-in is a log-in: axes clears the failure count, Django updates last_login.
        user_logged_in.send(sender=user.__class__, request=request, user=user)
        token = api_token_issue(user=user)
        return Response(ApiTokenSerializer(token).data)


@extend_schema(request=None, responses={204: None})
@api_view(["POST"])
@permission_classes([permissions.IsAuthenticated])
def api_token_logout(request):
    """Revoke the caller's API token: it is refused from now on (log in again for a new one)."""
    api_token_revoke(user=request.user)
    return Response(status=status.HTTP_204_NO_CONTENT)
