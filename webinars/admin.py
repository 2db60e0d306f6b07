from django.contrib import admin

from .models import Presenter, Webinar


class PresenterInline(admin.TabularInline):
    model = Presenter
    extra = 0


@admin.register(Webinar)
class WebinarAdmin(admin.ModelAdmin):
    list_display = ["meeting", "capacity", "published_at"]
    inlines = [PresenterInline]
    raw_id_fields = ["meeting"]
