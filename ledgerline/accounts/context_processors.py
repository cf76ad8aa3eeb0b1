from .permissions import roles_of


def roles(request) -> dict:
    return {"user_roles": sorted(roles_of(getattr(request, "user", None)))}
