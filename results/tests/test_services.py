import pytest
from django.core.exceptions import PermissionDenied, ValidationError

from discussions import services as discussions
from groups.models import AuditEntry
from groups.permissions import MFARequired
from results import services
from results.models import Kind, Result, ResultVersion

pytestmark = pytest.mark.django_db


def test_result_create_makes_a_draft_with_a_unique_slug(group, moderator, draft):
    again = services.result_create(
        actor=moderator, group=group, kind=Kind.INTERIM, title=draft.title, body="x"
    )
    assert draft.slug == "secret-draft-on-labour-pathways"
    assert again.slug == "secret-draft-on-labour-pathways-2"
    assert draft.latest_number == 0 and not draft.is_published
    assert AuditEntry.objects.filter(group=group, action="result.created").count() == 2


@pytest.mark.parametrize("title", ["new", "feed", "!!!"])
def test_result_create_avoids_reserved_and_empty_slugs(group, moderator, title):
    result = services.result_create(actor=moderator, group=group, kind=Kind.INTERIM, title=title)
    assert result.slug not in {"new", "feed", ""}


def test_result_create_refused_if_member(group, member):
    with pytest.raises(PermissionDenied):
        services.result_create(actor=member, group=group, kind=Kind.INTERIM, title="T")
    assert not Result.objects.exists()


def test_result_create_refused_if_moderator_has_no_mfa(group, make_user):
    from tests.fixtures.people import join

    user = make_user("nomfa@example.org")
    join(user, group, "moderator")
    with pytest.raises(MFARequired):
        services.result_create(actor=user, group=group, kind=Kind.INTERIM, title="T")
    assert not Result.objects.exists()


def test_result_create_refused_if_group_archived(group, moderator):
    group.archived = True
    group.save()
    with pytest.raises(PermissionDenied):
        services.result_create(actor=moderator, group=group, kind=Kind.INTERIM, title="T")


@pytest.mark.parametrize(
    ("kind", "title", "summary", "code"),
    [
        ("opinion", "T", "", "kind"),
        ("interim", "   ", "", "title"),
        ("interim", "T", "x" * 301, "summary"),
    ],
)
def test_result_create_refused_if_bad_fields(group, moderator, kind, title, summary, code):
    with pytest.raises(ValidationError) as error:
        services.result_create(
            actor=moderator, group=group, kind=kind, title=title, summary=summary
        )
    assert error.value.code == code
    assert not Result.objects.exists()


def test_result_publish_freezes_a_numbered_version(draft, moderator, public_changes):
    version = services.result_publish(actor=moderator, result=draft, change_summary=" First ")
    assert (version.number, version.change_summary, version.body) == (1, "First", draft.body)
    services.result_update(
        actor=moderator, result=draft, kind=Kind.INTERIM, title="Changed", body="Other text"
    )
    version.refresh_from_db()
    assert (version.title, version.body) == (
        "Secret draft on labour pathways",
        "Line one.\n\nLine two.",
    )
    second = services.result_publish(actor=moderator, result=draft, change_summary="Second")
    draft.refresh_from_db()
    assert second.number == 2 and draft.latest_number == 2 and draft.published_at is not None
    assert public_changes == [draft.group_id, draft.group_id]


@pytest.mark.parametrize("summary", ["", "   ", None])
def test_result_publish_refused_if_no_change_summary(draft, moderator, summary, public_changes):
    with pytest.raises(ValidationError) as error:
        services.result_publish(actor=moderator, result=draft, change_summary=summary)
    assert error.value.code == "change_summary"
    assert not ResultVersion.objects.exists() and public_changes == []


def test_result_publish_refused_if_text_empty(group, moderator):
    result = services.result_create(actor=moderator, group=group, kind=Kind.INTERIM, title="T")
    with pytest.raises(ValidationError) as error:
        services.result_publish(actor=moderator, result=result, change_summary="x")
    assert error.value.code == "body"


def test_result_publish_refused_if_nothing_changed(result_v1, moderator):
    with pytest.raises(ValidationError) as error:
        services.result_publish(actor=moderator, result=result_v1, change_summary="Again")
    assert error.value.code == "unchanged"
    assert result_v1.versions.count() == 1


def test_result_publish_refused_if_member(draft, member):
    with pytest.raises(PermissionDenied):
        services.result_publish(actor=member, result=draft, change_summary="x")
    assert not ResultVersion.objects.exists()


def test_result_withdraw_keeps_versions_and_refuses_new_ones(result_v1, moderator, public_changes):
    services.result_withdraw(actor=moderator, result=result_v1, reason="Data error.")
    result_v1.refresh_from_db()
    assert result_v1.is_withdrawn and result_v1.withdrawal_reason == "Data error."
    assert result_v1.versions.count() == 1
    assert public_changes == [result_v1.group_id]
    with pytest.raises(ValidationError):
        services.result_update(
            actor=moderator, result=result_v1, kind="interim", title="T", body="x"
        )
    with pytest.raises(ValidationError):
        services.result_publish(actor=moderator, result=result_v1, change_summary="x")
    with pytest.raises(ValidationError):
        services.result_withdraw(actor=moderator, result=result_v1, reason="Again")


def test_result_withdraw_refused_if_no_reason_or_draft(draft, moderator):
    with pytest.raises(ValidationError) as error:
        services.result_withdraw(actor=moderator, result=draft, reason=" ")
    assert error.value.code == "reason"
    with pytest.raises(ValidationError) as error:
        services.result_withdraw(actor=moderator, result=draft, reason="Why")
    assert error.value.code == "draft"


def test_result_delete_only_for_drafts(draft, moderator, group):
    services.result_delete(actor=moderator, result=draft)
    assert not Result.objects.exists()
    result = services.result_create(
        actor=moderator, group=group, kind="interim", title="P", body="x"
    )
    services.result_publish(actor=moderator, result=result, change_summary="x")
    with pytest.raises(ValidationError):
        services.result_delete(actor=moderator, result=result)
    assert Result.objects.filter(pk=result.pk).exists()


def test_sources_only_of_the_group_and_visible(draft, moderator, member, other_group, other_member):
    mine = discussions.thread_create(actor=member, group=draft.group, title="Ours", body="x")
    theirs = discussions.thread_create(
        actor=other_member, group=other_group, title="Theirs", body="y"
    )
    services.result_update(
        actor=moderator, result=draft, kind="interim", title="T", sources={"thread": [mine.pk]}
    )
    assert list(draft.sources.values_list("kind", "object_id")) == [("thread", mine.pk)]
    with pytest.raises(ValidationError) as error:
        services.result_update(
            actor=moderator,
            result=draft,
            kind="interim",
            title="T",
            sources={"thread": [theirs.pk]},
        )
    assert error.value.code == "sources"
    with pytest.raises(ValidationError):
        services.result_update(
            actor=moderator, result=draft, kind="interim", title="T", sources={"poll": [1]}
        )
    assert list(draft.sources.values_list("object_id", flat=True)) == [mine.pk]
    services.result_update(
        actor=moderator, result=draft, kind="interim", title="T", sources={"thread": []}
    )
    assert not draft.sources.exists()
