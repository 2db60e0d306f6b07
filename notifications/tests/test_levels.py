"""The page of a person's level for a group, and the group default for its moderators."""

from django.urls import reverse

from discussions import services as discussions
from notifications.models import GroupDefaultLevel, GroupLevel, Level, ThreadLevel
from tests.fixtures.people import join


def url(group) -> str:
    return reverse("notifications:group_level", args=[group.slug])


def test_group_level_page_sets_the_members_own_level(client, group, member):
    client.force_login(member)
    page = client.get(url(group))
    assert page.status_code == 200
    assert 'name="default"' not in page.content.decode()
    response = client.post(url(group), {"level": Level.MUTED})
    assert response.status_code == 302
    assert GroupLevel.objects.get(user=member, group=group).level == Level.MUTED


def test_group_level_page_refuses_an_unknown_level(client, group, member):
    client.force_login(member)
    assert client.post(url(group), {"level": "loud"}).status_code == 400
    assert not GroupLevel.objects.exists()


def test_group_level_page_is_404_for_an_outsider(client, group, outsider):
    client.force_login(outsider)
    assert client.get(url(group)).status_code == 404
    assert client.post(url(group), {"level": Level.MUTED}).status_code == 404
    assert not GroupLevel.objects.exists()


def test_group_default_is_set_by_a_moderator(client, group, moderator):
    client.force_login(moderator)
    assert 'name="default"' in client.get(url(group)).content.decode()
    response = client.post(url(group), {"default": "1", "level": Level.WATCHING})
    assert response.status_code == 302
    assert GroupDefaultLevel.objects.get(group=group).level == Level.WATCHING


def test_group_default_is_refused_to_a_member(client, group, member):
    client.force_login(member)
    response = client.post(url(group), {"default": "1", "level": Level.WATCHING})
    assert response.status_code == 403
    assert not GroupDefaultLevel.objects.exists()


def test_group_default_needs_two_factor_authentication(client, group, make_user):
    moderator = make_user("nomfa@example.org", display_name="No Mfa")
    join(moderator, group, role="moderator")
    client.force_login(moderator)
    response = client.post(url(group), {"default": "1", "level": Level.WATCHING})
    assert response.status_code == 302
    assert response.url == reverse("mfa_index")
    assert not GroupDefaultLevel.objects.exists()


def thread_url(thread) -> str:
    return reverse("notifications:thread_level", args=[thread.pk])


def test_thread_level_page_shows_watching_for_the_starter_and_sets_muted(client, thread, member):
    client.force_login(member)
    page = client.get(thread_url(thread))
    assert page.status_code == 200
    assert page.context["form"].initial == {"level": Level.WATCHING}
    response = client.post(thread_url(thread), {"level": Level.MUTED})
    assert response.status_code == 302
    assert ThreadLevel.objects.get(user=member, thread=thread).level == Level.MUTED
    assert client.get(thread_url(thread)).context["form"].initial == {"level": Level.MUTED}


def test_thread_level_page_falls_back_to_the_group_level(client, thread, group, guest):
    GroupLevel.objects.create(user=guest, group=group, level=Level.MENTIONS)
    client.force_login(guest)
    assert client.get(thread_url(thread)).context["form"].initial == {"level": Level.MENTIONS}


def test_thread_level_page_is_404_for_who_cannot_see_the_thread(
    client, thread, outsider, member, moderator
):
    client.force_login(outsider)
    assert client.get(thread_url(thread)).status_code == 404
    assert client.post(thread_url(thread), {"level": Level.MUTED}).status_code == 404
    discussions.thread_hide(actor=moderator, thread=thread)
    client.force_login(member)
    assert client.post(thread_url(thread), {"level": Level.MUTED}).status_code == 404
    assert not ThreadLevel.objects.exists()


def test_group_and_thread_pages_link_their_level_pages(client, group, thread, member):
    client.force_login(member)
    group_page = client.get(group.get_absolute_url()).text
    assert reverse("notifications:group_level", kwargs={"slug": group.slug}) in group_page
    thread_page = client.get(thread.get_absolute_url()).text
    assert reverse("notifications:thread_level", kwargs={"pk": thread.pk}) in thread_page
