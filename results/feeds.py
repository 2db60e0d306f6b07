"""Atom feeds of published versions: the whole site's and each group's
(Django's syndication framework). Public: they list only what is published."""

from django.conf import settings
from django.contrib.syndication.views import Feed
from django.shortcuts import get_object_or_404
from django.urls import reverse
from django.utils.feedgenerator import Atom1Feed
from django.utils.translation import gettext as _

from groups.models import WorkingGroup

from . import selectors


class SiteResultsFeed(Feed):
    feed_type = Atom1Feed

    def title(self):
        return _("Published results")

    def subtitle(self):
        return _("Interim results and recommendations of the working groups")

    def link(self):
        return reverse("results:site_list")

    def items(self):
        return selectors.feed_versions()

    def item_title(self, version):
        return _("%(title)s (version %(number)d)") % {
            "title": version.title,
            "number": version.number,
        }

    def item_description(self, version):
        parts = []
        if version.result.withdrawn_at is not None:
            parts.append(
                _("This result was withdrawn: %(reason)s")
                % {"reason": version.result.withdrawal_reason}
            )
        if version.summary:
            parts.append(version.summary)
        parts.append(_("What changed: %(summary)s") % {"summary": version.change_summary})
        return "\n\n".join(parts)

    def item_link(self, version):
        return version.get_absolute_url()

    def item_guid(self, version):
        return settings.SITE_URL + version.get_absolute_url()

    def item_pubdate(self, version):
        return version.published_at

    def item_updateddate(self, version):
        return version.result.withdrawn_at or version.published_at

    def item_author_name(self, version):
        return version.result.group.name

    def item_categories(self, version):
        return [version.get_kind_display()]


class GroupResultsFeed(SiteResultsFeed):
    def get_object(self, request, group):
        return get_object_or_404(WorkingGroup, slug=group)

    def title(self, group):
        return _("Results of %(group)s") % {"group": group.name}

    def subtitle(self, group):
        return _("Interim results and recommendations of the working group %(group)s") % {
            "group": group.name
        }

    def link(self, group):
        return reverse("results:list", kwargs={"group": group.slug})

    def items(self, group):
        return selectors.feed_versions(group)
