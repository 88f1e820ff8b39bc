"""Members of the organisation and their roles: owners invite, change roles and remove."""

from __future__ import annotations

from django.contrib import messages
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from accounts import selectors, services
from core.errors import ServiceError
from marketplace.console.access import OWNER, console_required
from marketplace.console.auth import send_invitation
from marketplace.console.forms import InviteForm, RoleForm, add_console_error, console_error_message


def _members(request, *, invite_form=None):
    members = list(selectors.organisation_members(organisation=request.user.organisation))
    rows = [
        (member, RoleForm(initial={"role": member.organisation_role}, prefix=f"m{member.pk}"))
        for member in members
    ]
    return render(request, "console/members.html", {"rows": rows, "invite_form": invite_form or InviteForm()})


@require_GET
@console_required(OWNER)
def members(request):
    return _members(request)


@require_POST
@console_required(OWNER)
def member_invite(request):
    form = InviteForm(request.POST)
    if form.is_valid():
        organisation = request.user.organisation
        try:
            token = services.organisation_invitation_token(
                organisation=organisation,
                email=form.cleaned_data["email"],
                organisation_role=form.cleaned_data["role"],
                invited_by=request.user,
            )
        except ServiceError as exc:
            add_console_error(form, exc)
        else:
            send_invitation(
                email=form.cleaned_data["email"],
                token=token,
                organisation=organisation,
                invited_by=request.user,
            )
            messages.success(
                request, _("Invitation sent to %(email)s.") % {"email": form.cleaned_data["email"]}
            )
            return redirect("console-members")
    return _members(request, invite_form=form)


@require_POST
@console_required(OWNER)
def member_role(request, member_id: int):
    form = RoleForm(request.POST, prefix=f"m{member_id}")
    if not form.is_valid():
        messages.error(request, _("Choose owner, developer or finance."))
        return redirect("console-members")
    try:
        services.organisation_member_set_role(
            organisation=request.user.organisation,
            member_id=member_id,
            organisation_role=form.cleaned_data["role"],
            actor=request.user,
        )
    except ServiceError as exc:
        messages.error(request, console_error_message(exc))
    else:
        messages.success(request, _("Role changed."))
    return redirect("console-members")


@require_POST
@console_required(OWNER)
def member_remove(request, member_id: int):
    try:
        member = services.organisation_member_remove(
            organisation=request.user.organisation, member_id=member_id, actor=request.user
        )
    except ServiceError as exc:
        messages.error(request, console_error_message(exc))
    else:
        messages.success(request, _("%(email)s was removed.") % {"email": member.email})
    if not request.user.is_active or request.user.pk == member_id:
        return redirect("console-login")
    return redirect("console-members")
