"""The one place that knows who may see and do what in a working group.

Every other app builds on these functions. Rules:

- A *valid* membership is active and, for guests, not past ``expires_at``;
  expiry is read at request time, so an expired guest loses access at once.
- Organisers (staff) see and manage every group.
- Within a request (``roles_read_once``), each person's valid memberships
  are read once and the rules below decide from that read.
- ``access_*`` raise Http404 for missing and forbidden alike; ``check_*`` raise
  PermissionDenied for someone who may see the object but not do the thing.
"""

import contextlib
from contextvars import ContextVar

from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied
from django.db.models import Q, QuerySet
from django.http import Http404
from django.utils.translation import gettext as _

from .models import JoinRequest, Membership, Role, WorkingGroup


def is_organiser(user) -> bool:
    """Organisers (active staff) see and manage every group."""
    return bool(user.is_authenticated and user.is_active and user.is_staff)


def valid_memberships(user) -> QuerySet[Membership]:
    """The user's memberships that grant access now."""
    if not user.is_authenticated or not user.is_active:
        return Membership.objects.none()
    return Membership.objects.valid().filter(user=user)


# Within a request: user id -> {group id: role} of the valid memberships
# (``roles``), so that a page's access checks read them once. None outside.
_request_roles: ContextVar[dict[int, dict[int, str]] | None] = ContextVar(
    "request_roles", default=None
)


@contextlib.contextmanager
def roles_read_once():
    """Within it, ``roles`` reads each person's valid memberships once and
    answers from that read until ``roles_changed``. For one request
    (``groups.middleware.RolesOncePerRequestMiddleware``): a socket, a task or a
    command asks the database each time, so that a membership that ends while
    a socket is open ends its access at once."""
    token = _request_roles.set({})
    try:
        yield
    finally:
        _request_roles.reset(token)


def roles_changed() -> None:
    """A membership was written: the next ``roles`` in this request reads
    again (``groups.services`` calls it with every membership write)."""
    read = _request_roles.get()
    if read is not None:
        read.clear()


def roles(user) -> dict[int, str]:
    """{group id: role} of the user's valid memberships (``valid_memberships``),
    read once per request (``roles_read_once``). Every rule below about one
    person's groups decides from it."""
    if not user.is_authenticated or not user.is_active:
        return {}
    read = _request_roles.get()
    if read is not None and user.pk in read:
        return read[user.pk]
    found = dict(valid_memberships(user).values_list("group_id", "role"))
    if read is not None:
        read[user.pk] = found
    return found


def in_groups_visible_to(user, field: str = "group") -> Q:
    """``groups_visible_to`` as a condition on the rows of another model
    (``field``: the path to their group, e.g. ``"thread__group"``): every
    group for organisers; the groups of the user's valid memberships,
    as their ids, otherwise. The other apps' rules filter with it."""
    if is_organiser(user):
        return Q(**{f"{field}__in": WorkingGroup.objects.all()})
    return Q(**{f"{field}__in": list(roles(user))})


def in_groups_moderated_by(user, field: str = "group") -> Q:
    """``groups_moderated_by`` as a condition (``in_groups_visible_to``)."""
    if is_organiser(user):
        return Q(**{f"{field}__in": WorkingGroup.objects.all()})
    moderating = [pk for pk, role in roles(user).items() if role == Role.MODERATOR]
    return Q(**{f"{field}__in": moderating})


def groups_visible_to(user) -> QuerySet[WorkingGroup]:
    """Every group for organisers; the groups of the user's valid memberships otherwise."""
    return WorkingGroup.objects.filter(in_groups_visible_to(user, "pk"))


def groups_moderated_by(user) -> QuerySet[WorkingGroup]:
    """Every group for organisers; the groups of the user's valid moderator
    memberships otherwise."""
    return WorkingGroup.objects.filter(in_groups_moderated_by(user, "pk"))


def membership_of(user, group: WorkingGroup) -> Membership | None:
    """The user's valid membership of ``group``, or None."""
    return valid_memberships(user).filter(group=group).first()


def is_member(user, group: WorkingGroup) -> bool:
    """Takes part in the group: any valid role (guests included) or organiser."""
    return is_organiser(user) or group.pk in roles(user)


def is_moderator(user, group: WorkingGroup) -> bool:
    """Moderates the group: a valid moderator membership, or an organiser."""
    return is_organiser(user) or roles(user).get(group.pk) == Role.MODERATOR


def share_a_group(viewer, user) -> bool:
    """Both have a valid membership of one group (organisers share every group)."""
    if is_organiser(viewer):
        return True
    return (
        valid_memberships(viewer)
        .filter(group__memberships__in=Membership.objects.valid().filter(user=user))
        .exists()
    )


def can_view_profile(viewer, user) -> bool:
    """A profile is visible to its owner, to organisers, and to people who
    share a working group with its owner. (``accounts.permissions`` applies
    this rule through ``settings.PROFILE_VISIBILITY_RULE``: accounts sits
    below groups.)"""
    if not viewer.is_authenticated:
        return False
    return viewer.pk == user.pk or share_a_group(viewer, user)


def access_group(user, slug: str) -> WorkingGroup:
    """The group ``slug`` if the user may see it; Http404 otherwise."""
    group = groups_visible_to(user).filter(slug=slug).first()
    if group is None:
        raise Http404
    return group


def access_group_as_moderator(user, slug: str) -> WorkingGroup:
    """The group if the user moderates it. Http404 for people who cannot see
    it, PermissionDenied for members who may see it but not moderate it."""
    group = access_group(user, slug)
    check_moderate_group(user, group)
    return group


def members_visible_to(user, group: WorkingGroup) -> QuerySet[Membership]:
    """The group's valid memberships, for someone who takes part in it; none otherwise."""
    if not is_member(user, group):
        return Membership.objects.none()
    return Membership.objects.valid().filter(group=group)


def groups_audience(group_ids, user_ids, *, moderators: bool = False) -> set[tuple[int, int]]:
    """``groups_visible_to`` (with ``moderators``: ``groups_moderated_by``)
    for many people and groups at once: the pairs (group id, user id) of
    ``group_ids`` and ``user_ids`` where that person sees (moderates) that
    group now, in two queries: active organisers see every group; other
    active people the groups of their valid (moderator) memberships."""
    group_ids, user_ids = list(group_ids), list(user_ids)
    if not group_ids or not user_ids:
        return set()
    people = get_user_model().objects.filter(pk__in=user_ids, is_active=True)
    organisers = list(people.filter(is_staff=True).values_list("pk", flat=True))
    memberships = Membership.objects.valid().filter(
        group_id__in=group_ids, user__in=people.filter(is_staff=False)
    )
    if moderators:
        memberships = memberships.filter(role=Role.MODERATOR)
    pairs = set(memberships.values_list("group_id", "user_id"))
    pairs.update((group_id, user_id) for group_id in group_ids for user_id in organisers)
    return pairs


def join_requests_audience(join_requests, user_ids) -> set[tuple[int, int]]:
    """``join_requests_visible_to`` for many people and requests at once: the
    pairs (request id, user id) where that person moderates the request's
    group now (``join_requests``: JoinRequest objects), in the queries of
    ``groups_audience``."""
    return objects_audience(
        [(request.pk, request.group_id) for request in join_requests], user_ids, moderators=True
    )


def memberships_audience(membership_ids, user_ids) -> set[tuple[int, int]]:
    """``memberships_visible_to`` for many people and memberships at once:
    the pairs (membership id, user id) of the valid memberships among
    ``membership_ids`` whose group that person sees now; one query and those
    of ``groups_audience``."""
    memberships = Membership.objects.valid().filter(pk__in=list(membership_ids))
    return objects_audience(memberships.values_list("pk", "group_id"), user_ids)


def objects_audience(objects, user_ids, *, moderators: bool = False) -> set[tuple[int, int]]:
    """For the other apps' objects that belong to a group and are seen by
    whoever sees it (moderates it, with ``moderators``): ``objects`` are
    (object id, group id) pairs; the answer, the pairs (object id, user id)
    where that person sees (moderates) that group now (``groups_audience``)."""
    objects = list(objects)
    if not objects:
        return set()
    people: dict[int, list[int]] = {}
    for group_id, user_id in groups_audience(
        {group_id for _pk, group_id in objects}, user_ids, moderators=moderators
    ):
        people.setdefault(group_id, []).append(user_id)
    return {(pk, user_id) for pk, group_id in objects for user_id in people.get(group_id, ())}


def memberships_visible_to(user) -> QuerySet[Membership]:
    """``members_visible_to`` for every group at once: the valid memberships
    of the groups the user sees (as one of their people, or as organiser)."""
    return Membership.objects.valid().filter(in_groups_visible_to(user))


def can_moderate_group(user, group: WorkingGroup) -> bool:
    """Invite, manage membership and roles, edit settings, read the audit log."""
    return is_moderator(user, group)


def check_moderate_group(user, group: WorkingGroup) -> None:
    if not can_moderate_group(user, group):
        raise PermissionDenied


def _membership_actions(user, membership: Membership) -> frozenset[str]:
    """What a moderator of the membership's group may do with it: change its
    role and remove it (not their own: one leaves a group instead, and one's
    own role is changed by another moderator or an organiser), and move a
    guest's access end."""
    if membership.user_id == user.pk:
        return frozenset()
    actions = {"change_role", "remove"}
    if membership.role == Role.GUEST:
        actions.add("extend")
    return frozenset(actions)


def membership_actions(user, group: WorkingGroup, memberships) -> dict[int, frozenset[str]]:
    """For the manage page: the actions ``user`` may take on each of
    ``memberships`` (of ``group``), by membership id: ``change_role``,
    ``extend``, ``remove`` (see ``can_change_role``, ``can_extend_membership``,
    ``can_remove_membership``). One query whatever the number of rows."""
    if not can_moderate_group(user, group):
        return {membership.pk: frozenset() for membership in memberships}
    return {membership.pk: _membership_actions(user, membership) for membership in memberships}


def _may(user, membership: Membership, action: str) -> bool:
    """``action`` (of ``_membership_actions``) on one membership."""
    return can_moderate_group(user, membership.group) and action in _membership_actions(
        user, membership
    )


def can_change_role(user, membership: Membership) -> bool:
    """Gives the membership another role: its group's moderators, not on
    their own membership."""
    return _may(user, membership, "change_role")


def check_change_role(user, membership: Membership) -> None:
    if not can_change_role(user, membership):
        raise PermissionDenied


def can_extend_membership(user, membership: Membership) -> bool:
    """Moves the access end of a guest: its group's moderators."""
    return _may(user, membership, "extend")


def can_remove_membership(user, membership: Membership) -> bool:
    """Removes someone from the group: its group's moderators, not themselves
    (they leave the group instead)."""
    return _may(user, membership, "remove")


def check_remove_membership(user, membership: Membership) -> None:
    if not can_remove_membership(user, membership):
        raise PermissionDenied


def can_leave_group(user, group: WorkingGroup) -> bool:
    return membership_of(user, group) is not None


def can_create_group(user) -> bool:
    return is_organiser(user)


def check_create_group(user) -> None:
    if not can_create_group(user):
        raise PermissionDenied


def join_requests_visible_to(user) -> QuerySet[JoinRequest]:
    """All join requests for organisers; those for the groups they moderate otherwise."""
    if is_organiser(user):
        return JoinRequest.objects.all()
    return JoinRequest.objects.filter(in_groups_moderated_by(user))


def can_handle_join_requests(user) -> bool:
    """Has a join-request queue at all: organisers and moderators of some group."""
    return is_organiser(user) or groups_moderated_by(user).exists()


def can_handle_join_request(user, join_request: JoinRequest) -> bool:
    return is_moderator(user, join_request.group)


def check_handle_join_request(user, join_request: JoinRequest) -> None:
    if not can_handle_join_request(user, join_request):
        raise PermissionDenied


def access_join_request(user, pk: int) -> JoinRequest:
    join_request = join_requests_visible_to(user).select_related("group").filter(pk=pk).first()
    if join_request is None:
        raise Http404
    return join_request


def needs_mfa_to_moderate(user) -> bool:
    """The one gate for moderator and organiser actions: True if ``user``
    must turn on two-factor authentication first. Callers have established
    that the user acts as a moderator or organiser (not as an author of
    their own post or document); views apply it with
    ``groups.decorators.mfa_gate``, permission functions of actions that
    also arrive over the socket with ``can_act_as_moderator`` (it reads
    the database)."""
    from allauth.mfa.utils import is_mfa_enabled

    return not (user.is_authenticated and is_mfa_enabled(user))


class MFARequired(PermissionDenied):
    """Refused because a moderator or organiser has not turned on two-factor
    authentication (``needs_mfa_to_moderate``); turning it on lifts it."""

    def __init__(self, message: str | None = None):
        super().__init__(
            message
            or _(
                "Moderators and organisers protect their accounts with two-factor "
                "authentication. Please turn it on to continue."
            )
        )


def can_act_as_moderator(user, group: WorkingGroup) -> bool:
    """Takes a moderator action in ``group`` now: moderates it
    (``is_moderator``) and has two-factor authentication
    (``needs_mfa_to_moderate``). For actions that reach a service without a
    view's ``mfa_gate`` in front (socket frames)."""
    return is_moderator(user, group) and not needs_mfa_to_moderate(user)


def check_act_as_moderator(user, group: WorkingGroup) -> None:
    """PermissionDenied unless ``user`` moderates ``group``; MFARequired (a
    PermissionDenied) for a moderator without two-factor authentication."""
    if not is_moderator(user, group):
        raise PermissionDenied
    if needs_mfa_to_moderate(user):
        raise MFARequired


def group_stream_access(user, key: str):
    """Socket access to the group's own stream (``group:<id>``): its people,
    until their access ends."""
    from core.streams import Access

    group = groups_visible_to(user).filter(pk=key).first()
    if group is None:
        return None
    membership = membership_of(user, group)
    return Access(group_id=group.pk, expires_at=membership.expires_at if membership else None)
