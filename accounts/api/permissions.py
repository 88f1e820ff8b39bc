from __future__ import annotations

from typing import Any, Final

from django.core.exceptions import ImproperlyConfigured
from rest_framework.permissions import BasePermission

from accounts.models import ApiScope
from core.errors import Forbidden

# `required_scope = ANY_KEY`: any usable key of the organisation, whatever its scopes.
ANY_KEY: Final = "any-key"
# Methods that reveal nothing but the API's shape: no scope, like the schema.
UNSCOPED_METHODS = frozenset({"OPTIONS"})


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


class InsufficientScope(Forbidden):
    """403 `insufficient_scope`: the API key lacks the scope this operation needs."""

    def __init__(self, scope: str) -> None:
        super().__init__(
            "insufficient_scope",
            f"This API key lacks the scope {scope!r} that this operation needs: use a key created with it.",
        )
        self.scope = scope

    def as_problem(self, instance: str, *, in_query: bool = False) -> dict[str, Any]:
        return {**super().as_problem(instance, in_query=in_query), "scope": self.scope}


def required_scope(view, method: str) -> str:
    """The scope `view` declares for `method` (an ApiScope value or ANY_KEY).

    Every API view declares `required_scope`: one scope, ANY_KEY, or a dict per HTTP method
    (HEAD follows GET). A view without it is a programming error, refused here and caught by
    tests/accounts/test_api_scopes.py before it ships.
    """
    declared = getattr(view, "required_scope", None)
    if declared is None:
        raise ImproperlyConfigured(f"{type(view).__name__} declares no required_scope.")
    if isinstance(declared, dict):
        method = "GET" if method == "HEAD" else method
        if method not in declared:
            raise ImproperlyConfigured(f"{type(view).__name__} declares no required_scope for {method}.")
        declared = declared[method]
    if declared != ANY_KEY and declared not in ApiScope.values:
        raise ImproperlyConfigured(f"{type(view).__name__}: unknown scope {declared!r}.")
    return str(declared)


class HasRequiredScope(BasePermission):
    """The API key holds the scope the view declares for this method (`required_scope`);
    otherwise 403 `insufficient_scope` naming it. Runs after authentication: without a key,
    DRF answers 401 first."""

    def has_permission(self, request, view) -> bool:
        if request.method in UNSCOPED_METHODS or not hasattr(view, request.method.lower()):
            return True  # a method the view does not handle: DRF answers 405 next
        scope = required_scope(view, request.method)
        key = request.auth
        if key is None:
            return False  # unauthenticated: DRF turns this into 401
        if scope == ANY_KEY or key.has_scope(scope):
            return True
        raise InsufficientScope(scope)
