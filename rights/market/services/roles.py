"""Who may act for a track's organisation in the market."""

from ledgerline.accounts.models import Role
from ledgerline.accounts.permissions import require_role


def require_creator(user, organisation) -> None:
    """Publishing a track and pricing its loops are for its organisation's creators (and staff)."""
    require_role(
        user,
        organisation,
        Role.CREATOR,
        message="Only creators of the track's organisation may publish it or price its loops.",
    )
