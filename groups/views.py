import copy

from allauth.account.adapter import get_adapter as get_account_adapter
from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_not_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.module_loading import import_string
from django.utils.translation import get_language
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from accounts.models import User
from core import ratelimit

from . import permissions, selectors, services
from .decorators import MFA_RESUME, group_view, mfa_gate, moderator_view, safe_local_url
from .forms import (
    BulkInviteForm,
    DecideForm,
    ExtendForm,
    GroupCreateForm,
    GroupSettingsForm,
    InviteForm,
    JoinRequestForm,
    RoleForm,
)
from .models import GroupVisit, Invitation, Membership, Role


def _moderating_needs_mfa() -> str:
    return _(
        "Moderating needs two-factor authentication: before your first moderator "
        "action you will be asked to turn it on, with an authenticator app on your phone."
    )


def _error_text(error: ValidationError) -> str:
    return " ".join(error.messages)


def dashboard(request):
    """The home page: the person's groups, each with what is new in it. What
    is new comes from the apps above groups, through the function that
    ``settings.DASHBOARD_NEWS`` names (``user, groups -> {group id: news}``)."""
    groups = selectors.dashboard_groups(request.user)
    news_rule = getattr(settings, "DASHBOARD_NEWS", None)
    news = import_string(news_rule)(request.user, groups) if news_rule and groups else {}
    for group in groups:
        group.news = news.get(group.pk)
    return render(
        request,
        "groups/dashboard.html",
        {
            "groups": groups,
            "can_create": permissions.can_create_group(request.user),
            "has_join_requests": permissions.can_handle_join_requests(request.user),
            # Said up front, before a first moderator action leads there.
            "needs_mfa_notice": (
                any(group.my_role == Role.MODERATOR for group in groups)
                or permissions.is_organiser(request.user)
            )
            and permissions.needs_mfa_to_moderate(request.user),
        },
    )


@require_GET
def mfa_resume(request):
    """Back to the page of the moderator action that led to turning on
    two-factor authentication (remembered by ``mfa_gate``), once it is on.
    A POST is never replayed: its page is shown, to do it again from there."""
    if permissions.needs_mfa_to_moderate(request.user):
        return redirect("mfa_index")
    url = safe_local_url(request, request.session.pop(MFA_RESUME, "") or "")
    if url is None:
        return redirect("groups:dashboard")
    messages.success(request, _("Two-factor authentication is on: you can continue here."))
    return redirect(url)


def group_create(request):
    permissions.check_create_group(request.user)
    if refused := mfa_gate(request):
        return refused
    form = GroupCreateForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        group = services.group_create(actor=request.user, **form.cleaned_data)
        messages.success(request, _("The group was created."))
        return redirect(group)
    return render(request, "groups/group_create.html", {"form": form})


@group_view
def group_detail(request, group):
    membership = permissions.membership_of(request.user, group)
    # What the home page counts as new in this group is what comes after now.
    GroupVisit.objects.mark(request.user, group)
    return render(
        request,
        "groups/group_detail.html",
        {
            "group": group,
            "membership": membership,
            "is_moderator": permissions.is_moderator(request.user, group),
            "member_count": permissions.members_visible_to(request.user, group).count(),
        },
    )


@group_view
def member_list(request, group):
    return render(
        request,
        "groups/member_list.html",
        {
            "group": group,
            "memberships": selectors.member_directory(request.user, group),
            "is_moderator": permissions.is_moderator(request.user, group),
        },
    )


@moderator_view
def group_settings(request, group):
    # The form validates a copy: a ModelForm writes the posted values into its
    # instance, and group_update saves what differs from the group as it is.
    form = GroupSettingsForm(request.POST or None, instance=copy.copy(group))
    if request.method == "POST" and form.is_valid():
        services.group_update(actor=request.user, group=group, data=form.cleaned_data)
        messages.success(request, _("The settings were saved."))
        return redirect(group)
    return render(request, "groups/group_settings.html", {"group": group, "form": form})


def _manage_context(request, group, **extra):
    memberships = list(
        Membership.objects.valid()
        .filter(group=group)
        .select_related("user")
        .order_by("role", "user__display_name")
    )
    actions = permissions.membership_actions(request.user, group, memberships)
    return {
        "group": group,
        # Each row with what the moderator may do with it (permissions decide).
        "rows": [(membership, actions[membership.pk]) for membership in memberships],
        "invitations": group.invitations.pending().select_related("invited_by"),
        "roles": Role.choices,
        "invite_form": InviteForm(initial={"language": get_language()}),
        **extra,
    }


@moderator_view
def manage(request, group):
    return render(request, "groups/manage.html", _manage_context(request, group))


@moderator_view
def invite(request, group):
    form = InviteForm(request.POST or None, initial={"language": get_language()})
    if request.method == "POST" and form.is_valid():
        try:
            services.invitation_send(actor=request.user, group=group, **form.cleaned_data)
        except ValidationError as error:
            form.add_error("email", _error_text(error))
        else:
            messages.success(
                request,
                _("An invitation was sent to %(email)s.") % {"email": form.cleaned_data["email"]},
            )
            return redirect("groups:manage", slug=group.slug)
    return render(
        request,
        "groups/manage.html",
        _manage_context(request, group, invite_form=form),
        status=200 if request.method == "GET" else 400,
    )


@moderator_view
def invite_many(request, group):
    form = BulkInviteForm(request.POST or None, initial={"language": get_language()})
    results = None
    if request.method == "POST" and form.is_valid():
        results = services.invitation_send_many(
            actor=request.user,
            group=group,
            emails_text=form.cleaned_data["emails"],
            role=form.cleaned_data["role"],
            access_until=form.cleaned_data["access_until"],
            language=form.cleaned_data["language"],
        )
        if not results:
            form.add_error("emails", _("Enter at least one address."))
    return render(
        request, "groups/invite_many.html", {"group": group, "form": form, "results": results}
    )


def _membership_in(group, pk) -> Membership:
    return get_object_or_404(Membership.objects.valid().select_related("user"), group=group, pk=pk)


@moderator_view
@require_POST
def membership_role(request, group, pk):
    membership = _membership_in(group, pk)
    form = RoleForm(request.POST)
    if not form.is_valid():
        for errors in form.errors.values():
            messages.error(request, " ".join(errors))
        return redirect("groups:manage", slug=group.slug)
    try:
        services.membership_change_role(
            actor=request.user,
            membership=membership,
            role=form.cleaned_data["role"],
            expires_at=form.cleaned_data["access_until"],
        )
    except ValidationError as error:
        messages.error(request, _error_text(error))
    else:
        messages.success(
            request, _("The role of %(name)s was changed.") % {"name": membership.user}
        )
    return redirect("groups:manage", slug=group.slug)


@moderator_view
@require_POST
def membership_extend(request, group, pk):
    membership = _membership_in(group, pk)
    form = ExtendForm(request.POST)
    if not form.is_valid():
        for errors in form.errors.values():
            messages.error(request, " ".join(errors))
        return redirect("groups:manage", slug=group.slug)
    try:
        services.membership_extend(
            actor=request.user, membership=membership, expires_at=form.cleaned_data["access_until"]
        )
    except ValidationError as error:
        messages.error(request, _error_text(error))
    else:
        messages.success(
            request, _("The access of %(name)s was extended.") % {"name": membership.user}
        )
    return redirect("groups:manage", slug=group.slug)


@moderator_view
def membership_remove(request, group, pk):
    membership = _membership_in(group, pk)
    permissions.check_remove_membership(request.user, membership)
    if request.method == "POST":
        try:
            services.membership_revoke(actor=request.user, membership=membership)
        except ValidationError as error:
            messages.error(request, _error_text(error))
        else:
            messages.success(
                request, _("%(name)s was removed from the group.") % {"name": membership.user}
            )
        return redirect("groups:manage", slug=group.slug)
    return render(
        request, "groups/membership_remove.html", {"group": group, "membership": membership}
    )


def _invitation_in(group, pk) -> Invitation:
    return get_object_or_404(Invitation, group=group, pk=pk)


@moderator_view
@require_POST
def invitation_resend(request, group, pk):
    invitation = _invitation_in(group, pk)
    try:
        services.invitation_resend(actor=request.user, invitation=invitation)
    except ValidationError as error:
        messages.error(request, _error_text(error))
    else:
        messages.success(
            request, _("A new link was sent to %(email)s.") % {"email": invitation.email}
        )
    return redirect("groups:manage", slug=group.slug)


@moderator_view
@require_POST
def invitation_revoke(request, group, pk):
    invitation = _invitation_in(group, pk)
    try:
        services.invitation_revoke(actor=request.user, invitation=invitation)
    except ValidationError as error:
        messages.error(request, _error_text(error))
    else:
        messages.success(
            request, _("The invitation to %(email)s was revoked.") % {"email": invitation.email}
        )
    return redirect("groups:manage", slug=group.slug)


@group_view
def leave(request, group):
    if not permissions.can_leave_group(request.user, group):
        raise PermissionDenied
    if request.method == "POST":
        try:
            services.membership_leave(actor=request.user, group=group)
        except ValidationError as error:
            messages.error(request, _error_text(error))
            return redirect(group)
        messages.success(request, _("You left %(group)s.") % {"group": group})
        return redirect("groups:dashboard")
    return render(request, "groups/leave.html", {"group": group})


@moderator_view
def audit_log(request, group):
    page = Paginator(selectors.group_audit_log(group), 50).get_page(request.GET.get("page"))
    return render(request, "groups/audit_log.html", {"group": group, "page": page})


# --- Invitations ----------------------------------------------------------------


@login_not_required
def invitation(request, token):
    """The link in the invitation email. Shows why it cannot be used, leads a
    new person to sign up (email fixed and treated as verified), lets an
    existing user accept with one click."""
    try:
        invitation = services.invitation_for_token(token)
    except services.InvitationUnusable as unusable:
        status = 404 if unusable.reason == "unknown" else 410
        return render(
            request, "groups/invitation_unusable.html", {"reason": unusable.reason}, status=status
        )
    user = request.user
    context = {"invitation": invitation, "group": invitation.group, "token": token}
    if user.is_authenticated:
        if not services.email_matches(user, invitation.email):
            return render(request, "groups/invitation_wrong_user.html", context, status=403)
        if request.method == "POST":
            try:
                services.invitation_accept(user=user, token=token)
            except services.InvitationUnusable as unusable:
                return render(
                    request,
                    "groups/invitation_unusable.html",
                    {"reason": unusable.reason},
                    status=410,
                )
            messages.success(request, _("Welcome to %(group)s!") % {"group": invitation.group})
            return redirect(invitation.group)
        return render(request, "groups/invitation_accept.html", context)
    if User.objects.filter(email__iexact=invitation.email).exists():
        context["login_url"] = f"{reverse('account_login')}?next={request.path}"
        return render(request, "groups/invitation_sign_in.html", context)
    # A new person: sign up through allauth with this address, already verified.
    request.session[services.INVITATION_SESSION_KEY] = token
    get_account_adapter(request).stash_verified_email(request, invitation.email)
    if invitation.role == Role.MODERATOR:
        # Said before the account exists, as on the other invitation pages.
        messages.info(request, _moderating_needs_mfa())
    return redirect("account_signup")


# --- Join requests ---------------------------------------------------------------


def _client_ip(request) -> str:
    # allauth's adapter knows the proxy setting (ALLAUTH_TRUSTED_PROXY_COUNT).
    return get_account_adapter(request).get_client_ip(request)


@login_not_required
def join(request):
    form = JoinRequestForm(request.POST or None, initial={"group": request.GET.get("group")})
    if request.method == "POST":
        if not ratelimit.hit(f"join:{_client_ip(request)}", settings.JOIN_REQUEST_RATE_LIMIT):
            return render(
                request, "groups/join.html", {"form": form, "rate_limited": True}, status=429
            )
        if form.is_valid():
            data = form.cleaned_data
            if not data["website"]:  # the honeypot stays empty for people
                try:
                    services.join_request_create(
                        name=data["name"],
                        email=data["email"],
                        affiliation=data["affiliation"],
                        sector=data["sector"],
                        motivation=data["motivation"],
                        group=data["group"],
                        language=get_language(),
                    )
                except ValidationError as error:
                    form.add_error("group", _error_text(error))
                    return render(request, "groups/join.html", {"form": form}, status=400)
            return redirect("groups:join_thanks")
        return render(request, "groups/join.html", {"form": form}, status=400)
    return render(request, "groups/join.html", {"form": form})


@login_not_required
def join_thanks(request):
    return render(request, "groups/join_thanks.html")


def join_requests(request):
    if not permissions.can_handle_join_requests(request.user):
        raise Http404
    # Applicants' names, addresses and motivations: moderators' data, behind
    # the moderators' gate as the detail page is.
    if refused := mfa_gate(request):
        return refused
    queue = permissions.join_requests_visible_to(request.user).select_related("group", "handled_by")
    status = request.GET.get("status", "pending")
    if status in {"pending", "accepted", "declined"}:
        queue = queue.filter(status=status)
    page = Paginator(queue, 30).get_page(request.GET.get("page"))
    return render(request, "groups/join_requests.html", {"page": page, "status": status})


def join_request_detail(request, pk):
    join_request = permissions.access_join_request(request.user, pk)
    if refused := mfa_gate(request):
        return refused
    form = DecideForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            services.join_request_decide(
                actor=request.user,
                join_request=join_request,
                accept=form.cleaned_data["decision"] == "accept",
                message=form.cleaned_data["message"],
            )
        except ValidationError as error:
            messages.error(request, _error_text(error))
        else:
            messages.success(request, _("The request was handled."))
        return redirect("groups:join_requests")
    return render(
        request, "groups/join_request_detail.html", {"join_request": join_request, "form": form}
    )
