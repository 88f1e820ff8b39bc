from rest_framework.permissions import BasePermission


class IsBuyerMember(BasePermission):
    """Any organisation with a usable API key (verified or not): reads about itself."""

    message = "Authenticate with an organisation API key."

    def has_permission(self, request, view) -> bool:
        return getattr(request.user, "organisation", None) is not None


class IsVerifiedBuyer(IsBuyerMember):
    """Only verified organisations may bid or receive data."""

    message = "Your organisation is not verified yet."
    code = "organisation_not_verified"  # core.problems

    def has_permission(self, request, view) -> bool:
        return super().has_permission(request, view) and request.user.organisation.is_verified
