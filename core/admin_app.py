from django.contrib.admin.apps import AdminConfig


class CourtierAdminConfig(AdminConfig):
    """django.contrib.admin with Courtier's site (core.admin_site.CourtierAdminSite) as
    `admin.site`: every app's `@admin.register` lands on it."""

    default_site = "core.admin_site.CourtierAdminSite"
