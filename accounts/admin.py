from __future__ import annotations

import json

from axes.models import AccessAttempt, AccessFailureLog, AccessLog
from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.core.exceptions import PermissionDenied
from django.db.models import Q
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.cache import add_never_cache_headers
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _
from django_otp.plugins.otp_static.models import StaticDevice
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts import roles, selectors, services, taxonomy
from accounts.forms import AdminLoginForm
from accounts.models import (
    ApiKey,
    BuyerOrganisation,
    ConsentEvent,
    ConsentGrant,
    LifeEvent,
    OrganisationVerificationEvent,
    ReceiptTemplate,
    SellerProfile,
    User,
)
from core import admin_queues
from core.admin import ReadOnlyAdmin, ReadOnlyInline, ReasonForm, action_with_reason, labels_column
from core.countries import country_name

# the admin's login asks the second factor's code and shows django-axes' lock-out as a form
# error, like the seller and console logins
admin.site.login_form = AdminLoginForm
admin.site.login_template = "admin/login_second_factor.html"
# Not in the admin: second-factor devices hold secrets, and django-axes' login attempts name the
# emails that tried (a seller's email is a precise value). A superuser gives a staff member who
# lost their phone a recovery code with `manage.py addstatictoken <email>` (django-otp) and lifts
# a lock-out with `manage.py axes_reset_username <email>` (django-axes).
for _model in (TOTPDevice, StaticDevice, AccessAttempt, AccessLog, AccessFailureLog):
    if admin.site.is_registered(_model):
        admin.site.unregister(_model)


@admin.register(User)
class UserAdmin(DjangoUserAdmin):
    ordering = ["-date_joined"]
    list_display = ["account", "role", "organisation", "is_active", "email_verified_at", "erased_at"]
    list_filter = [
        "role",
        "is_active",
        "is_staff",
        ("suspended_at", admin.EmptyFieldListFilter),
        ("erased_at", admin.EmptyFieldListFilter),
    ]
    search_fields = ["email", "full_name", "pseudonym"]
    readonly_fields = [
        "pseudonym",
        "date_joined",
        "last_login",
        "erased_at",
        "suspended_at",
        "suspended_reason",
        "suspended_by",
    ]
    fieldsets = (
        (
            None,
            {
                "fields": (
                    "email",
                    "password",
                    "full_name",
                    "role",
                    "organisation",
                    "organisation_role",
                    "pseudonym",
                )
            },
        ),
        (_("Verification"), {"fields": ("email_verified_at", "phone_verified_at")}),
        (_("Status"), {"fields": ("is_active", "is_staff", "is_superuser", "groups", "erased_at")}),
        (_("Dates"), {"fields": ("date_joined", "last_login")}),
        (_("Suspension"), {"fields": ("suspended_at", "suspended_reason", "suspended_by")}),
    )
    add_fieldsets = (
        (None, {"classes": ("wide",), "fields": ("email", "role", "organisation", "password1", "password2")}),
    )
    list_select_related = ["organisation"]
    actions = ["suspend", "reinstate"]

    @admin.action(
        description=_(
            "Suspend the selected accounts (no sign-in; a seller's listings withdrawn, payouts held)"
        )
    )
    def suspend(self, request, queryset):
        return action_with_reason(
            self,
            request,
            queryset,
            _("Suspend accounts"),
            lambda user, reason: services.user_suspend(
                user_id=user.pk, moderator=request.user, reason=reason
            ),
        )

    @admin.action(description=_("Reinstate the selected suspended accounts"))
    def reinstate(self, request, queryset):
        return action_with_reason(
            self,
            request,
            queryset,
            _("Reinstate accounts"),
            lambda user, reason: services.user_reinstate(
                user_id=user.pk, moderator=request.user, reason=reason
            ),
        )

    # A seller's precise values (accounts.services.precise_values) stay out of the admin: the
    # seller is named by their pseudonym (core.admin_display), their email, name and password
    # are not on their page, and search finds them by pseudonym only. A data protection officer
    # opens them from the seller's page, with a reason (precise_values_view).
    SELLER_HIDDEN_FIELDS = frozenset({"email", "full_name", "password"})
    # what makes someone staff or more, and the role (a seller made "moderator" would show their
    # email): a superuser's decision, not a moderator's
    PRIVILEGE_FIELDS = ("role", "is_staff", "is_superuser", "groups")

    @admin.display(description=_("account"), ordering="email")
    def account(self, user: User) -> str:
        return str(user)  # a seller's pseudonym in the admin

    def get_fieldsets(self, request, obj=None):
        fieldsets = super().get_fieldsets(request, obj)
        if obj is None or obj.role != User.Role.SELLER:
            return fieldsets
        return [
            (
                name,
                {**options, "fields": [f for f in options["fields"] if f not in self.SELLER_HIDDEN_FIELDS]},
            )
            for name, options in fieldsets
        ]

    def get_readonly_fields(self, request, obj=None):
        readonly = list(super().get_readonly_fields(request, obj))
        if obj is not None and obj.suspended_at is not None:
            # a suspended account is reinstated by the action (audited), not by ticking is_active
            readonly.append("is_active")
        return readonly if request.user.is_superuser else [*readonly, *self.PRIVILEGE_FIELDS]

    def get_search_results(self, request, queryset, search_term):
        results, duplicates = super().get_search_results(request, queryset, search_term)
        term = search_term.strip()
        if term:  # email and name find staff and buyers; a seller only by pseudonym
            found = ~Q(role=User.Role.SELLER) | Q(pseudonym__icontains=term.removeprefix("seller ").strip())
            if request.user.has_perm(roles.PRECISE_VALUES_PERMISSION):
                found |= Q(email__iexact=term)  # a data subject's request names their email
            results = results.filter(found)
        return results, duplicates

    def user_change_password(self, request, id, form_url=""):
        if not request.user.is_superuser:
            raise PermissionDenied
        return super().user_change_password(request, id, form_url)

    def get_urls(self):
        return [
            path(
                "<int:user_id>/precise-values/",
                self.admin_site.admin_view(self.precise_values_view),
                name="accounts_user_precise_values",
            ),
            *super().get_urls(),
        ]

    def change_view(self, request, object_id, form_url="", extra_context=None):
        user = self.get_object(request, object_id)
        if (
            user is not None
            and user.role == User.Role.SELLER
            and request.user.has_perm(roles.PRECISE_VALUES_PERMISSION)
        ):
            extra_context = {
                **(extra_context or {}),
                "precise_values_url": reverse("admin:accounts_user_precise_values", args=[user.pk]),
            }
        return super().change_view(request, object_id, form_url, extra_context)

    def precise_values_view(self, request, user_id: int):
        """A data protection officer reads one seller's precise values: a reason first, kept in
        the audit trail; anyone else is refused (403) with why."""
        context = {**self.admin_site.each_context(request), "opts": self.opts}
        if not request.user.has_perm(roles.PRECISE_VALUES_PERMISSION):
            context["title"] = _("Precise values are for data protection officers")
            response = TemplateResponse(
                request, "admin/accounts/user/precise_values_refused.html", context, status=403
            )
        else:
            seller = get_object_or_404(User, pk=user_id, role=User.Role.SELLER)
            form = ReasonForm(request.POST or None)
            values = None
            if form.is_valid():
                values = services.seller_precise_values_open(
                    seller=seller, reason=form.cleaned_data["reason"], actor=request.user
                )
            context.update(
                title=_("Precise values of %(seller)s") % {"seller": seller.pseudonymous_name},
                seller=seller,
                original=seller,
                form=form,
                values=values,
            )
            response = TemplateResponse(request, "admin/accounts/user/precise_values.html", context)
        add_never_cache_headers(response)
        return response


class ApiKeyInline(ReadOnlyInline):
    model = ApiKey
    fields = ["name", "prefix", "created_at", "expires_at", "revoked_at", "last_used_at"]
    readonly_fields = fields


class VerificationEventInline(ReadOnlyInline):
    model = OrganisationVerificationEvent
    fields = ["occurred_at", "from_status", "to_status", "reason", "actor"]
    readonly_fields = fields


MISSING_LABELS = {
    "legal_name": _("legal name"),
    "registration_number": _("registration number"),
    "country": _("country"),
    "website": _("website"),
    "contact_name": _("contact name"),
    "contact_email": _("contact email"),
    "contact_phone": _("contact phone"),
    "contact_email_unverified": _("contact email not verified"),
    "contact_phone_unverified": _("contact phone not verified"),
}


class CountryFilter(admin.SimpleListFilter):
    """The organisations' countries by name ("Germany", "Allemagne"), not ISO code."""

    title = _("country")
    parameter_name = "country"

    def lookups(self, request, model_admin):
        codes = BuyerOrganisation.objects.order_by().values_list("country", flat=True).distinct()
        return sorted(((code, country_name(code)) for code in codes), key=lambda item: item[1])

    def queryset(self, request, queryset):
        return queryset.filter(country=self.value()) if self.value() else queryset


@admin.register(BuyerOrganisation)
class BuyerOrganisationAdmin(admin.ModelAdmin):
    list_display = [
        "legal_name",
        "country_label",
        "registration_number",
        "verification_status",
        "missing",
        "verification_decided_at",
    ]
    list_filter = ["verification_status", ("suspended_at", admin.EmptyFieldListFilter), CountryFilter]
    search_fields = ["legal_name", "registration_number", "contact_email"]
    readonly_fields = [
        "missing",
        "contact_email_verified_at",
        "contact_phone_verified_at",
        "verification_status",
        "verification_reason",
        "verification_decided_by",
        "verification_decided_at",
        "created_at",
        "suspended_at",
        "suspended_reason",
        "suspended_by",
    ]
    inlines = [ApiKeyInline, VerificationEventInline]
    actions = ["verify", "reject", "suspend", "reinstate"]

    @admin.display(description=_("country"), ordering="country")
    def country_label(self, organisation: BuyerOrganisation) -> str:
        return country_name(organisation.country)

    @admin.display(description=_("missing before verification"))
    def missing(self, organisation: BuyerOrganisation) -> str:
        """What the organisation still lacks (empty details, unverified contact email or phone)."""
        missing = selectors.organisation_verification_missing(organisation)
        return ", ".join(str(MISSING_LABELS.get(code, code)) for code in missing) or "—"

    def _decide(self, request, queryset, to_status: str, title: str):
        return action_with_reason(
            self,
            request,
            queryset,
            title,
            lambda organisation, reason: services.organisation_decide_verification(
                organisation_id=organisation.pk, to_status=to_status, moderator=request.user, reason=reason
            ),
        )

    @admin.action(description=_("Verify the selected organisations"))
    def verify(self, request, queryset):
        return self._decide(
            request, queryset, BuyerOrganisation.Verification.VERIFIED, _("Verify organisations")
        )

    @admin.action(description=_("Reject the selected organisations (a reason is required)"))
    def reject(self, request, queryset):
        return self._decide(
            request, queryset, BuyerOrganisation.Verification.REJECTED, _("Reject organisations")
        )

    @admin.action(
        description=_("Suspend the selected organisations (bids cancelled, access revoked, no new bids)")
    )
    def suspend(self, request, queryset):
        return action_with_reason(
            self,
            request,
            queryset,
            _("Suspend organisations"),
            lambda organisation, reason: services.organisation_suspend(
                organisation_id=organisation.pk, moderator=request.user, reason=reason
            ),
        )

    @admin.action(description=_("Reinstate the selected suspended organisations"))
    def reinstate(self, request, queryset):
        return action_with_reason(
            self,
            request,
            queryset,
            _("Reinstate organisations"),
            lambda organisation, reason: services.organisation_reinstate(
                organisation_id=organisation.pk, moderator=request.user, reason=reason
            ),
        )


@admin.register(ApiKey)
class ApiKeyAdmin(admin.ModelAdmin):
    list_display = [
        "name",
        "organisation",
        "prefix",
        "created_at",
        "expires_at",
        "revoked_at",
        "last_used_at",
    ]
    list_filter = [("revoked_at", admin.EmptyFieldListFilter), "organisation"]
    search_fields = ["name", "prefix", "organisation__legal_name"]
    fields = [
        "organisation",
        "name",
        "prefix",
        "created_by",
        "created_at",
        "expires_at",
        "revoked_at",
        "last_used_at",
    ]
    readonly_fields = ["prefix", "created_by", "created_at", "revoked_at", "last_used_at"]
    actions = ["revoke"]

    def has_add_permission(self, request) -> bool:
        return False  # keys are created by the organisation (management command / API); shown once

    @admin.action(description=_("Revoke the selected API keys (with a reason)"))
    def revoke(self, request, queryset):
        return action_with_reason(
            self,
            request,
            queryset,
            _("Revoke API keys"),
            lambda key, reason: services.api_key_revoke(key_id=key.pk, moderator=request.user, reason=reason),
        )


@admin.register(SellerProfile)
class SellerProfileAdmin(ReadOnlyAdmin):
    """Coarse attributes only: precise values stay encrypted and are not shown to moderators."""

    list_display = ["seller", "age_band", "gender", "region", "mobile_os", "mobile_operator", "updated_at"]
    list_filter = ["age_band", "gender", "region", "mobile_os", "mobile_operator"]
    search_fields = ["seller__pseudonym"]
    fields = [
        "seller",
        "age_band",
        "gender",
        "region",
        "mobile_os",
        "mobile_operator",
        "interest_labels",
        "affinity_labels",
        "updated_at",
    ]
    readonly_fields = fields
    list_select_related = ["seller"]

    interest_labels = labels_column(lambda p: p.interests, dict(taxonomy.INTERESTS), _("interests"))
    affinity_labels = labels_column(lambda p: p.affinities, dict(taxonomy.AFFINITIES), _("affinities"))


@admin.register(LifeEvent)
class LifeEventAdmin(ReadOnlyAdmin):
    list_display = ["seller", "kind", "created_at"]
    list_filter = ["kind"]
    search_fields = ["seller__pseudonym"]
    fields = ["seller", "kind", "created_at"]
    list_select_related = ["seller"]


class ConsentEventInline(ReadOnlyInline):
    model = ConsentEvent
    fields = ["occurred_at", "kind", "receipt_id"]
    readonly_fields = fields


@admin.register(ConsentGrant)
class ConsentGrantAdmin(ReadOnlyAdmin):
    list_display = ["id", "seller", "category", "purpose", "status", "granted_at", "expires_at", "ended_at"]
    list_filter = ["status", "category", "purpose", "window_days"]
    search_fields = ["seller__pseudonym"]
    date_hierarchy = "expires_at"
    list_select_related = ["seller"]
    show_full_result_count = False  # no COUNT of the whole (large) table beside a filtered one
    inlines = [ConsentEventInline]


@admin.register(ConsentEvent)
class ConsentEventAdmin(ReadOnlyAdmin):
    list_display = ["occurred_at", "kind", "seller", "grant", "receipt_id"]
    list_filter = ["kind", "grant__category", "grant__purpose"]
    search_fields = ["receipt_id", "seller__pseudonym"]
    date_hierarchy = "occurred_at"
    list_select_related = ["seller", "grant"]
    show_full_result_count = False  # no COUNT of the whole (large) table beside a filtered one
    exclude = ["receipt", "template"]
    readonly_fields = ["issued_receipt"]

    @admin.display(description=_("receipt as issued"))
    def issued_receipt(self, event: ConsentEvent) -> str:
        return format_html("<pre>{}</pre>", json.dumps(event.full_receipt, indent=2, ensure_ascii=False))


@admin.register(ReceiptTemplate)
class ReceiptTemplateAdmin(ReadOnlyAdmin):
    list_display = ["id", "digest", "created_at"]
    search_fields = ["digest"]


@admin.register(OrganisationVerificationEvent)
class OrganisationVerificationEventAdmin(ReadOnlyAdmin):
    list_display = ["occurred_at", "organisation", "from_status", "to_status", "actor"]
    list_filter = ["to_status"]
    search_fields = ["organisation__legal_name", "reason"]
    list_select_related = ["organisation", "actor"]


admin_queues.register(
    admin_queues.Queue(
        key="organisations-pending",
        label=_("Organisations awaiting verification"),
        count=lambda: BuyerOrganisation.objects.filter(
            verification_status=BuyerOrganisation.Verification.PENDING
        ).count(),
        url_name="admin:accounts_buyerorganisation_changelist",
        query="verification_status__exact=pending",
        order=10,
    )
)
