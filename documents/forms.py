"""Forms only parse what people send; the checks that matter (size, type from
the content, permissions, duplicates) live in ``files`` and ``services``."""

from django import forms
from django.db.models.functions import Lower
from django.utils.translation import gettext_lazy as _

from .models import Folder

# The file input names its limit (rendered next to it) and its errors.
FILE_WIDGET = forms.ClearableFileInput(attrs={"aria-describedby": "id_file_helptext id_file_error"})

# Names sort without regard to case, on every database.
SORTS = {
    "name": (Lower("title"), "pk"),
    "-name": (Lower("title").desc(), "-pk"),
    "date": ("updated_at", "pk"),
    "-date": ("-updated_at", "-pk"),
}


def folder_paths(folders) -> dict[int, str]:
    """Each folder's full path ("Reports / 2025"), from one list of a group's folders."""
    by_pk = {folder.pk: folder for folder in folders}
    paths = {}
    for folder in folders:
        names, seen, current = [], set(), folder
        while current is not None and current.pk not in seen:
            seen.add(current.pk)
            names.append(current.name)
            current = by_pk.get(current.parent_id)
        paths[folder.pk] = " / ".join(reversed(names))
    return paths


class FolderChoiceField(forms.ModelChoiceField):
    """One of the group's folders, shown with its path; empty: the top level."""

    def __init__(self, group, **kwargs):
        folders = list(Folder.objects.filter(group=group))
        self.paths = folder_paths(folders)
        super().__init__(
            queryset=Folder.objects.filter(group=group),
            required=False,
            empty_label=_("(top level)"),
            **kwargs,
        )
        # The same choices, sorted by path, without a second query.
        ordered = sorted(folders, key=lambda folder: self.paths[folder.pk].casefold())
        self.choices = [("", self.empty_label)] + [
            (folder.pk, self.paths[folder.pk]) for folder in ordered
        ]

    def label_from_instance(self, obj):
        return self.paths.get(obj.pk, obj.name)


class UploadForm(forms.Form):
    file = forms.FileField(label=_("File"), widget=FILE_WIDGET)
    title = forms.CharField(
        label=_("Title"),
        max_length=200,
        required=False,
        help_text=_("Leave empty to use the file name."),
    )
    description = forms.CharField(
        label=_("Description"),
        max_length=5000,
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
    )

    def __init__(self, *args, group, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["folder"] = FolderChoiceField(group, label=_("Folder"))


class VersionForm(forms.Form):
    file = forms.FileField(label=_("File"), widget=FILE_WIDGET)
    change_note = forms.CharField(
        label=_("What changed"),
        max_length=500,
        required=False,
        help_text=_("A few words for the others, e.g. “comments from the session included”."),
    )


class DocumentEditForm(forms.Form):
    title = forms.CharField(label=_("Title"), max_length=200)
    description = forms.CharField(
        label=_("Description"),
        max_length=5000,
        required=False,
        widget=forms.Textarea(attrs={"rows": 4}),
    )

    def __init__(self, *args, group, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["folder"] = FolderChoiceField(group, label=_("Folder"))


class FolderForm(forms.Form):
    name = forms.CharField(label=_("Name"), max_length=200)

    def __init__(self, *args, group, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["parent"] = FolderChoiceField(group, label=_("Inside"))


class ListForm(forms.Form):
    """The list's filter and sort order (GET); bad values fall back to the defaults."""

    q = forms.CharField(label=_("Filter by title"), max_length=200, required=False)
    sort = forms.ChoiceField(
        label=_("Sort by"),
        required=False,
        choices=[
            ("name", _("Name (A–Z)")),
            ("-name", _("Name (Z–A)")),
            ("-date", _("Newest first")),
            ("date", _("Oldest first")),
        ],
    )

    def filters(self) -> tuple[str, str]:
        if not self.is_valid():
            return "", "name"
        return self.cleaned_data["q"].strip(), self.cleaned_data["sort"] or "name"
