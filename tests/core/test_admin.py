"""core/admin.py: the read-only admin bases every app's admin uses."""

from __future__ import annotations

import pytest
from django.contrib import admin
from django.test import RequestFactory

from accounts import services
from core.admin import ReadOnlyInline
from tests.conftest import staff_client

pytestmark = pytest.mark.django_db


def _inlines():
    return [
        (model_admin, inline_class)
        for model_admin in admin.site._registry.values()
        for inline_class in model_admin.inlines
    ]


def test_every_inline_of_the_admin_is_read_only(moderator):
    request = RequestFactory().get("/admin/")
    request.user = moderator
    for model_admin, inline_class in _inlines():
        assert issubclass(inline_class, ReadOnlyInline), inline_class
        inline = inline_class(model_admin.model, admin.site)
        assert not inline.has_add_permission(request, None), inline_class
        assert not inline.has_change_permission(request, None), inline_class
        assert not inline.has_delete_permission(request, None), inline_class


def test_an_editable_page_shows_its_read_only_rows(client, moderator, organisation):
    _key, plaintext = services.api_key_create(organisation=organisation, name="crm", created_by=None)
    staff_client(moderator, client)  # signed in, second factor passed

    page = client.get(f"/admin/accounts/buyerorganisation/{organisation.pk}/change/")

    assert page.status_code == 200
    assert "crm" in page.content.decode()
    assert plaintext not in page.content.decode()
