from __future__ import annotations

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import authentication, exceptions

from accounts import services


class ApiKeyAuthentication(authentication.BaseAuthentication):
    """`Authorization: Api-Key crt_<prefix>_<secret>`; request.auth is the ApiKey row."""

    keyword = "Api-Key"

    def authenticate(self, request):
        header = authentication.get_authorization_header(request).decode(errors="replace")
        if not header:
            return None
        keyword, _, plaintext = header.partition(" ")
        if keyword != self.keyword:
            return None
        key = services.api_key_authenticate(plaintext=plaintext.strip())
        if key is None:
            raise exceptions.AuthenticationFailed("Invalid, expired or revoked API key.")
        return (BuyerPrincipal(key), key)

    def authenticate_header(self, request) -> str:
        return self.keyword


class BuyerPrincipal:
    """request.user for API calls: the organisation behind the key (keys belong to organisations)."""

    is_authenticated = True
    is_anonymous = False

    def __init__(self, key) -> None:
        self.api_key = key
        self.organisation = key.organisation
        self.pk = None


class ApiKeyAuthenticationScheme(OpenApiAuthenticationExtension):
    """Describes the API key in the OpenAPI schema (drf-spectacular)."""

    target_class = "accounts.api.authentication.ApiKeyAuthentication"
    name = "ApiKey"

    def get_security_definition(self, auto_schema):
        return {
            "type": "apiKey",
            "in": "header",
            "name": "Authorization",
            "description": "`Api-Key crt_<prefix>_<secret>`: an organisation API key, shown once at creation.",
        }
